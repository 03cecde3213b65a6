//! A sequence of text and binary messages into one decoder (stateful): never panics, after
//! every error the decoder holds nothing, a decoder that defers the JSON check, fed the same
//! messages, gives the same results once `Packet::validate` has run, and a third one read
//! through `read_text`/`read_binary` gives the same packets (`PacketBuf::into_packet`) and
//! errors as the first. A text that reaches an idle decoder gives what a fresh decoder gives
//! (the decoders keep a namespace memo from one packet to the next).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use socketio_proto::{DecodeLimits, Decoder};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default()
        .with_max_attachments(4)
        .with_max_packet_bytes(4096)
        .with_max_namespace_len(32);
    let mut decoder = Decoder::new(limits);
    let mut lazy = Decoder::new(limits).defer_json_check(true);
    let mut reader = Decoder::new(limits);
    // Messages are separated by 0xfe; a leading 0x00 marks a binary message.
    for msg in data.split(|&b| b == 0xfe) {
        let idle = decoder.awaiting_attachments() == 0;
        let (res, deferred, read) = match msg.split_first() {
            Some((0, bin)) => {
                let bin = Bytes::copy_from_slice(bin);
                (
                    decoder.decode_binary(bin.clone()),
                    lazy.decode_binary(bin.clone()),
                    reader.read_binary(bin),
                )
            }
            _ => match std::str::from_utf8(msg) {
                Ok(text) => {
                    let res = decoder.decode_text(text.into());
                    if idle {
                        assert_eq!(Decoder::new(limits).decode_text(text.into()), res);
                    }
                    (
                        res,
                        lazy.decode_text(text.into()),
                        reader.read_text(text.into()),
                    )
                }
                Err(_) => continue,
            },
        };
        assert_eq!(read.map(|p| p.map(|p| p.into_packet())), res);
        assert_eq!(
            reader.awaiting_attachments(),
            decoder.awaiting_attachments()
        );
        let deferred = deferred.and_then(|p| match p {
            Some(p) => p.validate().map(|()| Some(p)),
            None => Ok(None),
        });
        assert_eq!(deferred, res);
        assert_eq!(lazy.awaiting_attachments(), decoder.awaiting_attachments());
        match res {
            Ok(Some(packet)) => {
                assert_eq!(decoder.awaiting_attachments(), 0);
                let enc = packet.encode();
                assert_eq!(enc.len(), 1 + enc.attachments().len());
            }
            Ok(None) => assert!(decoder.awaiting_attachments() > 0),
            Err(_) => assert_eq!(decoder.awaiting_attachments(), 0),
        }
    }
});
