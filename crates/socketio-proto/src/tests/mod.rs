//! Wire-level tests: the spec examples, the reference parser's test vectors, the official
//! Socket.IO v5 suite (cases 17-32) and the hostile-input list (reliability.md §5 C).

mod conformance;
mod hostile;
#[cfg(feature = "serde")]
mod json;
#[cfg(feature = "serde")]
mod json_de;
mod packet_buf;
mod packet_ref;
mod props;
#[cfg(feature = "serde")]
mod serde;

use bytes::Bytes;

use crate::{
    DecodeError, DecodeLimits, Decoder, Namespace, Packet, PacketBuf, PacketRef, PacketType,
};

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
    let decoded = d.decode_text(text.into());
    same_as_buf(text, &DecodeLimits::default(), false, &decoded, &[]);
    let res = decoded.map(|p| p.expect("complete packet"));
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
    let full = feed(false, text, bins);
    let lazy = feed(true, text, bins).and_then(|p| p.validate().map(|()| p));
    assert_eq!(lazy, full, "{text}: deferred check differs");
    full
}

/// Feeds `text` then `bins` to a default decoder, with the JSON check deferred or not.
fn feed(defer: bool, text: &str, bins: &[&'static [u8]]) -> Result<Packet, DecodeError> {
    let mut d = Decoder::new(DecodeLimits::default()).defer_json_check(defer);
    let decoded = d.decode_text(text.into());
    let atts: Vec<Bytes> = bins.iter().map(|b| Bytes::from_static(b)).collect();
    if defer {
        // `same_as_ref` also checks the `PacketBuf` path.
        same_as_ref(text, d.limits(), &decoded, &atts);
    } else {
        same_as_buf(text, d.limits(), false, &decoded, &atts);
    }
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
/// typed reads and [`PacketRef::validate`] give what the [`Packet`]'s give. Runs
/// [`same_as_buf`] as well.
pub(crate) fn same_as_ref(
    text: &str,
    limits: &DecodeLimits,
    decoded: &Result<Option<Packet>, DecodeError>,
    atts: &[Bytes],
) {
    same_as_buf(text, limits, true, decoded, atts);
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

/// Checks that [`Decoder::read_text`] (then [`Decoder::read_binary`] with each of `atts`, when
/// the text leaves a packet pending) agrees with the `decode_*` methods of a decoder with the
/// same settings, which returned `decoded` for `text`: the same errors and the same pending
/// state at every step, and a [`PacketBuf`] whose reads give what the [`Packet`]'s give and
/// which converts into it.
pub(crate) fn same_as_buf(
    text: &str,
    limits: &DecodeLimits,
    defer: bool,
    decoded: &Result<Option<Packet>, DecodeError>,
    atts: &[Bytes],
) {
    let decoder = || Decoder::new(*limits).defer_json_check(defer);
    let mut d = decoder();
    let read = d.read_text(text.into());
    match (decoded, &read) {
        (Err(e), Err(r)) => {
            assert_eq!(r, e, "{text}");
            assert_eq!(d.awaiting_attachments(), 0, "{text}");
            return;
        }
        (Ok(Some(p)), Ok(Some(b))) => return same_buf(text, b, p),
        (Ok(None), Ok(None)) => {}
        _ => panic!("{text}: read_text gives {read:?}, decode_text {decoded:?}"),
    }
    let mut reference = decoder();
    assert_eq!(reference.decode_text(text.into()), Ok(None), "{text}");
    assert_eq!(d.awaiting_attachments(), reference.awaiting_attachments());
    for a in atts {
        let read = d.read_binary(a.clone());
        let decoded = reference.decode_binary(a.clone());
        assert_eq!(d.awaiting_attachments(), reference.awaiting_attachments());
        match (&decoded, &read) {
            (Err(e), Err(r)) => return assert_eq!(r, e, "{text}"),
            (Ok(None), Ok(None)) => {}
            (Ok(Some(p)), Ok(Some(b))) => return same_buf(text, b, p),
            _ => panic!("{text}: read_binary gives {read:?}, decode_binary {decoded:?}"),
        }
    }
}

/// [`same_as_buf`] for a complete packet: `b` read, `p` decoded.
fn same_buf(text: &str, b: &PacketBuf, p: &Packet) {
    assert_eq!(&b.clone().into_packet(), p, "{text}");
    assert_eq!(&Packet::from(b.clone()), p, "{text}");
    assert_eq!(b.ns(), p.ns().as_str(), "{text}");
    assert_eq!(&b.namespace(), p.ns(), "{text}");
    assert_eq!(b.ack_id(), p.ack_id(), "{text}");
    assert_eq!(b.event_name(), p.event_name(), "{text}");
    // `50-[...]` declares no attachment: the packet folds it into a text packet.
    let ty = match b.packet_type() {
        PacketType::BinaryEvent if b.attachments().is_empty() => PacketType::Event,
        PacketType::BinaryAck if b.attachments().is_empty() => PacketType::Ack,
        ty => ty,
    };
    assert_eq!(ty, p.packet_type(), "{text}");
    let data = p.payload();
    assert_eq!(b.json(), data.map_or("", |d| d.json()), "{text}");
    assert_eq!(
        b.attachments(),
        data.map_or(&[][..], |d| d.attachments()),
        "{text}"
    );
    assert_eq!(b.clone().into_payload().as_ref(), data, "{text}");
    if text.len() <= 64 * 1024 {
        assert_eq!(b.validate(), p.validate(), "{text}");
    }
    #[cfg(feature = "serde")]
    if let Some(data) = data
        && text.len() <= 64 * 1024
    {
        use serde_json::Value;
        assert_eq!(
            b.event_args::<Vec<Value>>(),
            data.event_args::<Vec<Value>>(),
            "{text}"
        );
        assert_eq!(
            b.ack_args::<Vec<Value>>(),
            data.ack_args::<Vec<Value>>(),
            "{text}"
        );
        assert_eq!(
            b.deserialize::<Value>(),
            data.deserialize::<Value>(),
            "{text}"
        );
        assert_eq!(
            b.event_args::<(Value, Option<crate::Binary>)>(),
            data.event_args::<(Value, Option<crate::Binary>)>(),
            "{text}"
        );
    }
}
