//! [`Attachments`]: the binary attachments of a payload or an encoded packet, the usual single
//! one kept without a heap allocation.

use std::fmt;
use std::mem::ManuallyDrop;

use bytes::Bytes;

/// The binary attachments of a packet, in placeholder `num` order.
///
/// Most binary packets carry one attachment (one `Buffer` argument); a `Vec` would cost an
/// allocation and a free per packet for it. One attachment is kept inline instead. The type
/// is no larger than the `Bytes` it holds (the `Vec` variant fits beside `Bytes`'s non-null
/// vtable pointer, which carries the tag): eight bytes more than a `Vec`, which every
/// payload pays, with or without attachments (see ARCHITECTURE.md's Decisions).
///
/// Most payloads have none, and dropping them is on every packet's path: the `Vec` is dropped
/// by hand ([`Drop`] below), which returns at once when it never allocated, where the
/// compiler's drop glue would loop over its (zero) elements first.
#[derive(Clone)]
pub(crate) enum Attachments {
    /// Exactly one attachment.
    One(Bytes),
    /// Any other number (none, which allocates nothing, or several). Dropped by [`Drop`].
    Many(ManuallyDrop<Vec<Bytes>>),
}

impl Drop for Attachments {
    #[inline]
    fn drop(&mut self) {
        if let Self::Many(v) = self
            && v.capacity() != 0
        {
            drop_vec(std::mem::take(&mut **v));
        }
        // What is left in `Many` is an empty `Vec` that never allocated: nothing to free.
    }
}

/// Drops the attachments of a `Many` that allocated (out of line: the rare case).
#[inline(never)]
fn drop_vec(v: Vec<Bytes>) {
    drop(v);
}

impl Attachments {
    /// No attachments.
    pub(crate) const fn new() -> Self {
        Self::Many(ManuallyDrop::new(Vec::new()))
    }

    /// Room for `n` attachments, allocated only when `n` is more than one.
    #[inline]
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self::Many(ManuallyDrop::new(if n > 1 {
            Vec::with_capacity(n)
        } else {
            Vec::new()
        }))
    }

    /// Appends an attachment.
    #[inline]
    pub(crate) fn push(&mut self, data: Bytes) {
        if let Self::Many(v) = self
            && v.capacity() == 0
        {
            // The `Vec` replaced never allocated: nothing to free.
            *self = Self::One(data);
        } else {
            self.push_more(data);
        }
    }

    /// Appends an attachment to one or more (out of line: the first one is the usual case).
    #[inline(never)]
    fn push_more(&mut self, data: Bytes) {
        match self {
            Self::Many(v) => v.push(data),
            Self::One(first) => {
                // Room for a few more: cheaper than growing from two.
                let mut v = Vec::with_capacity(4);
                v.push(std::mem::take(first));
                v.push(data);
                *self = Self::Many(ManuallyDrop::new(v));
            }
        }
    }

    /// The attachments as a slice.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[Bytes] {
        match self {
            Self::One(b) => std::slice::from_ref(b),
            Self::Many(v) => v.as_slice(),
        }
    }

    /// How many there are.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::One(_) => 1,
            Self::Many(v) => v.len(),
        }
    }

    /// Whether there are none.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The attachments as a `Vec` (allocated here for a single one).
    pub(crate) fn into_vec(mut self) -> Vec<Bytes> {
        match &mut self {
            Self::One(b) => vec![std::mem::take(b)],
            Self::Many(v) => std::mem::take(&mut **v),
        }
    }
}

impl Default for Attachments {
    fn default() -> Self {
        Self::new()
    }
}

impl From<Vec<Bytes>> for Attachments {
    /// Keeps the `Vec` as it is (its allocation is already paid for).
    fn from(v: Vec<Bytes>) -> Self {
        Self::Many(ManuallyDrop::new(v))
    }
}

impl From<&[Bytes]> for Attachments {
    /// Shares every buffer; a single one is kept inline.
    fn from(s: &[Bytes]) -> Self {
        match s {
            [one] => Self::One(one.clone()),
            _ => Self::Many(ManuallyDrop::new(s.to_vec())),
        }
    }
}

impl PartialEq for Attachments {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Attachments {}

impl std::hash::Hash for Attachments {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for Attachments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(n: u8) -> Bytes {
        Bytes::from(vec![n; usize::from(n)])
    }

    #[test]
    fn one_is_inline_and_no_larger_than_bytes() {
        assert_eq!(size_of::<Attachments>(), size_of::<Bytes>());
        let mut a = Attachments::with_capacity(1);
        a.push(b(1));
        assert!(matches!(a, Attachments::One(_)));
        assert_eq!(a.as_slice(), &[b(1)]);
        assert_eq!(a.len(), 1);
        assert_eq!(a.into_vec(), vec![b(1)]);
    }

    #[test]
    fn pushes_keep_the_order_whatever_the_capacity() {
        for cap in 0..5 {
            let mut a = Attachments::with_capacity(cap);
            assert!(a.is_empty());
            for n in 1..=4 {
                a.push(b(n));
                let want: Vec<Bytes> = (1..=n).map(b).collect();
                assert_eq!(a.as_slice(), &want[..], "capacity {cap}, {n} pushed");
                assert_eq!(a.len(), usize::from(n));
            }
            assert_eq!(a.clone().into_vec(), (1..=4).map(b).collect::<Vec<_>>());
        }
    }

    #[test]
    fn equality_and_hash_see_the_attachments_not_the_representation() {
        use std::hash::{BuildHasher, RandomState};
        let one = Attachments::from(&[b(3)][..]);
        let many = Attachments::from(vec![b(3)]);
        assert!(matches!(one, Attachments::One(_)));
        assert!(matches!(many, Attachments::Many(_)));
        assert_eq!(one, many);
        let s = RandomState::new();
        assert_eq!(s.hash_one(&one), s.hash_one(&many));
        assert_eq!(format!("{one:?}"), format!("{many:?}"));
    }
}
