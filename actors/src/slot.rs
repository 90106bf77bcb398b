//! A stable address for an actor that may be restarted.
//!
//! A restarted actor gets a new `ActorRef`; anything holding the old one
//! would talk to a dead actor. Holders keep a `Slot` instead, which the actor
//! fills in when it starts and empties when it stops.

use std::sync::{Arc, RwLock};

use ractor::{ActorRef, Message};

/// A shared, replaceable reference to the current incarnation of an actor.
pub struct Slot<M: Message> {
    inner: Arc<RwLock<Option<ActorRef<M>>>>,
}

impl<M: Message> Clone for Slot<M> {
    fn clone(&self) -> Self {
        Slot {
            inner: self.inner.clone(),
        }
    }
}

impl<M: Message> Default for Slot<M> {
    fn default() -> Self {
        Slot {
            inner: Arc::new(RwLock::new(None)),
        }
    }
}

impl<M: Message> Slot<M> {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the actor's current incarnation.
    pub fn set(&self, actor: ActorRef<M>) {
        if let Ok(mut guard) = self.inner.write() {
            *guard = Some(actor);
        }
    }

    /// Forgets `actor` if it is still the current incarnation.
    pub fn clear(&self, actor: &ActorRef<M>) {
        if let Ok(mut guard) = self.inner.write()
            && guard.as_ref().is_some_and(|a| a.get_id() == actor.get_id())
        {
            *guard = None;
        }
    }

    /// The current incarnation, if the actor is running.
    pub fn get(&self) -> Option<ActorRef<M>> {
        self.inner.read().ok().and_then(|g| g.clone())
    }

    /// Sends a message if the actor is running; false if it is not.
    pub fn cast(&self, message: M) -> bool {
        self.get().is_some_and(|a| a.cast(message).is_ok())
    }
}
