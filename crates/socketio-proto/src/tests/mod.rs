//! Wire-level tests: the spec examples, the reference parser's test vectors, the official
//! Socket.IO v5 suite (cases 17-32) and the hostile-input list (reliability.md §5 C).

mod conformance;
mod hostile;
mod props;
#[cfg(feature = "serde")]
mod serde;

use bytes::Bytes;

use crate::{DecodeError, DecodeLimits, Decoder, Namespace, Packet};

pub(crate) fn ns(s: &str) -> Namespace {
    Namespace::new(s).unwrap()
}

/// Decodes one text message that must be a complete packet.
///
/// Also decodes it with the JSON check deferred and checks that decoding, then
/// [`Packet::validate`], gives the same result, and that a packet the default decoder refuses
/// never deserialises into arguments.
pub(crate) fn decode(text: &str) -> Result<Packet, DecodeError> {
    let mut d = Decoder::new(DecodeLimits::default());
    let res = d
        .decode_text(text.into())
        .map(|p| p.expect("complete packet"));
    assert_eq!(d.awaiting_attachments(), 0);
    assert_eq!(deferred(text), res, "{text}: deferred check differs");
    res
}

/// [`decode`] with the JSON check deferred, then [`Packet::validate`].
pub(crate) fn deferred(text: &str) -> Result<Packet, DecodeError> {
    let mut d = Decoder::new(DecodeLimits::default()).defer_json_check(true);
    let p = d
        .decode_text(text.into())
        .map(|p| p.expect("complete packet"))?;
    assert_eq!(d.awaiting_attachments(), 0);
    let valid = p.validate();
    #[cfg(feature = "serde")]
    if valid.is_err()
        && let Some(data) = p.payload()
    {
        // One-pass readers must not accept what the full check refuses.
        assert!(
            data.event_args::<Vec<serde_json::Value>>().is_err(),
            "{text}"
        );
        assert!(data.ack_args::<Vec<serde_json::Value>>().is_err(), "{text}");
        assert!(data.deserialize::<serde_json::Value>().is_err(), "{text}");
    }
    valid.map(|()| p)
}

/// Decodes a text message followed by binary messages, with the full check and with the JSON
/// check deferred (then [`Packet::validate`]), and checks that both give the same result.
pub(crate) fn decode_with(text: &str, bins: &[&'static [u8]]) -> Result<Packet, DecodeError> {
    let full = feed(Decoder::new(DecodeLimits::default()), text, bins);
    let lazy = feed(
        Decoder::new(DecodeLimits::default()).defer_json_check(true),
        text,
        bins,
    )
    .and_then(|p| p.validate().map(|()| p));
    assert_eq!(lazy, full, "{text}: deferred check differs");
    full
}

fn feed(mut d: Decoder, text: &str, bins: &[&'static [u8]]) -> Result<Packet, DecodeError> {
    assert_eq!(d.decode_text(text.into())?, None);
    let (last, init) = bins.split_last().expect("at least one attachment");
    for b in init {
        assert_eq!(d.decode_binary(Bytes::from_static(b))?, None);
    }
    let p = d
        .decode_binary(Bytes::from_static(last))?
        .expect("complete");
    assert_eq!(d.awaiting_attachments(), 0);
    Ok(p)
}

/// Decodes `text`, re-encodes the packet and checks the text is byte-identical.
pub(crate) fn round_trip(text: &str) -> Packet {
    let p = decode(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(p.encode().text(), text);
    p
}
