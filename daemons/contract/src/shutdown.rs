//! A one-shot stop signal shared by a daemon's loop, its contract server and
//! its signal handlers.

use std::sync::Arc;

use tokio::sync::watch;

/// A one-shot, clonable stop signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            tx: Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal; idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether it has fired.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Completes once the signal has fired.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so this only ends when the value is true.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}
