//! One Socket.IO text message into a fresh decoder: never panics, whatever decodes re-encodes
//! to text that decodes to the same packet, and a decoder that defers the JSON check to the
//! reader accepts exactly the same packets once `Packet::validate` has run, with the same
//! errors (and its typed readers refuse what `validate` refuses); `PacketRef` reads the text
//! in place exactly as the deferring decoder does; `read_text` gives what `decode_text` gives,
//! as a `PacketBuf` that converts into the same packet and validates alike.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socketio_proto::{
    DecodeError, DecodeLimits, Decoder, Packet, PacketBuf, PacketRef, PacketType,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut decoder = Decoder::new(DecodeLimits::default());
    let full = decoder.decode_text(text.into());
    let mut lazy = Decoder::new(DecodeLimits::default()).defer_json_check(true);
    let lazy_result = lazy.decode_text(text.into());
    same_in_place(text, &lazy_result, lazy.awaiting_attachments());
    for (defer, decoded) in [(false, &full), (true, &lazy_result)] {
        let read = Decoder::new(DecodeLimits::default())
            .defer_json_check(defer)
            .read_text(text.into());
        if let (Ok(Some(b)), Ok(Some(p))) = (&read, decoded) {
            assert_eq!(b.validate(), p.validate());
            assert_eq!(b.ns(), p.ns().as_str());
        }
        assert_eq!(&read.map(|p| p.map(PacketBuf::into_packet)), decoded);
    }
    match lazy_result {
        Ok(Some(p)) => {
            let checked = p.validate();
            match &full {
                Ok(Some(q)) => {
                    assert_eq!(&p, q);
                    assert_eq!(checked, Ok(()));
                }
                Ok(None) => panic!("deferred decoder completed a packet the full one holds"),
                Err(e) => {
                    assert_eq!(checked.as_ref(), Err(e));
                    // The reader for the packet's type refuses it, whatever it reads into.
                    let payload = p.payload().expect("refused packets have a payload");
                    match &p {
                        Packet::Event { .. } => {
                            assert!(payload.event_args::<Vec<serde_json::Value>>().is_err());
                            assert!(payload.event_args::<()>().is_err());
                        }
                        Packet::Ack { .. } => {
                            assert!(payload.ack_args::<Vec<serde_json::Value>>().is_err());
                            assert!(payload.ack_args::<()>().is_err());
                        }
                        _ => {
                            assert!(payload.deserialize::<serde_json::Value>().is_err());
                        }
                    }
                }
            }
        }
        // A binary packet waiting for attachments: the full decoder may have refused it for
        // malformed JSON, which the deferred one leaves to `validate` once it is complete
        // (`sio_sequence` compares that).
        Ok(None) => assert!(
            matches!(full, Ok(None) | Err(DecodeError::InvalidJson(_))),
            "{full:?}"
        ),
        Err(e) => assert_eq!(full, Err(e)),
    }
    match full {
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

/// `PacketRef::parse` accepts and refuses what the deferring decoder does, reads the same
/// header and JSON, and its typed readers agree with the packet's.
fn same_in_place(text: &str, lazy: &Result<Option<Packet>, DecodeError>, awaiting: usize) {
    let in_place = PacketRef::parse(text, &DecodeLimits::default());
    match (lazy, &in_place) {
        (Err(e), Err(f)) => assert_eq!(e, f),
        (Ok(None), Ok(r)) => {
            assert!(matches!(
                r.packet_type(),
                PacketType::BinaryEvent | PacketType::BinaryAck
            ));
            assert_eq!(r.attachments(), awaiting);
        }
        (Ok(Some(p)), Ok(r)) => {
            assert_eq!(p.ns().as_str(), r.ns());
            assert_eq!(p.ack_id(), r.ack_id());
            assert_eq!(p.event_name(), r.event_name());
            assert_eq!(p.payload().map_or("", |d| d.json()), r.json());
            assert_eq!(p.validate(), r.validate());
            if let Some(d) = p.payload() {
                match p {
                    Packet::Event { .. } => assert_eq!(
                        d.event_args::<Vec<serde_json::Value>>().ok(),
                        r.event_args::<Vec<serde_json::Value>>(&[]).ok()
                    ),
                    Packet::Ack { .. } => assert_eq!(
                        d.ack_args::<Vec<serde_json::Value>>().ok(),
                        r.ack_args::<Vec<serde_json::Value>>(&[]).ok()
                    ),
                    _ => assert_eq!(
                        d.deserialize::<serde_json::Value>().ok(),
                        r.deserialize::<serde_json::Value>(&[]).ok()
                    ),
                }
            }
        }
        (lazy, in_place) => panic!("decoder {lazy:?}, in place {in_place:?}"),
    }
}
