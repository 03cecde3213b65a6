//! [`PacketRef`]: the borrowed view reads what the deferred decoder reads, refuses what it
//! refuses, and gives the same typed arguments as [`Payload`](crate::Payload).

use bytes::Bytes;

use super::same_as_ref;
use crate::{AckId, DecodeError, DecodeLimits, Decoder, NamespaceError, PacketRef, PacketType};

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;

/// `parse`, checked against the deferred decoder (and its typed reads, with `atts`).
fn checked<'a>(text: &'a str, atts: &[Bytes]) -> Result<PacketRef<'a>, DecodeError> {
    let limits = DecodeLimits::default();
    let decoded = Decoder::new(limits)
        .defer_json_check(true)
        .decode_text(text.into());
    same_as_ref(text, &limits, &decoded, atts);
    PacketRef::parse(text, &limits)
}

#[test]
fn header_fields_are_borrowed_from_the_text() {
    let text = r#"2/admin,12["chat",{"a":1}]"#;
    let p = checked(text, &[]).unwrap();
    assert_eq!(p.packet_type(), PacketType::Event);
    assert_eq!(p.ns(), "/admin");
    assert_eq!(p.ack_id(), Some(AckId(12)));
    assert_eq!(p.attachments(), 0);
    assert_eq!(p.json(), r#"["chat",{"a":1}]"#);
    assert_eq!(p.event_name().as_deref(), Some("chat"));
    // Slices of the text, not copies.
    assert_eq!(p.ns().as_ptr(), text[1..].as_ptr());
    assert_eq!(p.json().as_ptr(), text[10..].as_ptr());

    let p = checked("2", &[]).unwrap();
    assert_eq!((p.ns(), p.ack_id(), p.json()), ("/", None, ""));
    assert_eq!(p.event_name(), None);
    let p = checked("0/admin,", &[]).unwrap();
    assert_eq!(
        (p.packet_type(), p.ns(), p.json()),
        (PacketType::Connect, "/admin", "")
    );
    let p = checked("1/admin", &[]).unwrap();
    assert_eq!(
        (p.packet_type(), p.ns()),
        (PacketType::Disconnect, "/admin")
    );
    let p = checked("3/,7[1]", &[]).unwrap();
    assert_eq!((p.ns(), p.ack_id()), ("/", Some(AckId(7))));
    assert_eq!(p.event_name(), None);
    let p = checked(r#"4{"message":"no"}"#, &[]).unwrap();
    assert_eq!(p.packet_type(), PacketType::ConnectError);
    let p = checked(r#"2[12,"a"]"#, &[]).unwrap();
    assert_eq!(p.event_name().as_deref(), Some("12"));
}

#[test]
fn refuses_what_the_decoder_refuses() {
    let cases: &[(&str, DecodeError)] = &[
        ("", DecodeError::Empty),
        ("abc", DecodeError::UnknownType(b'a')),
        ("7", DecodeError::UnknownType(b'7')),
        // Engine.IO's `4` is stripped: `42{}` would be a CONNECT_ERROR with an ack id.
        (
            "42{}",
            DecodeError::UnexpectedAckId(PacketType::ConnectError),
        ),
        ("2{}", DecodeError::InvalidPayload(PacketType::Event)),
        ("2[]", DecodeError::InvalidPayload(PacketType::Event)),
        ("2[true]", DecodeError::InvalidEventName),
        (
            r#"2["connect"]"#,
            DecodeError::ReservedEventName("connect".into()),
        ),
        (
            r#"2/a,1["disconnecting",1]"#,
            DecodeError::ReservedEventName("disconnecting".into()),
        ),
        (
            r#"2["\u0063onnect"]"#,
            DecodeError::ReservedEventName("connect".into()),
        ),
        ("3[1]", DecodeError::MissingAckId),
        ("3/a,{}", DecodeError::MissingAckId),
        (
            "0/admin,1",
            DecodeError::UnexpectedAckId(PacketType::Connect),
        ),
        (
            "1/a,1",
            DecodeError::UnexpectedAckId(PacketType::Disconnect),
        ),
        ("1[]", DecodeError::InvalidPayload(PacketType::Disconnect)),
        ("0[]", DecodeError::InvalidPayload(PacketType::Connect)),
        ("2999999999999999999999[\"a\"]", DecodeError::InvalidAckId),
        (
            "2/a#b,[\"a\"]",
            DecodeError::InvalidNamespace(NamespaceError::ForbiddenChar('#')),
        ),
        ("5[\"a\"]", DecodeError::IllegalAttachments),
        ("51[\"a\"]", DecodeError::IllegalAttachments),
        ("5-[\"a\"]", DecodeError::IllegalAttachments),
        ("511-[\"a\"]", DecodeError::TooManyAttachments { max: 10 }),
        ("51-", DecodeError::UnreferencedAttachment(0)),
        (r#"51-["a"]"#, DecodeError::UnreferencedAttachment(0)),
        ("61-[]", DecodeError::MissingAckId),
    ];
    for (text, err) in cases {
        assert_eq!(checked(text, &[]), Err(err.clone()), "{text}");
    }
    // Not JSON where the payload starts (`4abc` is `abc` after Engine.IO's `4`; `2abc[...]`
    // and `2admin,[...]` have no ack id or namespace to read before the JSON).
    for text in ["4abc", "2abc[\"a\"]", "2admin,[\"a\"]"] {
        let res = checked(text, &[]);
        assert!(
            matches!(res, Err(DecodeError::InvalidJson(_))),
            "{text}: {res:?}"
        );
    }
    let long_ns = format!("2/{},[\"a\"]", "n".repeat(300));
    assert_eq!(
        checked(&long_ns, &[]),
        Err(DecodeError::InvalidNamespace(NamespaceError::TooLong {
            max: 256
        }))
    );
    let limits = DecodeLimits::default().with_max_packet_bytes(8);
    assert_eq!(
        PacketRef::parse(r#"2["abcdefgh"]"#, &limits),
        Err(DecodeError::PacketTooLarge { max: 8 })
    );
}

#[test]
fn malformed_json_past_the_start_is_found_by_the_reader() {
    for text in [
        r#"2["a",{"b":]"#,
        r#"2["a"]]"#,
        "2[22e9990] ",
        r#"3/admin,1[1,]"#,
        r#"0{"a":1}x"#,
        r#"4"unterminated"#,
    ] {
        let p = checked(text, &[]).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(
            matches!(p.validate(), Err(DecodeError::InvalidJson(_))),
            "{text}"
        );
        #[cfg(feature = "serde")]
        {
            assert!(
                p.event_args::<Vec<serde_json::Value>>(&[]).is_err(),
                "{text}"
            );
            assert!(p.deserialize::<serde_json::Value>(&[]).is_err(), "{text}");
        }
    }
    // The full check (numbers out of range in binary packets) runs at once, as in the decoder.
    let text = format!(r#"51-["a",1e400,{PH0}]"#);
    assert!(matches!(
        checked(&text, &[]),
        Err(DecodeError::InvalidJson(_))
    ));
}

#[test]
fn binary_headers() {
    let text = format!(r#"51-/up,3["file",{PH0}]"#);
    let atts = [Bytes::from_static(b"\x01\x02")];
    let p = checked(&text, &atts).unwrap();
    assert_eq!(p.packet_type(), PacketType::BinaryEvent);
    assert_eq!(
        (p.ns(), p.ack_id(), p.attachments()),
        ("/up", Some(AckId(3)), 1)
    );
    assert_eq!(p.event_name().as_deref(), Some("file"));
    assert_eq!(p.validate(), Ok(()));

    let text = format!(r#"61-9[{PH0}]"#);
    let p = checked(&text, &atts).unwrap();
    assert_eq!(p.packet_type(), PacketType::BinaryAck);
    assert_eq!(p.event_name(), None);

    // No attachment declared: complete at once, as the decoder has it.
    let p = checked(r#"50-["x"]"#, &[]).unwrap();
    assert_eq!(
        (p.packet_type(), p.attachments()),
        (PacketType::BinaryEvent, 0)
    );

    // Misplaced or missing placeholders are refused at once (the full check).
    for (text, err) in [
        (
            r#"51-["a",{"_placeholder":true,"num":1}]"#.to_owned(),
            DecodeError::InvalidPlaceholder,
        ),
        (
            format!(r#"52-["a",{PH0},{PH0}]"#),
            DecodeError::InvalidPlaceholder,
        ),
        (
            format!(r#"52-["a",{PH0},"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]"#),
            DecodeError::UnreferencedAttachment(1),
        ),
        (
            format!(r#"51-["connect",{PH0}]"#),
            DecodeError::ReservedEventName("connect".into()),
        ),
    ] {
        assert_eq!(checked(&text, &[]), Err(err), "{text}");
    }
    // A spelling the fast path does not know goes to the full check, and passes.
    let text = r#"51-["a",{"num":0,"_placeholder":true}]"#;
    let p = checked(text, &[Bytes::from_static(b"z")]).unwrap();
    assert_eq!(p.validate(), Ok(()));
}

#[cfg(feature = "serde")]
#[test]
fn typed_reads_match_the_payload() {
    use crate::{ArgsError, Binary};

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Data {
        foo: String,
        arr: [u8; 3],
    }
    let p = checked(r#"2["event",{"foo":"bar","arr":[1,2,3]}]"#, &[]).unwrap();
    let (d,): (Data,) = p.event_args(&[]).unwrap();
    assert_eq!(
        d,
        Data {
            foo: "bar".into(),
            arr: [1, 2, 3]
        }
    );
    let p = checked(r#"30[{"foo":"bar","arr":[1,2,3]}]"#, &[]).unwrap();
    let d: Data = p.ack_args(&[]).unwrap();
    assert_eq!(d.arr, [1, 2, 3]);
    // Borrowed strings borrow from the text.
    let text = r#"2["e","plain"]"#;
    let p = checked(text, &[]).unwrap();
    let (s,): (&str,) = p.event_args(&[]).unwrap();
    assert_eq!(s.as_ptr(), text[7..].as_ptr());
    // No payload: no arguments.
    let p = checked("3/a,1", &[]).unwrap();
    let v: Vec<u8> = p.ack_args(&[]).unwrap();
    assert!(v.is_empty());
    let p = checked(r#"0{"token":"x"}"#, &[]).unwrap();
    let auth: serde_json::Value = p.deserialize(&[]).unwrap();
    assert_eq!(auth["token"], "x");

    // Attachments: exactly as many as declared.
    let text = format!(r#"51-["upload",{PH0}]"#);
    let p = checked(&text, &[Bytes::from_static(b"abc")]).unwrap();
    let atts = [Bytes::from_static(b"abc")];
    let (b,): (Binary,) = p.event_args(&atts).unwrap();
    assert_eq!(b.as_ptr(), atts[0].as_ptr());
    let two = [Bytes::from_static(b"a"), Bytes::from_static(b"b")];
    assert_eq!(
        p.event_args::<(Binary,)>(&two),
        Err(ArgsError::AttachmentCount {
            declared: 1,
            given: 2
        })
    );
    assert_eq!(
        p.deserialize::<serde_json::Value>(&[]),
        Err(ArgsError::AttachmentCount {
            declared: 1,
            given: 0
        })
    );
    let p = checked(r#"2["e",1]"#, &[]).unwrap();
    assert_eq!(
        p.event_args::<(u8,)>(&atts),
        Err(ArgsError::AttachmentCount {
            declared: 0,
            given: 1
        })
    );
    // A placeholder in a text packet is an object, not binary data.
    let text = format!(r#"2["e",{PH0}]"#);
    let p = checked(&text, &[]).unwrap();
    assert!(matches!(
        p.event_args::<(Binary,)>(&[]),
        Err(ArgsError::Deserialize(_))
    ));
}

/// `parse` keeps where the arguments start after a plain event name; the reader then starts
/// there, and must read what it reads when it looks for the name's end itself.
#[cfg(feature = "serde")]
#[test]
fn arguments_after_a_name_read_with_the_header() {
    use serde_json::Value;

    let cases = [
        // Plain names, with and without arguments and whitespace.
        (r#"2["a",1,"x"]"#, true),
        (r#"2[ "a" , 1 ,"x"]"#, true),
        ("2[\"a\"\n,\t1]", true),
        (r#"2["a"]"#, true),
        (r#"2["a" ]"#, true),
        (r#"2["é",[1]]"#, true),
        (r#"2["",{}]"#, true),
        // Not a plain name: the reader reads it as before.
        (r#"2["\u0061",1]"#, true),
        (r#"2[7,1]"#, true),
        (r#"2[-1.5e3,1]"#, true),
        // Malformed after the name: refused by the reader either way.
        (r#"2["a" 1]"#, false),
        (r#"2["a",]"#, false),
        (r#"2["a","#, false),
        (r#"2["a""#, false),
        (r#"2["a"]]"#, false),
        (r#"2["a"}"#, false),
        // A control character in the name: accepted at once, refused by the reader.
        ("2[\"a\u{1}\",1]", false),
        ("2[\"\u{1f}\"]", false),
    ];
    for (text, ok) in cases {
        let p = checked(text, &[]).unwrap();
        let mut d = Decoder::new(DecodeLimits::default()).defer_json_check(true);
        let packet = d.decode_text(text.into()).unwrap().unwrap();
        let payload = packet.payload().unwrap();
        let by_ref = p.event_args::<Vec<Value>>(&[]);
        assert_eq!(by_ref, payload.event_args::<Vec<Value>>(), "{text}");
        assert_eq!(by_ref.is_ok(), ok, "{text}");
        assert_eq!(
            p.event_args::<(i64, String)>(&[]),
            payload.event_args::<(i64, String)>(),
            "{text}"
        );
        assert_eq!(
            p.event_args::<()>(&[]),
            payload.event_args::<()>(),
            "{text}"
        );
    }
    // A binary packet's arguments, after the name.
    let text = format!(r#"51-[ "up" ,"a.bin",{PH0}]"#);
    let atts = [Bytes::from_static(b"xy")];
    let p = checked(&text, &atts).unwrap();
    let (name, data): (String, crate::Binary) = p.event_args(&atts).unwrap();
    assert_eq!((name.as_str(), &data[..]), ("a.bin", &b"xy"[..]));
}
