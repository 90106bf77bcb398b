//! The event bus: typed events on dotted topics, persisted to `events.jsonl`
//! and delivered to subscribers whose topic glob matches.
//!
//! Events that matter to a person (an interface went down, a daemon was
//! restarted, a config was applied) are persisted; high-rate internal
//! signals (every kernel notification) are only delivered. Subscriptions
//! and the log live outside the actor, so a restarted bus carries on with
//! the same subscribers and sequence numbers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use routerd_contract::{Event, EventLog, NewEvent, TopicGlob};
use tracing::Instrument;

use crate::slot::Slot;
use crate::status::now_rfc3339;
use crate::trace::{Traced, message_span, start_span};

/// Called for each matching event; returns false once the subscriber is gone.
pub type Sink = Box<dyn Fn(&Event) -> bool + Send + Sync>;

struct Subscription {
    id: u64,
    glob: TopicGlob,
    sink: Sink,
}

/// A handle to publish on and subscribe to the bus.
#[derive(Clone)]
pub struct Bus {
    slot: Slot<BusMsg>,
    shared: Arc<Shared>,
}

struct Shared {
    log: Arc<EventLog>,
    subscriptions: Mutex<Vec<Subscription>>,
    next_id: AtomicU64,
}

impl Shared {
    fn deliver(&self, event: &Event) {
        let Ok(mut subs) = self.subscriptions.lock() else {
            return;
        };
        subs.retain(|s| !s.glob.matches(&event.topic) || (s.sink)(event));
    }

    fn persist(&self, event: NewEvent) {
        match self.log.append(event) {
            Ok(event) => self.deliver(&event),
            Err(e) => tracing::error!(error = %e, "cannot persist an event"),
        }
    }

    fn persist_all(&self, events: Vec<NewEvent>) {
        match self.log.append_batch(events) {
            Ok(events) => events.iter().for_each(|e| self.deliver(e)),
            Err(e) => tracing::error!(error = %e, "cannot persist events"),
        }
    }

    fn forward(&self, event: Event) {
        match self.log.append_foreign(event) {
            Ok(event) => self.deliver(&event),
            Err(e) => tracing::error!(error = %e, "cannot persist a forwarded event"),
        }
    }
}

impl Bus {
    /// A bus writing to `log`; start its actor with [`EventBus`].
    pub fn new(log: Arc<EventLog>) -> Bus {
        Bus {
            slot: Slot::new(),
            shared: Arc::new(Shared {
                log,
                subscriptions: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    /// The persisted log (for the events API).
    pub fn log(&self) -> &Arc<EventLog> {
        &self.shared.log
    }

    /// Publishes and persists an event.
    pub fn publish(&self, event: NewEvent) {
        if let Err(BusMsg::Publish(event)) = self.send(BusMsg::Publish(event)).map_err(|m| *m) {
            // The bus actor is restarting: keep the event anyway.
            self.shared.persist(event);
        }
    }

    /// Publishes and persists several events with one disk flush.
    pub fn publish_all(&self, events: Vec<NewEvent>) {
        if events.is_empty() {
            return;
        }
        if let Err(BusMsg::PublishAll(events)) =
            self.send(BusMsg::PublishAll(events)).map_err(|m| *m)
        {
            self.shared.persist_all(events);
        }
    }

    /// Delivers an event without persisting it.
    pub fn signal(&self, event: NewEvent) {
        if let Err(BusMsg::Signal(event)) = self.send(BusMsg::Signal(event)).map_err(|m| *m) {
            self.shared.deliver(&transient(event));
        }
    }

    /// Re-publishes an event from a managed daemon (persisted, new seq).
    pub fn forward(&self, event: Event) {
        if let Err(BusMsg::Forward(event)) = self.send(BusMsg::Forward(event)).map_err(|m| *m) {
            self.shared.forward(event);
        }
    }

    /// Subscribes `sink` to topics matching `glob`.
    pub fn subscribe(&self, glob: TopicGlob, sink: Sink) -> u64 {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut subs) = self.shared.subscriptions.lock() {
            subs.push(Subscription { id, glob, sink });
        }
        id
    }

    /// Removes a subscription.
    pub fn unsubscribe(&self, id: u64) {
        if let Ok(mut subs) = self.shared.subscriptions.lock() {
            subs.retain(|s| s.id != id);
        }
    }

    /// Sends to the actor; gives the message back if it is not running.
    fn send(&self, msg: BusMsg) -> Result<(), Box<BusMsg>> {
        match self.slot.get() {
            Some(actor) => actor.cast(msg).map_err(|e| match e {
                ractor::MessagingErr::SendErr(m) => Box::new(m),
                _ => Box::new(BusMsg::Noop),
            }),
            None => Err(Box::new(msg)),
        }
    }
}

fn transient(event: NewEvent) -> Event {
    Event {
        seq: 0,
        time: now_rfc3339(),
        source: "routerd".into(),
        topic: event.topic,
        resource: event.resource,
        reason: event.reason,
        message: event.message,
        attributes: event.attributes,
    }
}

/// Messages of the bus actor.
pub enum BusMsg {
    /// Persist and deliver.
    Publish(NewEvent),
    /// Persist (one flush) and deliver.
    PublishAll(Vec<NewEvent>),
    /// Deliver only.
    Signal(NewEvent),
    /// Persist a daemon's event and deliver it.
    Forward(Event),
    /// Nothing (placeholder for a message that could not be recovered).
    Noop,
}

impl Traced for BusMsg {
    fn name(&self) -> &'static str {
        match self {
            BusMsg::Publish(_) => "Publish",
            BusMsg::PublishAll(_) => "PublishAll",
            BusMsg::Signal(_) => "Signal",
            BusMsg::Forward(_) => "Forward",
            BusMsg::Noop => "Noop",
        }
    }

    fn resource(&self) -> Option<String> {
        match self {
            BusMsg::Publish(e) | BusMsg::Signal(e) => e.resource.clone(),
            BusMsg::Forward(e) => e.resource.clone(),
            BusMsg::PublishAll(_) | BusMsg::Noop => None,
        }
    }
}

/// The bus actor: serialises appends and deliveries.
pub struct EventBus;

impl Actor for EventBus {
    type Msg = BusMsg;
    type State = Bus;
    type Arguments = Bus;

    async fn pre_start(
        &self,
        myself: ActorRef<BusMsg>,
        bus: Bus,
    ) -> Result<Bus, ActorProcessingErr> {
        let _span = start_span("EventBus").entered();
        bus.slot.set(myself);
        Ok(bus)
    }

    async fn post_stop(
        &self,
        myself: ActorRef<BusMsg>,
        bus: &mut Bus,
    ) -> Result<(), ActorProcessingErr> {
        bus.slot.clear(&myself);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<BusMsg>,
        msg: BusMsg,
        bus: &mut Bus,
    ) -> Result<(), ActorProcessingErr> {
        let span = message_span("EventBus", &msg);
        async move {
            match msg {
                BusMsg::Publish(event) => bus.shared.persist(event),
                BusMsg::PublishAll(events) => bus.shared.persist_all(events),
                BusMsg::Signal(event) => bus.shared.deliver(&transient(event)),
                BusMsg::Forward(event) => bus.shared.forward(event),
                BusMsg::Noop => {}
            }
        }
        .instrument(span)
        .await;
        Ok(())
    }
}
