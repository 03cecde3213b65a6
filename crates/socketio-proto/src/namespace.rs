//! [`Namespace`] and [`AckId`]: the two small values of a packet header.

use std::fmt;
use std::ops::Deref;

use engineio_proto::Utf8Bytes;
use smol_str::SmolStr;

use crate::error::NamespaceError;

/// A validated namespace name: starts with `/`, at most [`Namespace::MAX_LEN`] bytes, and
/// contains none of `,` (it ends the namespace on the wire), `#` (adapters use it as a channel
/// separator), `?` (a query string, only meaningful in protocol v4) or ASCII control
/// characters.
///
/// The main namespace is `/`; the encoder leaves it out of the header, as the reference does.
///
/// A name of up to [`Namespace::INLINE_LEN`] bytes (nearly every name in use) is held in the
/// value itself, and `/` is a static text: building, cloning and dropping them touch no
/// reference count and keep no buffer alive. A longer name shares the buffer it was read from.
///
/// ```
/// use socketio_proto::Namespace;
///
/// let admin = Namespace::new("/admin").unwrap();
/// assert_eq!(admin.as_str(), "/admin");
/// assert!(Namespace::main().is_main());
/// assert!(Namespace::new("admin").is_err());
/// assert!(Namespace::new("/a,b").is_err());
/// ```
#[derive(Clone)]
pub struct Namespace(Repr);

/// How a name is held; which one depends on the name alone, so equal names are held alike.
#[derive(Clone)]
enum Repr {
    /// Two to [`Namespace::INLINE_LEN`] bytes, in place.
    Inline(SmolStr),
    /// The main namespace (a static text) and names longer than [`Namespace::INLINE_LEN`],
    /// sharing the buffer they came in. `/` is held here so that [`Namespace::is_main`] and
    /// [`Namespace::as_str`] on it cost no more than on a plain `Utf8Bytes`.
    Shared(Utf8Bytes),
}

impl Namespace {
    /// Hard upper bound on a namespace's length in bytes. The decoder applies the (usually
    /// smaller) [`DecodeLimits::max_namespace_len`](crate::DecodeLimits::max_namespace_len).
    pub const MAX_LEN: usize = 4096;

    /// The longest name held in the value itself rather than in a shared buffer.
    pub const INLINE_LEN: usize = 23;

    /// The main namespace `/`.
    #[must_use]
    pub const fn main() -> Self {
        Self(Repr::Shared(Utf8Bytes::from_static("/")))
    }

    /// Validates a namespace name. A name longer than [`Namespace::INLINE_LEN`] shares the
    /// buffer of `name`; a shorter one is copied out of it.
    ///
    /// # Errors
    ///
    /// Returns a [`NamespaceError`] when the name breaks a rule listed on the type.
    pub fn new(name: impl Into<Utf8Bytes>) -> Result<Self, NamespaceError> {
        let name = name.into();
        check(&name, Self::MAX_LEN)?;
        Ok(match name.len() {
            1 => Self::main(),
            ..=Self::INLINE_LEN => Self(Repr::Inline(SmolStr::new(name.as_str()))),
            _ => Self(Repr::Shared(name)),
        })
    }

    /// The name `text[range]`, which passed [`check_namespace`] (used by the decoder): copied
    /// when short, shared with `text` otherwise.
    #[inline]
    pub(crate) fn checked(text: &Utf8Bytes, range: std::ops::Range<usize>) -> Self {
        match range.len() {
            // A checked name starts with `/`: one byte long, it is the main namespace.
            1 => Self::main(),
            ..=Self::INLINE_LEN => Self(Repr::Inline(SmolStr::new(
                text.get(range).unwrap_or_default(),
            ))),
            _ => Self(Repr::Shared(text.slice(range))),
        }
    }

    /// The name as a `&str`.
    #[must_use]
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline(s) => s.as_str(),
            Repr::Shared(s) => s.as_str(),
        }
    }

    /// Whether this is the main namespace `/`.
    #[must_use]
    #[inline]
    pub fn is_main(&self) -> bool {
        // `/` is never held inline.
        matches!(&self.0, Repr::Shared(s) if s.as_str() == "/")
    }
}

impl PartialEq for Namespace {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Namespace {}

impl PartialOrd for Namespace {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Namespace {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Namespace {
    /// Hashes as the `str` does.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// Checks a namespace name as the decoder does, with a custom length limit (never more than
/// [`Namespace::MAX_LEN`]).
pub(crate) fn check_namespace(name: &str, max: usize) -> Result<(), NamespaceError> {
    check(name, max.min(Namespace::MAX_LEN))
}

fn check(name: &str, max: usize) -> Result<(), NamespaceError> {
    if !name.starts_with('/') {
        return Err(NamespaceError::MissingSlash);
    }
    if name.len() > max {
        return Err(NamespaceError::TooLong { max });
    }
    match name
        .chars()
        .find(|&c| matches!(c, ',' | '#' | '?') || c.is_ascii_control())
    {
        Some(c) => Err(NamespaceError::ForbiddenChar(c)),
        None => Ok(()),
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self::main()
    }
}

impl Deref for Namespace {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Namespace {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl TryFrom<&str> for Namespace {
    type Error = NamespaceError;

    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl TryFrom<String> for Namespace {
    type Error = NamespaceError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl PartialEq<str> for Namespace {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Namespace {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id that pairs an EVENT asking for an acknowledgement with its ACK.
///
/// On the wire it is the decimal digits between the namespace and the JSON (`212["foo"]` is an
/// EVENT with ack id 12). The reference parses it as a JS number; ids here must fit in a `u64`.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
#[expect(
    clippy::exhaustive_structs,
    reason = "a plain u64: the wire format fixes its representation"
)]
pub struct AckId(pub u64);

impl AckId {
    /// The numeric value.
    #[must_use]
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<u64> for AckId {
    fn from(id: u64) -> Self {
        Self(id)
    }
}

impl fmt::Display for AckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(Namespace::new("/").unwrap().is_main());
        assert_eq!(Namespace::new(""), Err(NamespaceError::MissingSlash));
        assert_eq!(
            Namespace::new("/a#b"),
            Err(NamespaceError::ForbiddenChar('#'))
        );
        assert_eq!(
            Namespace::new("/a?b=1"),
            Err(NamespaceError::ForbiddenChar('?'))
        );
        assert_eq!(
            Namespace::new("/a\nb"),
            Err(NamespaceError::ForbiddenChar('\n'))
        );
        assert_eq!(
            Namespace::new("/".repeat(Namespace::MAX_LEN + 1)),
            Err(NamespaceError::TooLong {
                max: Namespace::MAX_LEN
            })
        );
        assert_eq!(Namespace::new("/ünï").unwrap(), "/ünï");
    }

    /// Names up to `INLINE_LEN` bytes are held in place, longer ones share their buffer; both
    /// read, compare, order and hash as their text, on both sides of the boundary.
    #[test]
    fn inline_and_shared_names_behave_alike() {
        use std::hash::{BuildHasher, RandomState};

        let hasher = RandomState::new();
        for len in [1, 2, Namespace::INLINE_LEN - 1, Namespace::INLINE_LEN]
            .into_iter()
            .chain([Namespace::INLINE_LEN + 1, 100, Namespace::MAX_LEN])
        {
            // `ü` is two bytes: a non-ASCII name, an `x` making up an odd length.
            let name = format!(
                "/{}{}",
                "ü".repeat((len - 1) / 2),
                "x".repeat((len - 1) % 2)
            );
            assert_eq!(name.len(), len, "{name}");
            let text = Utf8Bytes::from(format!("2{name},[\"a\"]"));
            let decoded = Namespace::checked(&text, 1..1 + len);
            let built = Namespace::new(name.as_str()).unwrap();
            assert_eq!(decoded.as_str(), name);
            assert_eq!(decoded, built);
            assert_eq!(decoded.cmp(&built), std::cmp::Ordering::Equal);
            assert_eq!(hasher.hash_one(&decoded), hasher.hash_one(name.as_str()));
            assert_eq!(
                matches!(decoded.0, Repr::Inline(_)),
                (2..=Namespace::INLINE_LEN).contains(&len)
            );
            assert_eq!(
                matches!(built.0, Repr::Inline(_)),
                (2..=Namespace::INLINE_LEN).contains(&len)
            );
            assert_eq!(decoded.is_main(), len == 1);
            assert_eq!(built.is_main(), len == 1);
        }
        let long = Namespace::new(format!("/m{}", "x".repeat(30))).unwrap();
        assert!(Namespace::new("/a").unwrap() < long);
        assert!(Namespace::new("/z").unwrap() > long);
    }
}
