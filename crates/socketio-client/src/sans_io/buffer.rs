//! The bounded queue of packets emitted while a namespace socket is not connected.

use std::collections::VecDeque;

/// Packets emitted while disconnected, flushed in order on connect (the JS `sendBuffer`).
///
/// Policy: the queue holds at most `capacity` packets; when it is full a new packet is refused
/// (handed back) and the ones already queued are kept, so the application learns at once that
/// it is producing faster than the connection comes back. Volatile packets never enter it.
#[derive(Debug)]
pub struct OfflineBuffer<T> {
    capacity: usize,
    queue: VecDeque<T>,
}

impl<T> OfflineBuffer<T> {
    /// An empty buffer holding at most `capacity` packets.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            queue: VecDeque::new(),
        }
    }

    /// Queues `item`; hands it back when the buffer is full.
    ///
    /// # Errors
    ///
    /// The item itself when `capacity` items are already queued.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.queue.len() >= self.capacity {
            return Err(item);
        }
        self.queue.push_back(item);
        Ok(())
    }

    /// Takes every queued packet, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.queue.drain(..)
    }

    /// Removes the packets matching `pred` (an ack that timed out while buffered).
    pub fn remove_where(&mut self, mut pred: impl FnMut(&T) -> bool) -> usize {
        let before = self.queue.len();
        self.queue.retain(|t| !pred(t));
        before - self.queue.len()
    }

    /// Whether `pred` holds for a queued packet.
    pub fn any(&self, pred: impl FnMut(&T) -> bool) -> bool {
        self.queue.iter().any(pred)
    }

    /// Number of queued packets.
    #[must_use]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_fifo_refuses_the_newest() {
        let mut b = OfflineBuffer::new(2);
        assert_eq!(b.push(1), Ok(()));
        assert_eq!(b.push(2), Ok(()));
        assert_eq!(b.push(3), Err(3));
        assert_eq!(b.len(), 2);
        assert_eq!(b.remove_where(|x| *x == 1), 1);
        assert_eq!(b.push(4), Ok(()));
        assert_eq!(b.drain().collect::<Vec<_>>(), [2, 4]);
        assert!(b.is_empty());
    }
}
