//! reliability.md §5 C: hostile input to the packet parser (C17, msgpack, is out of scope; C12,
//! the completion timeout, belongs to the runtime, which uses `awaiting_attachments` and
//! `reset`).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{decode, ns};
use crate::{DecodeError, DecodeLimits, Decoder, NamespaceError, Packet, PacketType};

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;

fn decoder() -> Decoder {
    Decoder::new(DecodeLimits::default())
}

#[test]
fn c1_unknown_types_and_empty() {
    assert_eq!(decode("7"), Err(DecodeError::UnknownType(b'7')));
    assert_eq!(decode("9"), Err(DecodeError::UnknownType(b'9')));
    assert_eq!(decode(""), Err(DecodeError::Empty));
    assert_eq!(decode("abc"), Err(DecodeError::UnknownType(b'a')));
    assert_eq!(decode("é"), Err(DecodeError::UnknownType(0xc3)));
}

#[test]
fn c2_connect_with_non_object_payload() {
    // `0/admin,1` reads as an ack id on a CONNECT, which is refused too.
    assert_eq!(
        decode("0/admin,1"),
        Err(DecodeError::UnexpectedAckId(PacketType::Connect))
    );
    for text in ["0[]", r#"0"x""#, "0null", "0true", "0/admin,[1]"] {
        assert_eq!(
            decode(text),
            Err(DecodeError::InvalidPayload(PacketType::Connect)),
            "{text}"
        );
    }
}

#[test]
fn c3_event_shapes() {
    assert_eq!(
        decode("2{}"),
        Err(DecodeError::InvalidPayload(PacketType::Event))
    );
    assert_eq!(
        decode("2[]"),
        Err(DecodeError::InvalidPayload(PacketType::Event))
    );
    assert_eq!(
        decode(r#"2[{"toString":"foo"}]"#),
        Err(DecodeError::InvalidEventName)
    );
    assert_eq!(decode("2[true]"), Err(DecodeError::InvalidEventName));
    assert_eq!(decode(r#"2[null,"x"]"#), Err(DecodeError::InvalidEventName));
    assert_eq!(decode(r#"2[["a"]]"#), Err(DecodeError::InvalidEventName));
    // Binary events follow the same rules.
    assert_eq!(
        decode(&format!("51-[{PH0}]")),
        Err(DecodeError::InvalidEventName)
    );
}

#[test]
fn c4_reserved_event_names() {
    for name in crate::RESERVED_EVENTS {
        assert_eq!(
            decode(&format!(r#"2["{name}",1]"#)),
            Err(DecodeError::ReservedEventName(name.into()))
        );
    }
    // An escaped spelling is still the reserved name.
    assert_eq!(
        decode(r#"2["\u0063onnect"]"#),
        Err(DecodeError::ReservedEventName("connect".into()))
    );
    // `error` is an ordinary event.
    assert_eq!(
        decode(r#"2["error"]"#).unwrap().event_name().as_deref(),
        Some("error")
    );
}

#[test]
fn c5_invalid_ack_ids() {
    assert!(matches!(
        decode(r#"2abc["x"]"#),
        Err(DecodeError::InvalidJson(_))
    ));
    assert_eq!(
        decode(r#"21234567890123456789012345["x"]"#),
        Err(DecodeError::InvalidAckId)
    );
    assert_eq!(
        decode(r#"218446744073709551616["x"]"#),
        Err(DecodeError::InvalidAckId)
    );
    assert_eq!(
        decode(r#"218446744073709551615["x"]"#).unwrap().ack_id(),
        Some(crate::AckId(u64::MAX))
    );
}

#[test]
fn c6_ack_without_id_or_array() {
    assert_eq!(decode(r#"3["x"]"#), Err(DecodeError::MissingAckId));
    assert_eq!(
        decode(r#"31{"x":1}"#),
        Err(DecodeError::InvalidPayload(PacketType::Ack))
    );
    assert_eq!(
        decode(r#"31"x""#),
        Err(DecodeError::InvalidPayload(PacketType::Ack))
    );
    // An ACK for an unknown id is a runtime matter: the decoder delivers it.
    assert!(decode("3999[]").is_ok());
}

#[test]
fn c7_attachment_count_over_limit_or_malformed() {
    for text in [
        "5-[\"x\"]",
        "5a-[\"x\"]",
        "5-1-[\"x\"]",
        "5",
        "51",
        "51.23-[\"x\"]",
    ] {
        let mut d = decoder();
        assert_eq!(
            d.decode_text(text.into()),
            Err(DecodeError::IllegalAttachments),
            "{text}"
        );
        assert_eq!(d.awaiting_attachments(), 0);
    }
    for text in ["599999999999999999999-[\"x\"]", "511-[\"x\"]"] {
        let mut d = decoder();
        assert_eq!(
            d.decode_text(text.into()),
            Err(DecodeError::TooManyAttachments { max: 10 }),
            "{text}"
        );
        assert_eq!(d.awaiting_attachments(), 0);
    }
    // The limit is configurable.
    let limits = DecodeLimits::default().with_max_attachments(11);
    let placeholders: Vec<String> = (0..11)
        .map(|n| format!(r#"{{"_placeholder":true,"num":{n}}}"#))
        .collect();
    let text = format!(r#"511-["x",{}]"#, placeholders.join(","));
    let mut d = Decoder::new(limits);
    assert_eq!(d.decode_text(text.into()), Ok(None));
    assert_eq!(d.awaiting_attachments(), 11);
}

#[test]
fn c8_zero_attachment_binary_packet_then_binary_flood() {
    let mut d = decoder();
    let p = d.decode_text(r#"50-["x"]"#.into()).unwrap().unwrap();
    assert_eq!(p.event_name().as_deref(), Some("x"));
    // Folded back into a plain EVENT: it re-encodes as `2`.
    assert_eq!(p.encode().text(), r#"2["x"]"#);
    assert_eq!(d.awaiting_attachments(), 0);
    let frame = Bytes::from(vec![0u8, 1]);
    for _ in 0..100_000 {
        assert_eq!(
            d.decode_binary(frame.clone()),
            Err(DecodeError::UnexpectedBinary)
        );
    }
    // Nothing was kept: this test holds the only reference to the frame.
    assert!(frame.try_into_mut().is_ok());
    // And the decoder still works.
    assert!(d.decode_text("2[\"y\"]".into()).unwrap().is_some());
    // `60-` the same way.
    assert!(matches!(
        d.decode_text("60-1[]".into()).unwrap(),
        Some(Packet::Ack { .. })
    ));
}

#[test]
fn c9_binary_without_pending_packet() {
    let mut d = decoder();
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"x")),
        Err(DecodeError::UnexpectedBinary)
    );
    // Also after a complete binary packet.
    assert_eq!(d.decode_text(format!(r#"51-["a",{PH0}]"#).into()), Ok(None));
    assert!(d.decode_binary(Bytes::from_static(b"1")).unwrap().is_some());
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"2")),
        Err(DecodeError::UnexpectedBinary)
    );
}

#[test]
fn c10_text_while_attachments_pending() {
    let mut d = decoder();
    assert_eq!(d.decode_text(format!(r#"51-["a",{PH0}]"#).into()), Ok(None));
    assert_eq!(
        d.decode_text(r#"2["b"]"#.into()),
        Err(DecodeError::UnexpectedText)
    );
    // The state was reset: the next text decodes normally and binaries are unexpected.
    assert_eq!(d.awaiting_attachments(), 0);
    assert!(d.decode_text(r#"2["b"]"#.into()).unwrap().is_some());
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"1")),
        Err(DecodeError::UnexpectedBinary)
    );
}

#[test]
fn c11_bad_placeholders() {
    let bad = [
        r#"{"_placeholder":true,"num":"__proto__"}"#,
        r#"{"_placeholder":true,"num":"toString"}"#,
        r#"{"_placeholder":true,"num":-1}"#,
        r#"{"_placeholder":true,"num":1.5}"#,
        r#"{"_placeholder":true,"num":2}"#,
        r#"{"_placeholder":true,"num":0.0}"#,
        r#"{"_placeholder":true,"num":null}"#,
        r#"{"_placeholder":true}"#,
        r#"{"_placeholder":false,"num":1}"#,
        r#"{"_placeholder":"true","num":1}"#,
        r#"{"_placeholder":true,"num":1,"extra":1}"#,
        r#"{"_placeholder":true,"num":1,"num":1}"#,
    ];
    for ph in bad {
        let text = format!(r#"52-["a",{PH0},{ph},"padding to hold two placeholders"]"#);
        let mut d = decoder();
        assert_eq!(
            d.decode_text(text.as_str().into()),
            Err(DecodeError::InvalidPlaceholder),
            "{text}"
        );
        assert_eq!(d.awaiting_attachments(), 0);
    }
    // Duplicate index, and a missing one.
    let mut d = decoder();
    assert_eq!(
        d.decode_text(format!(r#"52-["a",{PH0},{PH0}]"#).into()),
        Err(DecodeError::InvalidPlaceholder)
    );
    assert_eq!(
        d.decode_text(format!(r#"52-["a",{PH0},"padding to hold two placeholders"]"#).into()),
        Err(DecodeError::UnreferencedAttachment(1))
    );
    // A declared attachment with no payload at all.
    assert_eq!(
        d.decode_text("51-".into()),
        Err(DecodeError::UnreferencedAttachment(0))
    );
    // Placeholders nested anywhere, in any key order, are fine.
    let ok = format!(r#"52-["a",{{"x":[{{"num":1,"_placeholder":true}}]}},{PH0}]"#);
    assert_eq!(d.decode_text(ok.into()), Ok(None));
}

#[test]
fn c12_partial_packet_can_be_dropped_by_the_runtime() {
    let placeholders: Vec<String> = (0..10)
        .map(|n| format!(r#"{{"_placeholder":true,"num":{n}}}"#))
        .collect();
    let mut d = decoder();
    let text = format!(r#"510-["x",{}]"#, placeholders.join(","));
    assert_eq!(d.decode_text(text.into()), Ok(None));
    let frame = Bytes::from(vec![7u8; 1024]);
    for _ in 0..9 {
        assert_eq!(d.decode_binary(frame.clone()), Ok(None));
    }
    assert_eq!(d.awaiting_attachments(), 1);
    // The runtime's completion timer fires: it resets the decoder, which frees the buffers.
    d.reset();
    assert_eq!(d.awaiting_attachments(), 0);
    assert!(
        frame.try_into_mut().is_ok(),
        "the decoder kept no reference"
    );
}

#[test]
fn c13_attachments_over_byte_cap() {
    let limits = DecodeLimits::default().with_max_packet_bytes(1000);
    let mut d = Decoder::new(limits);
    let text = format!(r#"52-["x",{PH0},{{"_placeholder":true,"num":1}}]"#);
    assert_eq!(d.decode_text(text.into()), Ok(None));
    assert_eq!(d.decode_binary(Bytes::from(vec![0u8; 500])), Ok(None));
    assert_eq!(
        d.decode_binary(Bytes::from(vec![0u8; 500])),
        Err(DecodeError::PacketTooLarge { max: 1000 })
    );
    assert_eq!(d.awaiting_attachments(), 0);
    // A text over the cap is refused before parsing.
    let long = format!(r#"2["x","{}"]"#, "a".repeat(1000));
    assert_eq!(
        d.decode_text(long.into()),
        Err(DecodeError::PacketTooLarge { max: 1000 })
    );
}

#[test]
fn c14_deep_nesting_is_an_error_not_a_stack_overflow() {
    for (open, ty) in [("[", "2[\"x\","), ("{\"a\":", "2[\"x\",")] {
        let text = format!("{ty}{}", open.repeat(100_000));
        assert!(matches!(decode(&text), Err(DecodeError::InvalidJson(_))));
    }
    // Also in binary packets, where the placeholder walk recurses.
    let text = format!("51-[\"x\",{PH0},{}", "[".repeat(100_000));
    assert!(matches!(
        decoder().decode_text(text.into()),
        Err(DecodeError::InvalidJson(_))
    ));
    // 128 levels is serde_json's limit; 100 is fine.
    let ok = format!("2[\"x\",{}{}]", "[".repeat(100), "]".repeat(100));
    assert!(decode(&ok).is_ok());
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "measures parse time of the test input"
)]
fn c15_large_payloads_parse_in_linear_time() {
    let big_number = format!(r#"2["x",{}]"#, "9".repeat(1_000_000));
    let big_array = format!(r#"2["x",[{}0]]"#, "0,".repeat(500_000));
    let mut keys = String::from(r#"2["x",{"#);
    for i in 0..100_000 {
        keys.push_str(&format!(r#""k{i}":{i},"#));
    }
    keys.push_str(r#""end":0}]"#);
    for text in [big_number, big_array, keys] {
        let start = Instant::now();
        assert!(decode(&text).is_ok());
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn c16_namespace_edge_cases() {
    // No comma at the end: accepted.
    assert_eq!(decode("2/admin").unwrap().ns(), &ns("/admin"));
    for (text, c) in [("0/a#b,", '#'), ("0/a?x=1,", '?'), ("0/a\u{1}b,", '\u{1}')] {
        assert_eq!(
            decode(text),
            Err(DecodeError::InvalidNamespace(
                NamespaceError::ForbiddenChar(c)
            )),
            "{text:?}"
        );
    }
    // A comma always ends the namespace; what follows must then be a valid rest of packet.
    assert!(matches!(decode("0/a,b,"), Err(DecodeError::InvalidJson(_))));
    let long = format!("0/{},", "a".repeat(64 * 1024));
    assert_eq!(
        decode(&long),
        Err(DecodeError::InvalidNamespace(NamespaceError::TooLong {
            max: 256
        }))
    );
}
