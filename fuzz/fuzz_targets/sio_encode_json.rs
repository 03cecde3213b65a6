//! The encoder's own JSON writer against serde_json: any text as a string argument, and any
//! text that parses as JSON as a value argument, must encode to `2["e",<serde_json's JSON>]`
//! byte for byte, and read back as serde_json reads its own text (not always the value itself:
//! serde_json's default float parsing is not exact for long numbers).
#![no_main]

use libfuzzer_sys::fuzz_target;
use socketio_proto::{DecodeLimits, Encoded, Namespace, PacketRef};

fn check(arg: &serde_json::Value) {
    let enc = Encoded::event(&Namespace::main(), "e", &(arg,), None).expect("JSON values encode");
    let json = serde_json::to_string(arg).expect("serde_json writes every Value");
    assert_eq!(enc.text().as_str(), format!(r#"2["e",{json}]"#));
    let read = PacketRef::parse(enc.text().as_str(), &DecodeLimits::default())
        .expect("encoded packets decode")
        .event_args::<(serde_json::Value,)>(&[])
        .expect("and read back");
    let again: serde_json::Value = serde_json::from_str(&json).expect("serde_json reads it back");
    assert_eq!(read.0, again);
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(&serde_json::Value::String(text.to_owned()));
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        check(&value);
    }
});
