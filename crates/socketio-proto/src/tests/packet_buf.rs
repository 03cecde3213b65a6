//! [`PacketBuf`]: the decoder's `read_*` methods read what its `decode_*` methods decode, and
//! keep the packet as it arrived. (Every wire test also runs both paths through
//! `super::same_as_buf`.)

use bytes::Bytes;

use crate::{AckId, DecodeError, DecodeLimits, Decoder, Namespace, Packet, PacketBuf, PacketType};

fn read(text: &str) -> PacketBuf {
    Decoder::new(DecodeLimits::default())
        .read_text(text.into())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .unwrap_or_else(|| panic!("{text}: pending"))
}

/// As for `Packet`: past 128 bytes a move is a call to `memcpy`.
#[test]
fn a_packet_buf_stays_within_128_bytes() {
    assert!(size_of::<PacketBuf>() <= 128, "{}", size_of::<PacketBuf>());
    let result = size_of::<Result<Option<PacketBuf>, DecodeError>>();
    assert!(result <= 128, "{result}");
}

#[test]
fn the_namespace_is_read_in_place_and_built_on_request() {
    let p = read(r#"2/admin,12["bar",1]"#);
    assert_eq!((p.ns(), p.ack_id()), ("/admin", Some(AckId(12))));
    assert_eq!(p.namespace(), Namespace::new("/admin").unwrap());
    let main = read(r#"2["bar"]"#);
    assert_eq!((main.ns(), main.namespace()), ("/", Namespace::main()));
    // Longer than the inline limit: the value shares the text, and is the same name.
    let long = format!("/{}", "n".repeat(Namespace::INLINE_LEN + 5));
    let p = read(&format!("0{long},"));
    assert_eq!(p.ns(), long);
    assert_eq!(p.namespace().as_str(), long);
    assert_eq!(
        p.clone().into_payload(),
        None,
        "a CONNECT without payload has none"
    );
    assert_eq!(
        p.into_packet(),
        Packet::Connect {
            ns: Namespace::new(long).unwrap(),
            auth: None
        }
    );
}

#[test]
fn binary_packets_wait_for_their_attachments_as_with_decode() {
    let mut d = Decoder::new(DecodeLimits::default());
    let text = r#"52-/up,3["file",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    assert_eq!(d.read_text(text.into()), Ok(None));
    assert_eq!(d.awaiting_attachments(), 2);
    assert_eq!(d.read_binary(Bytes::from_static(b"ab")), Ok(None));
    assert_eq!(d.awaiting_attachments(), 1);
    let p = d.read_binary(Bytes::from_static(b"c")).unwrap().unwrap();
    assert_eq!(d.awaiting_attachments(), 0);
    assert_eq!(p.packet_type(), PacketType::BinaryEvent);
    assert_eq!((p.ns(), p.ack_id()), ("/up", Some(AckId(3))));
    assert_eq!(
        p.attachments(),
        [Bytes::from_static(b"ab"), Bytes::from_static(b"c")]
    );
    assert_eq!(p.event_name().as_deref(), Some("file"));
    // The payload is the JSON and the attachments as received.
    let payload = p.clone().into_payload().unwrap();
    assert_eq!(payload.json(), p.json());
    assert_eq!(payload.attachments(), p.attachments());
    // The other path's pending state is the same state: it may finish what `read` began.
    assert_eq!(d.read_text(text.into()), Ok(None));
    assert_eq!(d.decode_binary(Bytes::from_static(b"ab")), Ok(None));
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"c")),
        Ok(Some(p.into_packet()))
    );
}

#[test]
fn errors_and_resets_are_those_of_decode() {
    let mut d = Decoder::new(DecodeLimits::default().with_max_packet_bytes(40));
    assert_eq!(
        d.read_binary(Bytes::from_static(b"x")),
        Err(DecodeError::UnexpectedBinary)
    );
    assert_eq!(
        d.read_text(r#"51-["a",{"_placeholder":true,"num":0}]"#.into()),
        Ok(None)
    );
    // Text while an attachment is awaited: refused, and nothing is left pending.
    assert_eq!(
        d.read_text("2[\"a\"]".into()),
        Err(DecodeError::UnexpectedText)
    );
    assert_eq!(d.awaiting_attachments(), 0);
    assert_eq!(
        d.read_text(r#"51-["a",{"_placeholder":true,"num":0}]"#.into()),
        Ok(None)
    );
    assert_eq!(
        d.read_binary(Bytes::from_static(&[0; 8])),
        Err(DecodeError::PacketTooLarge { max: 40 })
    );
    assert_eq!(d.awaiting_attachments(), 0);
    assert_eq!(
        d.read_text("1abc".into()),
        Err(DecodeError::InvalidPayload(PacketType::Disconnect))
    );
}

#[test]
fn payloads_follow_the_packet_shapes() {
    assert_eq!(read("1/chat,").into_payload(), None);
    assert_eq!(read("0").into_payload(), None);
    assert_eq!(
        read(r#"0{"token":"x"}"#).into_payload().unwrap().json(),
        r#"{"token":"x"}"#
    );
    // An EVENT without payload: an empty one, as the packet has.
    let p = read("2");
    assert_eq!(p.clone().into_payload().map(|d| d.is_empty()), Some(true));
    assert_eq!(
        p.into_packet().payload().map(crate::Payload::is_empty),
        Some(true)
    );
    assert_eq!(read("3/a,4[]").ack_id(), Some(AckId(4)));
}

#[test]
fn equality_is_the_packets_not_the_spelling() {
    // A leading zero in the ack id puts the JSON one byte further: the same packet.
    let a = read(r#"2/a,01["x"]"#);
    let b = read(r#"2/a,1["x"]"#);
    assert_eq!(a, b);
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    assert_ne!(a, read(r#"2/a,1["y"]"#));
    assert_ne!(a, read(r#"2/b,1["x"]"#));
    assert_ne!(a, read(r#"2/a,2["x"]"#));
    assert_ne!(
        read(r#"2["x"]"#),
        read(r#"3["x"]"#.replacen('3', "31", 1).as_str())
    );
}

#[cfg(feature = "serde")]
#[test]
fn typed_reads_substitute_attachments() {
    use crate::Binary;
    let mut d = Decoder::new(DecodeLimits::default()).defer_json_check(true);
    let text = r#"61-/x,9["ok",{"_placeholder":true,"num":0}]"#;
    assert_eq!(d.read_text(text.into()), Ok(None));
    let p = d
        .read_binary(Bytes::from_static(b"\x01\x02"))
        .unwrap()
        .unwrap();
    let (ok, data): (String, Binary) = p.ack_args().unwrap();
    assert_eq!((ok.as_str(), &data[..]), ("ok", &b"\x01\x02"[..]));
    let p = read(r#"2["chat",{"text":"hi"},3]"#);
    let (v, n): (serde_json::Value, u8) = p.event_args().unwrap();
    assert_eq!((v["text"].as_str(), n), (Some("hi"), 3));
    let c = read(r#"0{"sid":"abc"}"#);
    let v: serde_json::Value = c.deserialize().unwrap();
    assert_eq!(v["sid"], "abc");
}
