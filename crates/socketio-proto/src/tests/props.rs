//! Property tests: round trips, attachment feeding, and no panics on arbitrary input.

use bytes::Bytes;
use proptest::prelude::*;

#[cfg(feature = "serde")]
use crate::Binary;
use crate::{AckId, DecodeLimits, Decoder, Namespace, Packet, PacketBuf, Payload};

/// A JSON value as compact text, as `JSON.stringify` writes it.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        ".{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z_]{0,6}", inner), 0..6).prop_map(|v| {
                let fields: Vec<String> = v
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

fn namespace() -> impl Strategy<Value = Namespace> {
    prop_oneof![
        Just(Namespace::main()),
        "/[a-zA-Z0-9_/ -]{1,20}".prop_map(|s| Namespace::new(s).unwrap()),
    ]
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,10}"
            .prop_filter("not reserved", |s| !crate::is_reserved_event(s))
            .prop_map(|s| serde_json::to_string(&s).unwrap()),
        any::<u32>().prop_map(|n| n.to_string()),
    ]
}

/// Arguments with `n` placeholders spread among them, and the `n` attachments.
fn args() -> impl Strategy<Value = (Vec<String>, Vec<Bytes>)> {
    (
        prop::collection::vec(json_value(), 0..5),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..16), 0..4),
    )
        .prop_flat_map(|(values, bins)| {
            let n = values.len() + bins.len();
            (Just(values), Just(bins), Just(n).prop_shuffle_indices())
        })
        .prop_map(|(values, bins, order)| {
            let mut items: Vec<String> = values;
            for num in 0..bins.len() {
                items.push(format!(r#"{{"_placeholder":true,"num":{num}}}"#));
            }
            let items = order.into_iter().map(|i| items[i].clone()).collect();
            (items, bins.into_iter().map(Bytes::from).collect())
        })
}

trait ShuffleIndices {
    fn prop_shuffle_indices(self) -> BoxedStrategy<Vec<usize>>;
}

impl ShuffleIndices for Just<usize> {
    fn prop_shuffle_indices(self) -> BoxedStrategy<Vec<usize>> {
        let n = self.0;
        Just((0..n).collect::<Vec<_>>()).prop_shuffle().boxed()
    }
}

fn packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (
            namespace(),
            prop::option::of(prop::collection::vec(("[a-z]{1,5}", json_value()), 0..4))
        )
            .prop_map(|(ns, auth)| Packet::Connect {
                ns,
                auth: auth.map(|fields| {
                    let fields: Vec<String> = fields
                        .into_iter()
                        .map(|(k, v)| format!(r#""{k}":{v}"#))
                        .collect();
                    Payload::from_json(format!("{{{}}}", fields.join(",")))
                }),
            }),
        namespace().prop_map(Packet::disconnect),
        (
            namespace(),
            event_name(),
            args(),
            prop::option::of(any::<u64>())
        )
            .prop_map(|(ns, name, (items, bins), ack)| {
                let mut all = vec![name];
                all.extend(items);
                Packet::Event {
                    ns,
                    data: Payload::new(format!("[{}]", all.join(",")).into(), bins),
                    ack: ack.map(AckId),
                }
            }),
        (namespace(), args(), any::<u64>()).prop_map(|(ns, (items, bins), id)| Packet::Ack {
            ns,
            data: Payload::new(format!("[{}]", items.join(",")).into(), bins),
            id: AckId(id),
        }),
        (namespace(), ".{0,20}").prop_map(|(ns, m)| Packet::connect_error(ns, &m)),
    ]
}

/// Feeds an encoded packet message by message.
fn feed(d: &mut Decoder, p: &Packet) -> Option<Packet> {
    let enc = p.encode();
    let n = enc.attachments().len();
    let first = d.decode_text(enc.text()).unwrap();
    if n == 0 {
        return first;
    }
    assert_eq!(first, None);
    let mut out = None;
    for (i, a) in enc.attachments().iter().enumerate() {
        assert_eq!(d.awaiting_attachments(), n - i);
        out = d.decode_binary(a.clone()).unwrap();
        assert_eq!(out.is_some(), i + 1 == n);
    }
    out
}

fn limits() -> DecodeLimits {
    DecodeLimits::default().with_max_attachments(64)
}

proptest! {
    #[test]
    fn encoded_connect_reply_matches_the_packet_path(
        ns in namespace(),
        sid in ".{0,24}",
        pid in proptest::option::of(".{0,24}"),
    ) {
        let (once, built) = match &pid {
            Some(pid) => (
                crate::Encoded::connect_ok_with_pid(&ns, &sid, pid),
                Packet::connect_ok_with_pid(ns.clone(), &sid, pid).encode(),
            ),
            None => (
                crate::Encoded::connect_ok(&ns, &sid),
                Packet::connect_ok(ns.clone(), &sid).encode(),
            ),
        };
        prop_assert_eq!(once, built);
    }

    #[test]
    fn decode_encode_round_trip(p in packet()) {
        let mut d = Decoder::new(limits());
        let back = feed(&mut d, &p);
        prop_assert_eq!(back.as_ref(), Some(&p));
        prop_assert_eq!(d.awaiting_attachments(), 0);
        // Re-encoding gives the same bytes.
        prop_assert_eq!(back.unwrap().encode(), p.encode());
    }

    #[test]
    fn one_decoder_many_packets(ps in prop::collection::vec(packet(), 1..8)) {
        let mut d = Decoder::new(limits());
        for p in &ps {
            let back = feed(&mut d, p);
            prop_assert_eq!(back.as_ref(), Some(p));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,64}") {
        let mut d = Decoder::default();
        let _ = d.decode_text(s.as_str().into());
        let _ = d.decode_binary(Bytes::from_static(b"x"));
    }

    #[test]
    fn header_like_text_never_panics(
        ty in "[0-9]",
        att in prop::option::of("[0-9]{0,3}-?"),
        nsp in prop::option::of("/[a-z,#]{0,4},?"),
        id in "[0-9]{0,22}",
        body in prop::option::of(json_value()),
    ) {
        let text = format!(
            "{ty}{}{}{id}{}",
            att.unwrap_or_default(),
            nsp.unwrap_or_default(),
            body.unwrap_or_default()
        );
        let mut d = Decoder::default();
        if let Ok(Some(p)) = d.decode_text(text.as_str().into()) {
            // Whatever decodes re-encodes to something that decodes to the same packet.
            let again = Decoder::default().decode_text(p.encode().text()).unwrap();
            prop_assert_eq!(again, Some(p));
        }
    }

    #[test]
    fn deferred_check_refuses_what_the_full_check_refuses(
        ty in "[0-6]",
        nsp in prop::option::of("/[a-z]{0,4},"),
        id in "[0-9]{0,3}",
        body in prop_oneof![
            json_value(),
            // Mangled JSON: a byte cut off or a character inserted.
            (json_value(), any::<prop::sample::Index>())
                .prop_map(|(j, i)| {
                    let mut at = i.index(j.len() + 1);
                    while !j.is_char_boundary(at) { at -= 1; }
                    let mut j = j;
                    j.truncate(at);
                    j
                }),
            (json_value(), any::<prop::sample::Index>(), "[\\[\\]{}\",:a\\\\ ]")
                .prop_map(|(j, i, c)| {
                    let mut at = i.index(j.len() + 1);
                    while !j.is_char_boundary(at) { at -= 1; }
                    let mut j = j;
                    j.insert_str(at, &c);
                    j
                }),
            Just(r#"["connect"]"#.to_owned()),
            // Found by fuzzing: a numeric name out of f64 range is refused by the full check.
            Just("[22e9990] ".to_owned()),
            Just(r#"["a",1e400]"#.to_owned()),
            Just(r#"["\u0064isconnect",1]"#.to_owned()),
        ],
    ) {
        let text = format!("{ty}{}{id}{body}", nsp.unwrap_or_default());
        let full = Decoder::default().decode_text(text.as_str().into());
        let deferred = super::deferred(&text);
        prop_assert_eq!(full.map(|p| p.expect("complete")), deferred);
    }

    #[test]
    fn deferred_check_of_binary_packets_matches_the_full_check(
        (p, text) in mangled_packet(),
    ) {
        // An encoded packet, possibly mangled after its header: the deferred decoder (and
        // then `validate`) must agree with the full one, attachments included.
        let enc = p.encode();
        let run = |mut d: Decoder| -> Result<Option<Packet>, crate::DecodeError> {
            let mut out = d.decode_text(text.as_str().into())?;
            for a in enc.attachments() {
                if d.awaiting_attachments() == 0 {
                    break;
                }
                out = d.decode_binary(a.clone())?;
            }
            Ok(out)
        };
        let full = run(Decoder::default());
        let lazy = run(Decoder::default().defer_json_check(true))
            .and_then(|p| match p {
                Some(p) => p.validate().map(|()| Some(p)),
                None => Ok(None),
            });
        prop_assert_eq!(lazy, full);
    }

    #[test]
    fn read_and_decode_agree_on_any_sequence(
        msgs in prop::collection::vec(
            prop_oneof![
                packet().prop_map(|p| {
                    let enc = p.encode();
                    let mut msgs = vec![Ok(enc.text().as_str().to_owned())];
                    msgs.extend(enc.attachments().iter().map(|a| Err(a.to_vec())));
                    msgs
                }),
                ".{0,40}".prop_map(|t| vec![Ok(t)]),
                prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| vec![Err(b)]),
            ],
            0..8,
        ),
        defer in any::<bool>(),
    ) {
        // Two decoders fed the same messages, one through `read_*`, one through `decode_*`.
        let new = || Decoder::new(limits()).defer_json_check(defer);
        let (mut read, mut decode) = (new(), new());
        for m in msgs.into_iter().flatten() {
            let (r, d) = match m {
                Ok(t) => (read.read_text(t.as_str().into()), decode.decode_text(t.as_str().into())),
                Err(b) => {
                    let b = Bytes::from(b);
                    (read.read_binary(b.clone()), decode.decode_binary(b))
                }
            };
            prop_assert_eq!(r.map(|p| p.map(PacketBuf::into_packet)), d);
            prop_assert_eq!(read.awaiting_attachments(), decode.awaiting_attachments());
        }
    }

    #[test]
    fn arbitrary_sequences_never_panic(
        msgs in prop::collection::vec(
            prop_oneof![
                ".{0,40}".prop_map(Ok),
                prop::collection::vec(any::<u8>(), 0..8).prop_map(Err),
            ],
            0..12,
        )
    ) {
        let mut d = Decoder::default();
        for m in msgs {
            let res = match m {
                Ok(t) => d.decode_text(t.as_str().into()),
                Err(b) => d.decode_binary(Bytes::from(b)),
            };
            if res.is_err() {
                prop_assert_eq!(d.awaiting_attachments(), 0);
            }
        }
    }
}

#[cfg(feature = "serde")]
/// Text near the shape of an argument array: well-formed arrays (names, values, placeholders,
/// whitespace) and the same with a token inserted or removed, plus token soup.
fn args_text() -> impl Strategy<Value = String> {
    let ws = prop_oneof![Just(""), Just(""), Just(" "), Just("\n\t"), Just("\r ")];
    let element = prop_oneof![
        4 => json_value(),
        1 => (0u8..3).prop_map(|n| format!(r#"{{"_placeholder":true,"num":{n}}}"#)),
        1 => prop::sample::select(vec![
            r#""\u0041""#, r#""a\"b""#, r#""connect""#, "1e400", "-0", "1.5e3", "18446744073709551616",
            "[[]]", r#"{"_placeholder":true}"#, "\"\u{1}\"",
            r#"{"_placeholder":true,"num":01}"#, r#"{"_placeholder":true,"num":0 }"#,
            r#"{"_placeholder":true,"num":1.0}"#, r#"{"_placeholder":true,"num":18446744073709551616}"#,
            r#"{"_placeholder":true,"num":9999999999999999999}"#, r#"{"_placeholder":true,"num":0,"x":1}"#,
        ]).prop_map(str::to_owned),
    ];
    let array = (
        ws.clone(),
        prop::collection::vec((element, ws.clone()), 0..5),
        ws,
    )
        .prop_map(|(lead, items, trail)| {
            let body: Vec<String> = items
                .into_iter()
                .map(|(e, w)| format!("{w}{e}{w}"))
                .collect();
            format!("{lead}[{}]{trail}", body.join(","))
        });
    let token = prop::sample::select(vec![
        "[", "]", "{", "}", ",", ":", " ", "\"", "\"e\"", "1", "-", ".5", "e5", "true", "nul", "x",
        "\\", "\u{1}",
    ]);
    let mutated = (
        array.clone(),
        any::<prop::sample::Index>(),
        token.clone(),
        any::<bool>(),
    )
        .prop_map(|(a, at, tok, insert)| {
            let cuts: Vec<usize> = (0..=a.len()).filter(|&i| a.is_char_boundary(i)).collect();
            let i = cuts[at.index(cuts.len())];
            if insert {
                format!("{}{tok}{}", &a[..i], &a[i..])
            } else {
                let j = cuts.iter().copied().find(|&j| j > i).unwrap_or(i);
                format!("{}{}", &a[..i], &a[j..])
            }
        });
    let soup = prop::collection::vec(token, 0..12).prop_map(|t| t.concat());
    prop_oneof![3 => array, 3 => mutated, 1 => soup]
}

#[cfg(feature = "serde")]
/// Whether the element-by-element reader gives what serde_json reading the whole array gave.
fn same_args<T>(p: &Payload) -> Result<(), TestCaseError>
where
    T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    for skip_name in [true, false] {
        let new = if skip_name {
            p.event_args::<T>()
        } else {
            p.ack_args::<T>()
        };
        let old = crate::de::args_reference::<T>(p, skip_name);
        prop_assert_eq!(new.ok(), old.ok(), "{:?} skip_name {}", p.json(), skip_name);
    }
    Ok(())
}

#[cfg(feature = "serde")]
proptest! {
    #[test]
    fn args_read_one_by_one_match_the_whole_array_read(
        json in args_text(),
        attachments in 0usize..3,
    ) {
        use serde_json::Value;
        let atts = (0..attachments).map(|i| Bytes::from(vec![i as u8; i])).collect();
        let p = Payload::new(json.as_str().into(), atts);
        same_args::<Vec<Value>>(&p)?;
        same_args::<(Value,)>(&p)?;
        same_args::<(Value, Value)>(&p)?;
        same_args::<()>(&p)?;
        same_args::<Option<Value>>(&p)?;
        same_args::<Value>(&p)?;
        same_args::<(String, u8)>(&p)?;
        same_args::<(Binary,)>(&p)?;
        same_args::<Vec<Binary>>(&p)?;
        same_args::<(Value, Binary)>(&p)?;
        same_args::<Option<Binary>>(&p)?;
        same_args::<Vec<Option<Binary>>>(&p)?;
    }
}

/// A JSON value, or one mangled: a byte cut off, or a token inserted.
fn mangled_json() -> impl Strategy<Value = String> {
    prop_oneof![
        json_value(),
        (json_value(), any::<prop::sample::Index>()).prop_map(|(mut j, i)| {
            let mut at = i.index(j.len() + 1);
            while !j.is_char_boundary(at) {
                at -= 1;
            }
            j.truncate(at);
            j
        }),
        (
            json_value(),
            any::<prop::sample::Index>(),
            "[\\[\\]{}\",:a0-9\\\\ _]"
        )
            .prop_map(|(mut j, i, c)| {
                let mut at = i.index(j.len() + 1);
                while !j.is_char_boundary(at) {
                    at -= 1;
                }
                j.insert_str(at, &c);
                j
            }),
        Just(r#"["connect"]"#.to_owned()),
        Just(r#"["\u0064isconnect",1]"#.to_owned()),
        Just(r#"["a",1e400]"#.to_owned()),
    ]
}

proptest! {
    #[test]
    fn packet_ref_reads_header_like_text_as_the_deferred_decoder(
        ty in "[0-7]",
        att in prop::option::of("[0-9]{0,2}-?"),
        nsp in prop::option::of("/[a-z,#]{0,4},?"),
        id in "[0-9]{0,22}",
        body in prop::option::of(mangled_json()),
        small in any::<bool>(),
    ) {
        let text = format!(
            "{ty}{}{}{id}{}",
            att.unwrap_or_default(),
            nsp.unwrap_or_default(),
            body.unwrap_or_default()
        );
        let limits = if small {
            DecodeLimits::default().with_max_namespace_len(3).with_max_packet_bytes(24)
        } else {
            DecodeLimits::default()
        };
        let decoded = Decoder::new(limits).defer_json_check(true).decode_text(text.as_str().into());
        super::same_as_ref(&text, &limits, &decoded, &[]);
    }

    #[test]
    fn packet_ref_reads_encoded_packets_as_the_deferred_decoder(
        (p, text) in mangled_packet(),
    ) {
        // An encoded packet, possibly mangled after its header; with its attachments, the
        // typed reads through `PacketRef` and through the decoder's `Payload` must agree.
        let enc = p.encode();
        let limits = limits();
        let decoded = Decoder::new(limits).defer_json_check(true).decode_text(text.as_str().into());
        super::same_as_ref(&text, &limits, &decoded, enc.attachments());
    }
}

#[cfg(feature = "serde")]
proptest! {
    #[test]
    fn packet_ref_typed_reads_match_the_payload(
        json in args_text(),
        attachments in 0usize..3,
        ack in any::<bool>(),
    ) {
        let atts: Vec<Bytes> = (0..attachments).map(|i| Bytes::from(vec![i as u8; i])).collect();
        let ty = match (attachments, ack) {
            (0, false) => "2".to_owned(),
            (0, true) => "31".to_owned(),
            (n, false) => format!("5{n}-"),
            (n, true) => format!("6{n}-1"),
        };
        let text = format!("{ty}{json}");
        let limits = limits();
        let decoded = Decoder::new(limits).defer_json_check(true).decode_text(text.as_str().into());
        super::same_as_ref(&text, &limits, &decoded, &atts);
    }
}

/// A packet and its encoded text, possibly mangled after the header: a JSON-ish character
/// inserted at a chosen point of the body, or the body cut there.
fn mangled_packet() -> impl Strategy<Value = (Packet, String)> {
    (
        packet(),
        any::<prop::sample::Index>(),
        prop_oneof![Just(None), "[\\[\\]{}\",:a0-9\\\\ _]".prop_map(Some)],
        any::<bool>(),
    )
        .prop_map(|(p, at, edit, cut)| {
            let text = mangle_body(&p.encode().text(), at, edit, cut);
            (p, text)
        })
}

/// `text` with `edit` inserted at a point of its body chosen by `at` (the header is left
/// alone), or cut there when there is no edit and `cut` is set.
fn mangle_body(text: &str, at: prop::sample::Index, edit: Option<String>, cut: bool) -> String {
    let mut text = text.to_owned();
    let body_start = text.find(['[', '{', '"']).unwrap_or(text.len());
    let mut i = body_start + at.index(text.len() - body_start + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    match edit {
        Some(c) => text.insert_str(i, &c),
        None if cut => text.truncate(i),
        None => {}
    }
    text
}
