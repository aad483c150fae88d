//! The event bus: stored domain events are published here and read by every WebSocket
//! (and, later, webhooks and statistics). In-process by default; the [`Bus`] trait is the
//! seam for a networked bus when Denwa runs on several nodes.

use std::sync::Arc;

use denwa_core::Event;
use tokio::sync::broadcast;

/// Publishes stored events to subscribers.
pub trait Bus: Send + Sync + 'static {
    /// Publishes an event that is already stored. Never blocks; slow subscribers lag.
    fn publish(&self, event: Event);
    /// A new subscription receiving every event published from now on.
    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>>;
}

/// A bus inside one process (tokio broadcast).
#[derive(Debug, Clone)]
pub struct InProcessBus {
    tx: broadcast::Sender<Arc<Event>>,
}

impl InProcessBus {
    /// A bus that keeps up to `capacity` events for subscribers that fall behind.
    pub fn new(capacity: usize) -> InProcessBus {
        let (tx, _) = broadcast::channel(capacity);
        InProcessBus { tx }
    }
}

impl Bus for InProcessBus {
    fn publish(&self, event: Event) {
        // No subscriber is not an error: the event is already stored.
        let _ = self.tx.send(Arc::new(event));
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}
