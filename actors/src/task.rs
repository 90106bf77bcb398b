//! Tasks tied to the actor that spawned them.
//!
//! ractor does not run `post_stop` when an actor panics, so a task that is
//! only aborted there would outlive a crashed actor (and a restarted one
//! would start a second copy). Holding a `Task` in the actor's state aborts
//! the task whenever the state is dropped, however the actor ended.

use tokio::task::JoinHandle;

/// A spawned task aborted when this handle is dropped.
pub struct Task(JoinHandle<()>);

impl Task {
    /// Spawns `future` on the current runtime.
    pub fn spawn(future: impl Future<Output = ()> + Send + 'static) -> Task {
        Task(tokio::spawn(future))
    }

    /// Takes ownership of an already spawned task.
    pub fn adopt(handle: JoinHandle<()>) -> Task {
        Task(handle)
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}
