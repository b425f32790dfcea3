//! A timer queue of certificate events: only the earliest event is ever looked at, so an
//! idle daemon costs nothing however many certificates it manages.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::SystemTime;

/// What is due for a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// Check the deployed certificate and renew it if due.
    Renew,
    /// Ask the CA for an updated renewal window (ARI).
    RefreshWindow,
}

/// Events by due time; scheduling an event again replaces the earlier one.
#[derive(Debug, Default)]
pub struct Queue {
    heap: BinaryHeap<Reverse<(SystemTime, u64, String, Event)>>,
    current: HashMap<(String, Event), u64>,
    sequence: u64,
}

impl Queue {
    /// Schedules `event` for `name` at `at`, replacing any earlier schedule of it.
    pub fn schedule(&mut self, name: &str, event: Event, at: SystemTime) {
        self.sequence += 1;
        self.current
            .insert((name.to_string(), event), self.sequence);
        self.heap
            .push(Reverse((at, self.sequence, name.to_string(), event)));
    }

    /// Drops every event of `name`.
    pub fn forget(&mut self, name: &str) {
        self.current.retain(|(n, _), _| n != name);
    }

    /// Drops every event.
    pub fn clear(&mut self) {
        self.heap.clear();
        self.current.clear();
    }

    /// When the earliest live event is due.
    pub fn next_due(&mut self) -> Option<SystemTime> {
        self.drop_stale();
        self.heap.peek().map(|Reverse((at, ..))| *at)
    }

    /// Removes and returns the earliest event if it is due at `now`.
    pub fn pop_due(&mut self, now: SystemTime) -> Option<(String, Event)> {
        self.drop_stale();
        match self.heap.peek() {
            Some(Reverse((at, ..))) if *at <= now => {}
            _ => return None,
        }
        let Reverse((_, _, name, event)) = self.heap.pop()?;
        self.current.remove(&(name.clone(), event));
        Some((name, event))
    }

    fn drop_stale(&mut self) {
        while let Some(Reverse((_, sequence, name, event))) = self.heap.peek() {
            if self.current.get(&(name.clone(), *event)) == Some(sequence) {
                return;
            }
            self.heap.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn events_come_out_in_time_order_and_only_when_due() {
        let mut queue = Queue::default();
        queue.schedule("b", Event::Renew, at(20));
        queue.schedule("a", Event::Renew, at(10));
        queue.schedule("a", Event::RefreshWindow, at(15));
        assert_eq!(queue.next_due(), Some(at(10)));
        assert_eq!(queue.pop_due(at(9)), None);
        assert_eq!(queue.pop_due(at(30)), Some(("a".into(), Event::Renew)));
        assert_eq!(
            queue.pop_due(at(30)),
            Some(("a".into(), Event::RefreshWindow))
        );
        assert_eq!(queue.pop_due(at(30)), Some(("b".into(), Event::Renew)));
        assert_eq!(queue.pop_due(at(30)), None);
    }

    #[test]
    fn rescheduling_replaces_and_forgetting_removes() {
        let mut queue = Queue::default();
        queue.schedule("a", Event::Renew, at(10));
        queue.schedule("a", Event::Renew, at(50));
        queue.schedule("b", Event::Renew, at(20));
        assert_eq!(queue.next_due(), Some(at(20)));
        queue.forget("b");
        assert_eq!(queue.next_due(), Some(at(50)));
        assert_eq!(queue.pop_due(at(60)), Some(("a".into(), Event::Renew)));
        assert_eq!(queue.next_due(), None);
    }
}
