//! The serde helpers: user data in, packets out, and back, attachments included.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::ns;
use crate::{
    AckId, Binary, DecodeLimits, Decoder, EncodeError, Encoded, Namespace, Packet, Payload,
};

#[derive(Debug, Deserialize, PartialEq, Serialize)]
struct File {
    name: String,
    data: Binary,
    parts: Vec<Binary>,
}

#[derive(Debug, Deserialize, PartialEq, Serialize)]
enum Shape {
    Unit,
    Blob(Binary),
    Pair(u8, Binary),
    Named { b: Binary },
}

#[test]
fn tuple_args_become_event_elements() {
    #[derive(Serialize)]
    struct S {
        z: u8,
        a: &'static str,
    }
    let p = Packet::event(
        Namespace::main(),
        "event",
        &("hello", 1, S { z: 1, a: "x" }),
        None,
    )
    .unwrap();
    assert_eq!(p.encode().text(), r#"2["event","hello",1,{"z":1,"a":"x"}]"#);
    // Field order is declaration order (no map sorting).
}

#[test]
fn args_shapes() {
    let enc = |args: &dyn erased::Ser| erased::event(args);
    assert_eq!(enc(&()), r#"2["e"]"#);
    assert_eq!(enc(&("a",)), r#"2["e","a"]"#);
    assert_eq!(enc(&(vec![1, 2],)), r#"2["e",[1,2]]"#);
    assert_eq!(enc(&vec![1, 2]), r#"2["e",1,2]"#);
    assert_eq!(enc(&Vec::<u8>::new()), r#"2["e"]"#);
    assert_eq!(enc(&"single"), r#"2["e","single"]"#);
    assert_eq!(enc(&7), r#"2["e",7]"#);
    assert_eq!(enc(&(None::<u8>,)), r#"2["e",null]"#);
    assert_eq!(
        Packet::ack(Namespace::main(), AckId(1), &())
            .unwrap()
            .encode()
            .text(),
        "31[]"
    );
    assert_eq!(
        Packet::ack(Namespace::main(), AckId(1), &"x")
            .unwrap()
            .encode()
            .text(),
        r#"31["x"]"#
    );
    assert_eq!(
        Packet::ack(
            ns("/a"),
            AckId(456),
            &(1, "2", serde_json::json!({"3": [false]}))
        )
        .unwrap()
        .encode()
        .text(),
        r#"3/a,456[1,"2",{"3":[false]}]"#
    );
}

/// Lets `args_shapes` pass differently typed values through one closure.
mod erased {
    use super::*;

    pub(super) trait Ser {
        fn event(&self) -> String;
    }

    impl<T: Serialize> Ser for T {
        fn event(&self) -> String {
            Encoded::event(&Namespace::main(), "e", self, None)
                .unwrap()
                .text()
                .to_string()
        }
    }

    pub(super) fn event(args: &dyn Ser) -> String {
        args.event()
    }
}

#[test]
fn binary_values_become_attachments_without_copies() {
    let data = Bytes::from(vec![1u8, 2, 3]);
    let file = File {
        name: "f".into(),
        data: Binary(data.clone()),
        parts: vec![Binary::from_static(b"a"), Binary::from_static(b"b")],
    };
    let enc = Encoded::event(&ns("/up"), "file", &(&file,), Some(AckId(9))).unwrap();
    assert_eq!(
        enc.text(),
        concat!(
            r#"53-/up,9["file",{"name":"f","data":{"_placeholder":true,"num":0},"#,
            r#""parts":[{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]}]"#
        )
    );
    assert_eq!(enc.attachments()[0].as_ptr(), data.as_ptr());
    assert_eq!(enc.engineio_text().as_str().as_bytes()[0], b'4');

    // Through the decoder and back into the user type, still without copies.
    let mut d = Decoder::new(DecodeLimits::default());
    let mut msgs = enc.messages();
    let Some(engineio_proto::Message::Text(t)) = msgs.next() else {
        panic!()
    };
    assert_eq!(d.decode_text(t).unwrap(), None);
    let mut packet = None;
    for m in msgs {
        let engineio_proto::Message::Binary(b) = m else {
            panic!()
        };
        packet = d.decode_binary(b).unwrap();
    }
    let Some(Packet::Event {
        data: payload, ack, ..
    }) = packet
    else {
        panic!()
    };
    assert_eq!(ack, Some(AckId(9)));
    let (back,): (File,) = payload.event_args().unwrap();
    assert_eq!(back, file);
    assert_eq!(back.data.as_ptr(), data.as_ptr());
    let single: File = payload.event_args().unwrap();
    assert_eq!(single, file);
}

#[test]
fn enums_options_and_maps_resolve_placeholders() {
    let args = (
        Shape::Unit,
        Shape::Blob(Binary::from_static(b"1")),
        Shape::Pair(7, Binary::from_static(b"2")),
        Shape::Named {
            b: Binary::from_static(b"3"),
        },
        Some(Binary::from_static(b"4")),
        std::collections::BTreeMap::from([("k".to_owned(), Binary::from_static(b"5"))]),
    );
    let p = Packet::event(Namespace::main(), "x", &args, None).unwrap();
    assert_eq!(p.payload().unwrap().attachments().len(), 5);
    type Args = (
        Shape,
        Shape,
        Shape,
        Shape,
        Option<Binary>,
        std::collections::BTreeMap<String, Binary>,
    );
    let back: Args = p.payload().unwrap().event_args().unwrap();
    assert_eq!(back, args);
}

#[test]
fn missing_or_extra_arguments() {
    let p = Payload::from_json(r#"["e",1,2,3]"#);
    let (a, b): (u8, u8) = p.event_args().unwrap();
    assert_eq!((a, b), (1, 2));
    assert!(p.event_args::<(u8, u8, u8, u8)>().is_err());
    let all: Vec<u8> = p.event_args().unwrap();
    assert_eq!(all, [1, 2, 3]);
    let first: u8 = p.event_args().unwrap();
    assert_eq!(first, 1);
    let opt: Option<u8> = p.event_args().unwrap();
    assert_eq!(opt, Some(1));
    let none: Option<u8> = Payload::from_json(r#"["e"]"#).event_args().unwrap();
    assert_eq!(none, None);
    let () = p.event_args().unwrap();
    // No payload at all: no arguments.
    let empty = Payload::default();
    let v: Vec<u8> = empty.event_args().unwrap();
    assert!(v.is_empty());
    let v: Vec<u8> = empty.ack_args().unwrap();
    assert!(v.is_empty());
    let acked: (u8, String) = Payload::from_json(r#"[1,"2"]"#).ack_args().unwrap();
    assert_eq!(acked, (1, "2".into()));
}

#[test]
fn bad_placeholders_are_errors_when_deserializing() {
    // In a plain EVENT a placeholder is just an object, and resolves to nothing.
    let p = Payload::from_json(r#"["e",{"_placeholder":true,"num":0}]"#);
    assert!(p.event_args::<(Binary,)>().is_err());
    let p = Payload::new(
        r#"["e",{"_placeholder":true,"num":1}]"#.into(),
        vec![Bytes::from_static(b"x")],
    );
    assert!(p.event_args::<(Binary,)>().is_err());
    let p = Payload::from_json(r#"["e","not binary"]"#);
    assert!(p.event_args::<(Binary,)>().is_err());
}

#[test]
fn exact_placeholders_at_the_top_level() {
    let atts = || vec![Bytes::from_static(b"a"), Bytes::from_static(b"bc")];
    let p = Payload::new(
        r#"["e",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]"#.into(),
        atts(),
    );
    let (x, y): (Binary, Option<Binary>) = p.event_args().unwrap();
    assert_eq!(
        (&x[..], y.as_deref().map(|b| &b[..])),
        (&b"bc"[..], Some(&b"a"[..]))
    );
    // The attachment itself, not a copy.
    assert_eq!(x.as_ptr(), p.attachments()[1].as_ptr());
    let all: Vec<Binary> = p.event_args().unwrap();
    assert_eq!(all.len(), 2);
    let first: Binary = p.event_args().unwrap();
    assert_eq!(&first[..], b"bc");
    // Read as anything else, a placeholder is the object it is.
    let (v,): (serde_json::Value,) = p.event_args().unwrap();
    assert_eq!(v, serde_json::json!({"_placeholder": true, "num": 1}));
    for json in [
        r#"["e",{"_placeholder":true,"num":2}]"#,
        r#"["e",{"_placeholder":true,"num":18446744073709551616}]"#,
        r#"["e",{"_placeholder":true,"num":9999999999999999999}]"#,
        r#"["e",{"_placeholder":true,"num":01}]"#,
        r#"["e",{"_placeholder":true,"num":0}}]"#,
        r#"["e",{"_placeholder":true,"num":0} 1]"#,
    ] {
        let p = Payload::new(json.into(), atts());
        assert!(p.event_args::<(Binary,)>().is_err(), "{json}");
    }
}

#[test]
fn placeholder_spellings_and_scalars_next_to_attachments() {
    let att = || vec![Bytes::from_static(b"x")];
    // Keys in any order, escaped, with extra keys: still the placeholder.
    for json in [
        r#"["e",{"num":0,"_placeholder":true}]"#,
        r#"["e",{"\u005fplaceholder":true,"n\u0075m":0}]"#,
        r#"["e",{"_placeholder":true,"other":[1,{"a":2}],"num":0}]"#,
        r#"["e", { "_placeholder" : true , "num" : 0 } ]"#,
    ] {
        let p = Payload::new(json.into(), att());
        let (b,): (Binary,) = p.event_args().unwrap();
        assert_eq!(&b[..], b"x", "{json}");
    }
    // Not a placeholder: the marker false or missing, the num not a number.
    for json in [
        r#"["e",{"_placeholder":false,"num":0}]"#,
        r#"["e",{"num":0}]"#,
        r#"["e",{"_placeholder":true,"num":"0"}]"#,
        r#"["e",{"_placeholder":true}]"#,
        r#"["e",[0]]"#,
    ] {
        let p = Payload::new(json.into(), att());
        assert!(p.event_args::<(Binary,)>().is_err(), "{json}");
    }
    // Scalars, strings and identifiers next to an attachment are read as they are, and a
    // scalar request on a nested value is still an error.
    #[derive(Debug, Deserialize, PartialEq)]
    struct Mixed {
        n: i32,
        f: f64,
        s: String,
        c: char,
        u: (),
        b: bool,
        k: Key,
    }
    #[derive(Debug, Deserialize, PartialEq)]
    enum Key {
        A,
    }
    let p = Payload::new(
        r#"["e",{"n":-3,"f":1.5,"s":"t\"","c":"z","u":null,"b":true,"k":"A"},{"_placeholder":true,"num":0}]"#
            .into(),
        att(),
    );
    let (m, b): (Mixed, Binary) = p.event_args().unwrap();
    assert_eq!(
        m,
        Mixed {
            n: -3,
            f: 1.5,
            s: "t\"".into(),
            c: 'z',
            u: (),
            b: true,
            k: Key::A
        }
    );
    assert_eq!(&b[..], b"x");
    assert!(p.event_args::<(u8, Binary)>().is_err());
    assert!(p.event_args::<(String, Binary)>().is_err());
    let (_, v): (serde::de::IgnoredAny, Binary) = p.event_args().unwrap();
    assert_eq!(&v[..], b"x");
}

#[test]
fn reserved_names_cannot_be_emitted() {
    assert_eq!(
        Packet::event(Namespace::main(), "disconnect", &(), None),
        Err(EncodeError::ReservedEventName("disconnect".into()))
    );
}

#[test]
fn connect_error_with_data_and_auth_payloads() {
    let p = Packet::connect_error_with_data(
        ns("/admin"),
        "not authorized",
        &serde_json::json!({"content": "retry later"}),
    )
    .unwrap();
    assert_eq!(
        p.encode().text(),
        r#"4/admin,{"message":"not authorized","data":{"content":"retry later"}}"#
    );
    #[derive(Debug, Deserialize, PartialEq, Serialize)]
    struct Auth {
        token: String,
    }
    let auth = crate::to_payload(&Auth {
        token: "123".into(),
    })
    .unwrap();
    assert_eq!(auth.json(), r#"{"token":"123"}"#);
    assert_eq!(
        auth.deserialize::<Auth>().unwrap(),
        Auth {
            token: "123".into()
        }
    );
    let p = Packet::Connect {
        ns: Namespace::main(),
        auth: Some(auth),
    };
    assert_eq!(p.encode().text(), r#"0{"token":"123"}"#);
}

#[test]
fn binary_with_plain_serde_json_is_plain_bytes() {
    let v = serde_json::to_string(&Binary::from_static(b"\x01\x02")).unwrap();
    assert_eq!(v, "[1,2]");
    let b: Binary = serde_json::from_str(&v).unwrap();
    assert_eq!(&b[..], b"\x01\x02");
}

#[test]
fn serde_built_packets_round_trip_through_the_decoder() {
    let p = Packet::event(
        ns("/x"),
        "e",
        &("a", Binary::from_static(b"1"), [Binary::from_static(b"2")]),
        Some(AckId(0)),
    )
    .unwrap();
    let enc = p.encode();
    let mut d = Decoder::new(DecodeLimits::default());
    assert_eq!(d.decode_text(enc.text()).unwrap(), None);
    assert_eq!(d.decode_binary(enc.attachments()[0].clone()).unwrap(), None);
    let back = d.decode_binary(enc.attachments()[1].clone()).unwrap();
    assert_eq!(back, Some(p));
}
