//! The client's messages to every operator of a session: one [`Outbox`] per
//! operator socket, the stream's header kept for late joiners.

use std::collections::BTreeMap;

use crate::outbox::{Message, Outbox};

#[derive(Debug)]
pub struct Fanout {
    outboxes: BTreeMap<u64, Outbox>,
    header: Option<Message>,
    max_messages: usize,
    max_bytes: usize,
}

impl Fanout {
    /// Each operator's queue holds at most `max_messages` and `max_bytes`.
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        Self { outboxes: BTreeMap::new(), header: None, max_messages, max_bytes }
    }

    /// Operator socket `conn` joins; the latest header, if any, is the first
    /// thing it gets, so it can decode what follows at once.
    pub fn join(&mut self, conn: u64) {
        let mut outbox = Outbox::new(self.max_messages, self.max_bytes);
        if let Some(h) = &self.header {
            // An empty queue always takes one message.
            let _ = outbox.push(h.clone());
        }
        self.outboxes.insert(conn, outbox);
    }

    pub fn leave(&mut self, conn: u64) {
        self.outboxes.remove(&conn);
    }

    /// Queues `m` for every operator; `header`: it is the stream's header,
    /// kept for whoever joins later. Returns the operators whose queue
    /// overflowed: they are too slow and must be dropped (they are removed).
    pub fn publish(&mut self, m: Message, header: bool) -> Vec<u64> {
        if header {
            self.header = Some(m.clone());
        }
        let mut slow = Vec::new();
        for (conn, outbox) in &mut self.outboxes {
            if outbox.push(m.clone()).is_err() {
                slow.push(*conn);
            }
        }
        for conn in &slow {
            self.outboxes.remove(conn);
        }
        slow
    }

    /// The next message for operator socket `conn` to write.
    pub fn pop(&mut self, conn: u64) -> Option<Message> {
        self.outboxes.get_mut(&conn)?.pop()
    }

    /// Whether `conn` is still an operator here (not dropped, not gone).
    pub fn has(&self, conn: u64) -> bool {
        self.outboxes.contains_key(&conn)
    }

    /// Bytes queued for all operators together (shared bytes counted once per queue).
    pub fn queued_bytes(&self) -> usize {
        self.outboxes.values().map(Outbox::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn text(s: &'static str) -> Message {
        Message::Text(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn every_operator_gets_every_message_in_order() {
        let mut f = Fanout::new(100, 1 << 20);
        f.join(1);
        f.join(2);
        for s in ["a", "b", "c"] {
            assert!(f.publish(text(s), false).is_empty());
        }
        for conn in [1, 2] {
            let got: Vec<_> = std::iter::from_fn(|| f.pop(conn)).collect();
            assert_eq!(got, [text("a"), text("b"), text("c")]);
        }
    }

    #[test]
    fn a_late_joiner_starts_with_the_latest_header() {
        let mut f = Fanout::new(100, 1 << 20);
        f.publish(text("header 1"), true);
        f.publish(text("media 1"), false);
        f.publish(text("header 2"), true);
        f.publish(text("media 2"), false);
        f.join(9);
        f.publish(text("media 3"), false);
        let got: Vec<_> = std::iter::from_fn(|| f.pop(9)).collect();
        assert_eq!(got, [text("header 2"), text("media 3")]);
        // Positive control: without a header, a joiner starts with what comes next.
        let mut bare = Fanout::new(100, 1 << 20);
        bare.publish(text("media 1"), false);
        bare.join(1);
        assert_eq!(bare.pop(1), None);
    }

    #[test]
    fn a_stalled_operator_is_dropped_and_the_others_go_on() {
        let mut f = Fanout::new(4, 1 << 20);
        f.join(1); // reads
        f.join(2); // stalled
        let mut dropped = Vec::new();
        for _ in 0..10 {
            dropped.extend(f.publish(text("x"), false));
            assert!(f.pop(1).is_some());
        }
        assert_eq!(dropped, [2]);
        assert!(f.has(1) && !f.has(2));
        assert_eq!(f.queued_bytes(), 0, "the stalled operator's queue is gone");
    }
}
