//! HTTP long-polling payloads: packets joined by the record separator `\x1e`.
//!
//! `4hello\x1e2\x1e4world` carries three packets; binary messages are `b` + base64
//! (`4hello\x1ebAQIDBA==`). There are no length prefixes in v4.

use bytes::Bytes;

use crate::error::DecodeError;
use crate::packet::Packet;
use crate::text::Utf8Bytes;

/// The record separator between the packets of a polling payload.
pub const SEPARATOR: char = '\x1e';

/// Iterates over the packets of a polling payload without copying text data.
///
/// Decoding stops at the first record that does not decode, which is reported once; the
/// reference decoder (`decodePayload`) does the same. An empty payload, an empty record
/// (`4a\x1e\x1e4b`) and a trailing separator are errors.
#[derive(Clone, Debug)]
pub struct PayloadDecoder {
    text: Utf8Bytes,
    pos: usize,
    done: bool,
}

impl PayloadDecoder {
    /// Validates `body` as UTF-8 and prepares to iterate over its packets.
    ///
    /// # Errors
    ///
    /// [`DecodeError::InvalidUtf8`] when the body is not UTF-8.
    pub fn new(body: Bytes) -> Result<Self, DecodeError> {
        let text = Utf8Bytes::try_from_bytes(body).map_err(|_| DecodeError::InvalidUtf8)?;
        Ok(Self::from_text(text))
    }

    /// Iterates over the packets of an already validated payload.
    #[must_use]
    pub fn from_text(text: Utf8Bytes) -> Self {
        Self {
            text,
            pos: 0,
            done: false,
        }
    }
}

impl Iterator for PayloadDecoder {
    type Item = Result<Packet, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        // `pos` is 0 or just after an ASCII separator, so it is a char boundary.
        let rest = self.text.get(self.pos..)?;
        let start = self.pos;
        let end = match memchr::memchr(SEPARATOR as u8, rest.as_bytes()) {
            Some(i) => {
                self.pos = start + i + 1;
                start + i
            }
            None => {
                self.done = true;
                self.text.len()
            }
        };
        let result = Packet::decode_record(&self.text, start..end);
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

/// Decodes a whole polling payload.
///
/// # Errors
///
/// The first [`DecodeError`] met; packets before it are discarded.
pub fn decode_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    PayloadDecoder::new(body)?.collect()
}

/// Encodes packets into one polling payload.
#[must_use]
pub fn encode_payload<'a, I>(packets: I) -> Utf8Bytes
where
    I: IntoIterator<Item = &'a Packet>,
    I::IntoIter: Clone,
{
    let packets = packets.into_iter();
    // One exact allocation: the sizes are known before anything is written.
    let len = packets
        .clone()
        .map(|p| p.encoded_text_len() + 1)
        .sum::<usize>();
    let mut enc = PayloadEncoder::with_capacity(usize::MAX, len.saturating_sub(1));
    for p in packets {
        enc.push(p);
    }
    enc.finish()
}

/// Builds a polling payload packet by packet, within a byte budget.
#[derive(Clone, Debug)]
pub struct PayloadEncoder {
    buf: String,
    max: usize,
    count: usize,
}

impl PayloadEncoder {
    /// An encoder whose output stays within `max` bytes, except that the first packet is always
    /// taken so that one oversized packet cannot block the queue forever.
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self::with_capacity(max, 0)
    }

    /// As [`PayloadEncoder::new`], with room for `capacity` bytes reserved up front.
    #[must_use]
    pub fn with_capacity(max: usize, capacity: usize) -> Self {
        Self {
            buf: String::with_capacity(capacity.min(max)),
            max,
            count: 0,
        }
    }

    /// Bytes the payload would have after adding `packet`.
    #[must_use]
    pub fn len_with(&self, packet: &Packet) -> usize {
        let sep = usize::from(self.count > 0);
        self.buf.len() + sep + packet.encoded_text_len()
    }

    /// Bytes the payload would have after adding a record of `record_len` encoded bytes.
    #[must_use]
    pub fn len_with_encoded(&self, record_len: usize) -> usize {
        self.buf.len() + usize::from(self.count > 0) + record_len
    }

    /// Whether `packet` fits in the budget (always true for the first packet).
    #[must_use]
    pub fn fits(&self, packet: &Packet) -> bool {
        self.count == 0 || self.len_with(packet) <= self.max
    }

    /// Appends `packet` if it fits; returns whether it was appended.
    pub fn push(&mut self, packet: &Packet) -> bool {
        if !self.fits(packet) {
            return false;
        }
        if self.count > 0 {
            self.buf.push(SEPARATOR);
        }
        packet.encode_text_into(&mut self.buf);
        self.count += 1;
        true
    }

    /// Appends an already encoded text record (as produced by [`Packet::encode_text`]) if it
    /// fits; returns whether it was appended.
    pub fn push_encoded(&mut self, record: &str) -> bool {
        let sep = usize::from(self.count > 0);
        if self.count > 0 && self.buf.len() + sep + record.len() > self.max {
            return false;
        }
        if sep == 1 {
            self.buf.push(SEPARATOR);
        }
        self.buf.push_str(record);
        self.count += 1;
        true
    }

    /// Number of packets appended so far.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether no packet was appended.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The payload.
    #[must_use]
    pub fn finish(self) -> Utf8Bytes {
        Utf8Bytes::from(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Message;

    fn decode(s: &'static str) -> Result<Vec<Packet>, DecodeError> {
        decode_payload(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn decodes_text_and_binary() {
        assert_eq!(
            decode("4hello\x1e2\x1e4world"),
            Ok(vec![
                Packet::Message("hello".into()),
                Packet::ping(),
                Packet::Message("world".into())
            ])
        );
        assert_eq!(
            decode("4hello\x1ebAQIDBA=="),
            Ok(vec![
                Packet::Message("hello".into()),
                Packet::Message(Message::Binary(Bytes::from_static(&[1, 2, 3, 4])))
            ])
        );
        assert_eq!(
            decode("4é\x1e4ü"),
            Ok(vec![
                Packet::Message("é".into()),
                Packet::Message("ü".into())
            ])
        );
    }

    #[test]
    fn rejects_malformed_payloads() {
        assert_eq!(decode(""), Err(DecodeError::Empty));
        assert_eq!(decode("abc"), Err(DecodeError::UnknownPacketType(b'a')));
        assert_eq!(decode("9"), Err(DecodeError::UnknownPacketType(b'9')));
        assert_eq!(decode("4a\x1e\x1e4b"), Err(DecodeError::Empty));
        assert_eq!(decode("4a\x1e"), Err(DecodeError::Empty));
        assert_eq!(decode("4a\x1eb!"), Err(DecodeError::InvalidBase64));
        assert_eq!(
            decode_payload(Bytes::from_static(b"4\xff")),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn iteration_stops_after_the_first_error() {
        let mut it = PayloadDecoder::new(Bytes::from_static(b"4a\x1ex\x1e4b")).unwrap();
        assert_eq!(it.next(), Some(Ok(Packet::Message("a".into()))));
        assert_eq!(it.next(), Some(Err(DecodeError::UnknownPacketType(b'x'))));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn encodes_with_separators() {
        let packets = [
            Packet::Message("hello".into()),
            Packet::Message(Message::Binary(Bytes::from_static(&[1, 2, 3, 4]))),
            Packet::Close,
        ];
        assert_eq!(encode_payload(&packets), "4hello\x1ebAQIDBA==\x1e1");
    }

    #[test]
    fn encoder_respects_the_budget() {
        let mut enc = PayloadEncoder::new(10);
        assert!(enc.push(&Packet::Message("hello".into()))); // 6 bytes
        assert!(!enc.push(&Packet::Message("hello".into()))); // would be 13
        assert!(enc.push(&Packet::Noop)); // 8
        assert_eq!(enc.count(), 2);
        assert_eq!(enc.finish(), "4hello\x1e6");
        // The first packet always goes, even when it alone is over budget.
        let mut enc = PayloadEncoder::new(2);
        assert!(enc.push(&Packet::Message("hello".into())));
        assert!(!enc.push(&Packet::Noop));
    }
}
