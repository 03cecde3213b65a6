//! [`Namespace`] and [`AckId`]: the two small values of a packet header.

use std::fmt;
use std::ops::Deref;

use engineio_proto::Utf8Bytes;

use crate::error::NamespaceError;

/// A validated namespace name: starts with `/`, at most [`Namespace::MAX_LEN`] bytes, and
/// contains none of `,` (it ends the namespace on the wire), `#` (adapters use it as a channel
/// separator), `?` (a query string, only meaningful in protocol v4) or ASCII control
/// characters.
///
/// The main namespace is `/`; the encoder leaves it out of the header, as the reference does.
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
#[derive(Clone, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Namespace(Utf8Bytes);

impl Namespace {
    /// Hard upper bound on a namespace's length in bytes. The decoder applies the (usually
    /// smaller) [`DecodeLimits::max_namespace_len`](crate::DecodeLimits::max_namespace_len).
    pub const MAX_LEN: usize = 4096;

    /// The main namespace `/`.
    #[must_use]
    pub const fn main() -> Self {
        Self(Utf8Bytes::from_static("/"))
    }

    /// Validates a namespace name, sharing the buffer of `name`.
    ///
    /// # Errors
    ///
    /// Returns a [`NamespaceError`] when the name breaks a rule listed on the type.
    pub fn new(name: impl Into<Utf8Bytes>) -> Result<Self, NamespaceError> {
        let name = name.into();
        check(&name, Self::MAX_LEN)?;
        Ok(Self(name))
    }

    /// A name that passed [`check_namespace`] (used by the decoder).
    pub(crate) fn checked(name: Utf8Bytes) -> Self {
        Self(name)
    }

    /// The name as a `&str`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The name as shared text.
    #[must_use]
    pub fn as_utf8_bytes(&self) -> &Utf8Bytes {
        &self.0
    }

    /// Whether this is the main namespace `/`.
    #[must_use]
    #[inline]
    pub fn is_main(&self) -> bool {
        self.0.as_str() == "/"
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
}
