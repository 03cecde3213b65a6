//! [`Utf8Bytes`]: UTF-8 text stored in a reference-counted [`Bytes`] buffer.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;
use bytestring::ByteString;

/// UTF-8 text backed by [`Bytes`]: cloning and slicing share the buffer instead of copying it.
///
/// The text is validated once when it is built from bytes; every later view is free. This is the
/// text type of every message that crosses the engine.io and socket.io layers, so a text frame
/// read from a socket reaches the application without a copy.
#[derive(Clone, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Utf8Bytes(ByteString);

impl Utf8Bytes {
    /// An empty text.
    #[must_use]
    pub const fn new() -> Self {
        Self(ByteString::from_static(""))
    }

    /// Wraps a static string without copying it.
    #[must_use]
    pub const fn from_static(s: &'static str) -> Self {
        Self(ByteString::from_static(s))
    }

    /// Validates `bytes` as UTF-8 and wraps them without copying.
    ///
    /// # Errors
    ///
    /// Returns the UTF-8 error when `bytes` is not valid UTF-8.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Self)
    }

    /// Copies `bytes` into a new text after validating them.
    ///
    /// # Errors
    ///
    /// Returns the UTF-8 error when `bytes` is not valid UTF-8.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self, std::str::Utf8Error> {
        ByteString::try_from(bytes).map(Self)
    }

    /// The text as a `&str`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text's bytes, sharing the buffer.
    #[must_use]
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Turns the text into its bytes, sharing the buffer.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A sub-text that shares this buffer, for a `&str` that points into this text.
    ///
    /// Returns `None` when `part` does not lie inside this text's buffer.
    #[must_use]
    pub fn slice_ref(&self, part: &str) -> Option<Self> {
        let whole = self.as_str();
        let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize)?;
        let end = start.checked_add(part.len())?;
        if end > whole.len() {
            return None;
        }
        Some(Self(self.0.slice_ref(part)))
    }

    /// The sub-text `range` (byte offsets), sharing this buffer.
    ///
    /// # Panics
    ///
    /// Panics when the range is out of bounds or does not fall on `char` boundaries, like
    /// slicing a `str` does.
    #[must_use]
    pub fn slice(&self, range: std::ops::Range<usize>) -> Self {
        let part = &self.as_str()[range];
        Self(self.0.slice_ref(part))
    }

    /// The text from byte `start` to the end, sharing this buffer.
    ///
    /// Returns `None` when `start` is past the end or not on a `char` boundary.
    #[must_use]
    pub fn tail(&self, start: usize) -> Option<Self> {
        if !self.as_str().is_char_boundary(start) {
            return None;
        }
        let part = self.as_str().get(start..)?;
        self.slice_ref(part)
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Self(ByteString::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Self(ByteString::from(s))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Self {
        s.into_bytes()
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        Self::try_from_bytes(bytes)
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_share_the_buffer() {
        let t = Utf8Bytes::from("4hello");
        let tail = t.tail(1).unwrap();
        assert_eq!(tail, "hello");
        assert_eq!(tail.as_bytes().as_ptr(), t.as_bytes()[1..].as_ptr());
        assert!(t.slice_ref("other").is_none());
    }

    #[test]
    fn rejects_invalid_utf8() {
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"\xff\xfe")).is_err());
        assert_eq!(
            Utf8Bytes::try_from_bytes(Bytes::from_static(b"ok")).unwrap(),
            "ok"
        );
    }

    #[test]
    fn tail_off_boundary_is_none() {
        let t = Utf8Bytes::from("é");
        assert!(t.tail(1).is_none());
        assert_eq!(t.tail(2).unwrap(), "");
    }
}
