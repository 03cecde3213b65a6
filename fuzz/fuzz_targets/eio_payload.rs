//! `PayloadDecoder` over arbitrary bytes: never panics, agrees with `decode_payload`, and any
//! payload that decodes round-trips through `encode_payload` and the budgeted `PayloadEncoder`.
#![no_main]

use bytes::Bytes;
use engineio_proto::payload::{PayloadDecoder, PayloadEncoder, decode_payload, encode_payload};
use libfuzzer_sys::fuzz_target;
use socketio_rs_fuzz::record_count;

fuzz_target!(|data: &[u8]| {
    let Some((&budget, data)) = data.split_first() else {
        return;
    };
    let body = Bytes::copy_from_slice(data);
    let Ok(decoder) = PayloadDecoder::new(body.clone()) else {
        assert!(std::str::from_utf8(data).is_err(), "valid UTF-8 rejected");
        assert!(decode_payload(body).is_err());
        return;
    };
    let mut packets = Vec::new();
    let mut failed = false;
    for item in decoder {
        assert!(!failed, "the decoder went on after an error");
        match item {
            Ok(p) => packets.push(p),
            Err(_) => failed = true,
        }
    }
    match decode_payload(body) {
        Ok(all) => {
            assert!(
                !failed,
                "decode_payload succeeded where the iterator failed"
            );
            assert_eq!(all, packets);
        }
        Err(_) => {
            assert!(failed, "decode_payload failed where the iterator succeeded");
            return;
        }
    }

    // Round trip through the unbounded encoder.
    let encoded = encode_payload(&packets);
    assert_eq!(record_count(encoded.as_bytes()), packets.len());
    let again = decode_payload(encoded.clone().into_bytes())
        .unwrap_or_else(|e| panic!("re-encoded payload {encoded:?} does not decode: {e}"));
    assert_eq!(again, packets, "payload round trip through {encoded:?}");

    // The budgeted encoder takes a prefix, stays within budget unless it holds one packet.
    let max = usize::from(budget);
    let mut enc = PayloadEncoder::new(max);
    let mut taken = 0;
    for p in &packets {
        let fits = enc.fits(p);
        if !enc.push(p) {
            assert!(!fits, "push refused a packet that fits");
            break;
        }
        taken += 1;
        assert_eq!(enc.count(), taken);
    }
    let out = enc.finish();
    assert!(
        out.len() <= max || taken == 1,
        "{} bytes of {taken} packets over a budget of {max}",
        out.len()
    );
    let prefix = decode_payload(out.clone().into_bytes())
        .unwrap_or_else(|e| panic!("budgeted payload {out:?} does not decode: {e}"));
    assert_eq!(prefix, packets[..taken]);
});
