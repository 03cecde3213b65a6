//! One Socket.IO text message into a fresh decoder: never panics, and whatever decodes
//! re-encodes to text that decodes to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socketio_proto::{DecodeLimits, Decoder};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut decoder = Decoder::new(DecodeLimits::default());
    match decoder.decode_text(text.into()) {
        Ok(Some(packet)) => {
            let enc = packet.encode();
            assert!(enc.attachments().is_empty());
            let again = Decoder::new(DecodeLimits::default())
                .decode_text(enc.text())
                .expect("re-encoded packet decodes");
            assert_eq!(again, Some(packet));
            if let Some(p) = again.as_ref().and_then(|p| p.payload()) {
                let _ = p.event_args::<Vec<serde_json::Value>>();
            }
        }
        Ok(None) => assert!(decoder.awaiting_attachments() > 0),
        Err(_) => assert_eq!(decoder.awaiting_attachments(), 0),
    }
});
