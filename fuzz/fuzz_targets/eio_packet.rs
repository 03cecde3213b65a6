//! `Packet::decode_text` on arbitrary UTF-8 and `Packet::decode_ws` on arbitrary binary frames:
//! never panics, and whatever decodes re-encodes to something that decodes to the same packet.
#![no_main]

use bytes::Bytes;
use engineio_proto::{Packet, Utf8Bytes, WsMessage};
use libfuzzer_sys::fuzz_target;

fn round_trip(p: &Packet) {
    let text = p.encode_text();
    assert_eq!(
        text.len(),
        p.encoded_text_len(),
        "encoded_text_len of {p:?}"
    );
    let again = Packet::decode_text(&text)
        .unwrap_or_else(|e| panic!("{p:?} encoded as {text:?} does not decode: {e}"));
    assert_eq!(&again, p, "text round trip through {text:?}");
    let ws = p.encode_ws();
    let again = Packet::decode_ws(&ws)
        .unwrap_or_else(|e| panic!("{p:?} encoded as {ws:?} does not decode: {e}"));
    assert_eq!(&again, p, "ws round trip through {ws:?}");
}

fuzz_target!(|data: &[u8]| {
    let frame = WsMessage::Binary(Bytes::copy_from_slice(data));
    let p = Packet::decode_ws(&frame).expect("a binary frame is always a binary message");
    round_trip(&p);

    if let Ok(s) = std::str::from_utf8(data) {
        let text = Utf8Bytes::from(s);
        if let Ok(p) = Packet::decode_text(&text) {
            round_trip(&p);
        }
        let ws = WsMessage::Text(text.clone());
        assert_eq!(Packet::decode_ws(&ws), Packet::decode_text(&text));
    }
});
