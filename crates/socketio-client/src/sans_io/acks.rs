//! Pending acknowledgements with deadlines.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// The acknowledgements a namespace socket waits for: ack id → waiter, with an optional
/// deadline each.
///
/// Ids are allocated here, counting from 0 as the JS client does. An entry leaves the table
/// exactly once: answered ([`AckTable::take`]), expired ([`AckTable::expire`]) or drained
/// ([`AckTable::drain`]), so a reply that never comes never leaks an entry.
#[derive(Debug)]
pub struct AckTable<W> {
    next_id: u64,
    entries: HashMap<u64, (Option<Instant>, W)>,
    deadlines: BTreeSet<(Instant, u64)>,
}

impl<W> Default for AckTable<W> {
    fn default() -> Self {
        Self {
            next_id: 0,
            entries: HashMap::new(),
            deadlines: BTreeSet::new(),
        }
    }
}

impl<W> AckTable<W> {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a waiter under a fresh id and returns the id.
    pub fn insert(&mut self, deadline: Option<Instant>, waiter: W) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        if let Some(d) = deadline {
            self.deadlines.insert((d, id));
        }
        self.entries.insert(id, (deadline, waiter));
        id
    }

    /// Removes and returns the waiter of `id`; `None` for an unknown (or already expired) id.
    pub fn take(&mut self, id: u64) -> Option<W> {
        let (deadline, waiter) = self.entries.remove(&id)?;
        if let Some(d) = deadline {
            self.deadlines.remove(&(d, id));
        }
        Some(waiter)
    }

    /// Whether `id` is pending.
    #[must_use]
    pub fn contains(&self, id: u64) -> bool {
        self.entries.contains_key(&id)
    }

    /// Number of pending entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The earliest deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(d, _)| *d)
    }

    /// Removes every entry whose deadline is at or before `now`, earliest first.
    pub fn expire(&mut self, now: Instant) -> Vec<(u64, W)> {
        let mut out = Vec::new();
        while let Some(&(d, id)) = self.deadlines.first() {
            if d > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some((_, w)) = self.entries.remove(&id) {
                out.push((id, w));
            }
        }
        out
    }

    /// Removes the entries for which `keep` is false, in id order.
    pub fn drain_where(&mut self, mut remove: impl FnMut(u64, &W) -> bool) -> Vec<(u64, W)> {
        let mut ids: Vec<u64> = self
            .entries
            .iter()
            .filter(|(id, (_, w))| remove(**id, w))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|id| self.take(id).map(|w| (id, w)))
            .collect()
    }

    /// Removes every entry, in id order.
    pub fn drain(&mut self) -> Vec<(u64, W)> {
        self.drain_where(|_, _| true)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ids_count_from_zero_and_entries_leave_once() {
        let t0 = Instant::now();
        let mut t = AckTable::new();
        assert_eq!(t.insert(None, "a"), 0);
        assert_eq!(t.insert(Some(t0 + Duration::from_secs(1)), "b"), 1);
        assert_eq!(t.take(0), Some("a"));
        assert_eq!(t.take(0), None, "a second ack for the same id is unknown");
        assert_eq!(t.take(7), None);
        assert_eq!(t.take(1), Some("b"));
        assert!(t.is_empty());
        assert_eq!(t.poll_timeout(), None, "answered entries leave no deadline");
    }

    #[test]
    fn expiry_frees_entries_in_deadline_order() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut t = AckTable::new();
        let a = t.insert(Some(t0 + ms(300)), 'a');
        let b = t.insert(Some(t0 + ms(100)), 'b');
        let c = t.insert(None, 'c');
        assert_eq!(t.poll_timeout(), Some(t0 + ms(100)));
        assert!(t.expire(t0 + ms(99)).is_empty());
        assert_eq!(t.expire(t0 + ms(100)), [(b, 'b')]);
        assert_eq!(t.poll_timeout(), Some(t0 + ms(300)));
        assert_eq!(t.expire(t0 + ms(1000)), [(a, 'a')]);
        assert_eq!(t.take(a), None, "a late ack finds nothing");
        assert_eq!(t.len(), 1);
        assert_eq!(t.drain(), [(c, 'c')]);
        assert!(t.is_empty());
    }
}
