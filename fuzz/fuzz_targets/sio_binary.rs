//! A binary packet header built from the input, then its attachments: never panics, the
//! decoder completes exactly when the last attachment arrives, and the payload's arguments
//! deserialise (or fail) without panicking.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use socketio_proto::{Binary, DecodeLimits, Decoder};

fuzz_target!(|data: &[u8]| {
    // First byte: number of attachments to feed; then the text up to a 0xff separator; the
    // rest is split into attachments.
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|&b| b == 0xff).unwrap_or(rest.len());
    let Ok(text) = std::str::from_utf8(&rest[..split]) else {
        return;
    };
    let body = rest.get(split + 1..).unwrap_or_default();
    let mut decoder = Decoder::new(DecodeLimits::default());
    let mut packet = match decoder.decode_text(text.into()) {
        Ok(p) => p,
        Err(_) => return,
    };
    let n = usize::from(count % 16).max(1);
    let chunk = body.len() / n + 1;
    for part in body.chunks(chunk).take(n) {
        let waiting = decoder.awaiting_attachments();
        match decoder.decode_binary(Bytes::copy_from_slice(part)) {
            Ok(Some(p)) => {
                assert_eq!(waiting, 1);
                packet = Some(p);
            }
            Ok(None) => assert_eq!(decoder.awaiting_attachments(), waiting - 1),
            Err(_) => assert_eq!(decoder.awaiting_attachments(), 0),
        }
    }
    if let Some(payload) = packet.as_ref().and_then(|p| p.payload()) {
        let _ = payload.event_args::<Vec<serde_json::Value>>();
        let _ = payload.event_args::<(String, Binary, Binary)>();
        let _ = payload.ack_args::<Vec<Binary>>();
    }
});
