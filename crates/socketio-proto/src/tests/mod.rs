//! Wire-level tests: the spec examples, the reference parser's test vectors, the official
//! Socket.IO v5 suite (cases 17-32) and the hostile-input list (reliability.md §5 C).

mod conformance;
mod hostile;
#[cfg(feature = "serde")]
mod json;
#[cfg(feature = "serde")]
mod json_de;
mod packet_ref;
mod props;
#[cfg(feature = "serde")]
mod serde;

use bytes::Bytes;

use crate::{DecodeError, DecodeLimits, Decoder, Namespace, Packet, PacketRef, PacketType};

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
    let decoded = d.decode_text(text.into());
    same_as_ref(text, &DecodeLimits::default(), &decoded, &[]);
    let p = decoded.map(|p| p.expect("complete packet"))?;
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
    let decoded = d.decode_text(text.into());
    let atts: Vec<Bytes> = bins.iter().map(|b| Bytes::from_static(b)).collect();
    same_as_ref(text, d.limits(), &decoded, &atts);
    assert_eq!(decoded?, None);
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

/// Checks that [`PacketRef::parse`] agrees with a deferred [`Decoder`] that returned `decoded`
/// for `text` (its first message): the same error, or the same header and JSON. When the
/// packet is complete (at once, or with `atts` as its attachments), also checks that the
/// typed reads and [`PacketRef::validate`] give what the [`Packet`]'s give.
pub(crate) fn same_as_ref(
    text: &str,
    limits: &DecodeLimits,
    decoded: &Result<Option<Packet>, DecodeError>,
    atts: &[Bytes],
) {
    let r = PacketRef::parse(text, limits);
    let r = match (decoded, r) {
        (Err(e), r) => return assert_eq!(r, Err(e.clone()), "{text}"),
        (Ok(_), Err(e)) => panic!("{text}: the decoder accepts, PacketRef refuses: {e}"),
        (Ok(Some(p)), Ok(r)) => {
            // `50-[...]` declares no attachment: the decoder folds it into a text packet.
            assert_eq!(r.attachments(), 0, "{text}");
            let ty = match r.packet_type() {
                PacketType::BinaryEvent => PacketType::Event,
                PacketType::BinaryAck => PacketType::Ack,
                ty => ty,
            };
            assert_eq!(ty, p.packet_type(), "{text}");
            same_packet(text, &r, p, &[]);
            r
        }
        (Ok(None), Ok(r)) => {
            assert!(r.packet_type().is_binary() && r.attachments() > 0, "{text}");
            r
        }
    };
    if r.attachments() > 0 && r.attachments() == atts.len() {
        // The packet the decoder builds once the attachments have arrived.
        let mut d = Decoder::new(*limits).defer_json_check(true);
        let mut p = d.decode_text(text.into());
        for a in atts {
            p = d.decode_binary(a.clone());
        }
        // The attachments may break the byte limit, which is no business of the text's.
        let Ok(Some(p)) = p else { return };
        assert_eq!(r.packet_type(), p.packet_type(), "{text}");
        same_packet(text, &r, &p, atts);
    }
}

/// [`same_as_ref`] for a complete packet `p`.
fn same_packet(text: &str, r: &PacketRef<'_>, p: &Packet, atts: &[Bytes]) {
    assert_eq!(r.ns(), p.ns().as_str(), "{text}");
    assert_eq!(r.ack_id(), p.ack_id(), "{text}");
    assert_eq!(r.event_name(), p.event_name(), "{text}");
    if text.len() <= 64 * 1024 {
        assert_eq!(r.validate(), p.validate(), "{text}");
    }
    let Some(data) = p.payload() else {
        assert_eq!(r.json(), "", "{text}");
        return;
    };
    assert_eq!(r.json(), data.json(), "{text}");
    assert_eq!(atts, data.attachments(), "{text}");
    // The large-payload timing tests leave the typed reads to the smaller inputs.
    #[cfg(feature = "serde")]
    if text.len() <= 64 * 1024 {
        use serde_json::Value;
        assert_eq!(
            r.event_args::<Vec<Value>>(atts),
            data.event_args::<Vec<Value>>(),
            "{text}"
        );
        assert_eq!(
            r.ack_args::<Vec<Value>>(atts),
            data.ack_args::<Vec<Value>>(),
            "{text}"
        );
        assert_eq!(
            r.deserialize::<Value>(atts),
            data.deserialize::<Value>(),
            "{text}"
        );
        assert_eq!(
            r.event_args::<(Value, Option<crate::Binary>)>(atts),
            data.event_args::<(Value, Option<crate::Binary>)>(),
            "{text}"
        );
    }
}
