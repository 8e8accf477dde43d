//! One operator's queue: what the client sent that this operator's socket
//! has not written yet. Bounded in messages and in bytes: when an operator
//! cannot keep up, its queue overflows and the operator is dropped
//! ([`crate::Close::TooSlow`]); the client and the other operators never wait
//! for it, and the node's memory stays bounded whatever it does. Messages are
//! [`Bytes`], shared by every operator's queue rather than copied.

use std::collections::VecDeque;

use bytes::Bytes;

/// A relayed message, as the client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Binary(Bytes),
    /// UTF-8, checked when it was received.
    Text(Bytes),
}

impl Message {
    pub fn len(&self) -> usize {
        match self {
            Self::Binary(b) | Self::Text(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The queue overflowed: the operator is too slow and must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<Message>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    overflowed: bool,
}

impl Outbox {
    /// A queue holding at most `max_messages` messages and `max_bytes` bytes
    /// (a single message larger than `max_bytes` is still taken into an empty
    /// queue: the message size limit is the socket's, not the queue's).
    pub fn new(max_messages: usize, max_bytes: usize) -> Self {
        Self { queue: VecDeque::new(), bytes: 0, max_messages: max_messages.max(1), max_bytes, overflowed: false }
    }

    /// Queues `m`, or overflows. Once overflowed the queue is emptied and
    /// refuses everything: the operator is being dropped.
    pub fn push(&mut self, m: Message) -> Result<(), Overflow> {
        if self.overflowed {
            return Err(Overflow);
        }
        let fits =
            self.queue.is_empty() || (self.queue.len() < self.max_messages && self.bytes + m.len() <= self.max_bytes);
        if !fits {
            self.overflowed = true;
            self.queue.clear();
            self.bytes = 0;
            return Err(Overflow);
        }
        self.bytes += m.len();
        self.queue.push_back(m);
        Ok(())
    }

    /// The oldest message, for the socket to write.
    pub fn pop(&mut self) -> Option<Message> {
        let m = self.queue.pop_front()?;
        self.bytes -= m.len();
        Some(m)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn has_overflowed(&self) -> bool {
        self.overflowed
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn bin(n: usize) -> Message {
        Message::Binary(Bytes::from(vec![7u8; n]))
    }

    #[test]
    fn keeps_order_and_counts_bytes() {
        let mut o = Outbox::new(10, 100);
        for n in [10, 20, 30] {
            o.push(bin(n)).unwrap();
        }
        assert_eq!((o.len(), o.bytes()), (3, 60));
        assert_eq!(o.pop().map(|m| m.len()), Some(10));
        assert_eq!(o.pop().map(|m| m.len()), Some(20));
        assert_eq!(o.bytes(), 30);
    }

    #[test]
    fn a_slow_reader_overflows_by_bytes_or_by_count_and_stays_out() {
        let mut by_bytes = Outbox::new(100, 50);
        by_bytes.push(bin(30)).unwrap();
        assert_eq!(by_bytes.push(bin(30)), Err(Overflow));
        assert!(by_bytes.has_overflowed() && by_bytes.is_empty() && by_bytes.bytes() == 0, "memory given back");
        assert_eq!(by_bytes.push(bin(1)), Err(Overflow), "dropped for good");

        let mut by_count = Outbox::new(2, 1 << 20);
        by_count.push(bin(1)).unwrap();
        by_count.push(bin(1)).unwrap();
        assert_eq!(by_count.push(bin(1)), Err(Overflow));

        // Positive control: a reader keeping up never overflows.
        let mut keeping_up = Outbox::new(2, 50);
        for _ in 0..1000 {
            keeping_up.push(bin(30)).unwrap();
            keeping_up.pop().unwrap();
        }
        assert!(!keeping_up.has_overflowed());
    }

    #[test]
    fn one_message_larger_than_the_byte_bound_still_goes_to_an_idle_reader() {
        let mut o = Outbox::new(4, 10);
        o.push(bin(64)).unwrap();
        assert_eq!(o.push(bin(1)), Err(Overflow), "but nothing after it until it is written");
    }

    proptest! {
        /// Whatever the pattern of writes and reads: order kept, bytes
        /// accounted exactly, the bounds never exceeded but by one lone
        /// message, and an overflow is final.
        #[test]
        fn bounded_and_ordered(ops in proptest::collection::vec((any::<bool>(), 0usize..300), 0..400)) {
            let (max_messages, max_bytes) = (8, 1000);
            let mut o = Outbox::new(max_messages, max_bytes);
            let mut model: VecDeque<usize> = VecDeque::new();
            let mut next_id = 0usize;
            for (write, size) in ops {
                if write {
                    // A message carries its id in its first bytes, to check order.
                    let mut body = next_id.to_be_bytes().to_vec();
                    body.resize(body.len() + size, 0);
                    let m = Message::Binary(Bytes::from(body));
                    if o.push(m).is_ok() {
                        model.push_back(next_id);
                    } else {
                        prop_assert!(o.has_overflowed());
                        model.clear();
                    }
                    next_id += 1;
                } else if let Some(Message::Binary(b)) = o.pop() {
                    let id = usize::from_be_bytes(b[..8].try_into().unwrap());
                    prop_assert_eq!(Some(id), model.pop_front());
                }
                prop_assert!(o.len() <= max_messages);
                prop_assert!(o.bytes() <= max_bytes || o.len() == 1);
                prop_assert_eq!(o.len(), model.len());
                if o.has_overflowed() {
                    prop_assert!(o.is_empty());
                }
            }
        }
    }
}
