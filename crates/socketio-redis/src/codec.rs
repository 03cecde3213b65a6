//! The classic protocol of `@socket.io/redis-adapter` 8: channel names, request types and the
//! conversions between bus values (msgpack or JSON) and Socket.IO payloads.
//!
//! Everything read from the bus is untrusted: decoding is bounded in depth, allocations are
//! never sized from a declared length (rmpv reads element by element), and every field is
//! checked for its type before use.

use std::fmt::Write as _;

use bytes::Bytes;
use engineio_proto::Utf8Bytes;
use rmpv::Value;
use socketio_adapter::{BroadcastFlags, BroadcastOptions, Room};
use socketio_proto::Payload;

/// Request and response types (`RequestType` of the reference).
pub(crate) mod kind {
    pub(crate) const SOCKETS: u64 = 0;
    pub(crate) const ALL_ROOMS: u64 = 1;
    pub(crate) const REMOTE_JOIN: u64 = 2;
    pub(crate) const REMOTE_LEAVE: u64 = 3;
    pub(crate) const REMOTE_DISCONNECT: u64 = 4;
    pub(crate) const REMOTE_FETCH: u64 = 5;
    pub(crate) const SERVER_SIDE_EMIT: u64 = 6;
    pub(crate) const BROADCAST: u64 = 7;
    pub(crate) const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub(crate) const BROADCAST_ACK: u64 = 9;
}

/// The Socket.IO EVENT packet type, as the bus carries it (binary events stay type 2).
pub(crate) const EVENT: u64 = 2;
/// `BINARY_EVENT`, accepted as an event too.
pub(crate) const BINARY_EVENT: u64 = 5;

/// Deepest nesting read from the bus (rmpv counts strings and binaries as one more level).
const MAX_DEPTH: usize = 64;

/// Why a bus message was dropped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BusError {
    #[error("invalid msgpack")]
    Msgpack,
    #[error("invalid JSON")]
    Json,
    #[error("unexpected shape: {0}")]
    Schema(&'static str),
}

/// The channels of one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Channels {
    /// `<key>#<nsp>#` (broadcasts; a single room appends `<room>#`).
    pub(crate) broadcast: String,
    /// `<key>-request#<nsp>#`.
    pub(crate) request: String,
    /// `<key>-response#<nsp>#`.
    pub(crate) response: String,
    /// `<key>-response#<nsp>#<uid>#`.
    pub(crate) specific_response: String,
}

impl Channels {
    pub(crate) fn new(key: &str, nsp: &str, uid: &str) -> Self {
        let response = format!("{key}-response#{nsp}#");
        Self {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            specific_response: format!("{response}{uid}#"),
            response,
        }
    }

    /// The pattern Node subscribes for broadcasts.
    pub(crate) fn pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }
}

/// What a channel name means for the node that uses prefix `key`.
#[derive(Debug, Eq, PartialEq)]
pub(crate) enum Route<'a> {
    /// A broadcast for namespace `nsp`, to `room` (empty: no room suffix).
    Broadcast { nsp: &'a str, room: &'a str },
    /// A request for namespace `nsp`.
    Request { nsp: &'a str },
    /// A response for namespace `nsp`.
    Response { nsp: &'a str },
}

/// Classifies a channel. Namespace names cannot contain `#` (the server refuses them), so the
/// namespace ends at the first `#` after the prefix.
pub(crate) fn route<'a>(key: &str, channel: &'a str) -> Option<Route<'a>> {
    let rest = channel.strip_prefix(key)?;
    if let Some(rest) = rest.strip_prefix("-request#") {
        let nsp = rest.strip_suffix('#')?;
        return (!nsp.contains('#')).then_some(Route::Request { nsp });
    }
    if let Some(rest) = rest.strip_prefix("-response#") {
        let (nsp, _) = rest.split_once('#')?;
        return Some(Route::Response { nsp });
    }
    let rest = rest.strip_prefix('#')?;
    let (nsp, tail) = rest.split_once('#')?;
    let room = if tail.is_empty() {
        ""
    } else {
        tail.strip_suffix('#')?
    };
    Some(Route::Broadcast { nsp, room })
}

/// Decodes a bus message: JSON when it starts with `{`, msgpack otherwise (the reference sniffs
/// the first byte the same way).
pub(crate) fn decode(bytes: &[u8]) -> Result<Value, BusError> {
    if bytes.first() == Some(&b'{') {
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| BusError::Json)?;
        return Ok(json_to_mp(&json, &[]));
    }
    let mut rd = bytes;
    rmpv::decode::read_value_with_max_depth(&mut rd, MAX_DEPTH).map_err(|_| BusError::Msgpack)
}

/// Encodes a value as msgpack (integers in their smallest form, floats as float64, as
/// notepack.io does).
pub(crate) fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, v);
    out
}

/// A map with string keys, in this order.
pub(crate) fn map(entries: Vec<(&str, Value)>) -> Value {
    Value::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

/// The value of `key` in a map.
pub(crate) fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// A string field.
pub(crate) fn get_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get(v, key).and_then(Value::as_str)
}

/// A non-negative integer field.
pub(crate) fn get_u64(v: &Value, key: &str) -> Option<u64> {
    get(v, key).and_then(Value::as_u64)
}

/// A room name: a string, or a number written as JS would (`123`).
fn room_of(v: &Value) -> Result<Room, BusError> {
    match v {
        Value::String(s) => s
            .as_str()
            .map(Room::from)
            .ok_or(BusError::Schema("room is not UTF-8")),
        Value::Integer(i) => Ok(Room::from(i.to_string())),
        _ => Err(BusError::Schema("room is not a string")),
    }
}

/// A list of rooms; a missing field is an empty list.
pub(crate) fn rooms(v: Option<&Value>) -> Result<Vec<Room>, BusError> {
    match v {
        None | Some(Value::Nil) => Ok(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(room_of).collect(),
        Some(_) => Err(BusError::Schema("rooms is not an array")),
    }
}

/// `{rooms, except, flags?}` into broadcast options.
pub(crate) fn opts_from(v: Option<&Value>) -> Result<BroadcastOptions, BusError> {
    let v = match v {
        Some(v @ Value::Map(_)) => v,
        None | Some(Value::Nil) => return Ok(BroadcastOptions::new()),
        Some(_) => return Err(BusError::Schema("opts is not a map")),
    };
    let mut opts = BroadcastOptions::new();
    opts.rooms = rooms(get(v, "rooms"))?;
    opts.except = rooms(get(v, "except"))?;
    let mut flags = BroadcastFlags::default();
    if let Some(f) = get(v, "flags") {
        flags.volatile = get(f, "volatile").and_then(Value::as_bool) == Some(true);
        flags.timeout = get(f, "timeout")
            .and_then(Value::as_u64)
            .map(std::time::Duration::from_millis);
    }
    opts.flags = flags;
    Ok(opts)
}

/// Broadcast options as the reference writes them: `{rooms, except}` and, when `with_flags`,
/// `flags` (`volatile`, `timeout` in ms; `{}` when none is set).
pub(crate) fn opts_to(opts: &BroadcastOptions, with_flags: bool) -> Value {
    let list = |rs: &[Room]| Value::Array(rs.iter().map(|r| Value::from(r.as_str())).collect());
    let mut except: Vec<Room> = Vec::with_capacity(opts.except.len());
    for r in &opts.except {
        if !except.contains(r) {
            except.push(r.clone());
        }
    }
    let mut entries = vec![("rooms", list(&opts.rooms)), ("except", list(&except))];
    if with_flags {
        let mut flags = Vec::new();
        if opts.flags.volatile {
            flags.push(("volatile", Value::Boolean(true)));
        }
        if let Some(t) = opts.flags.timeout {
            let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
            flags.push(("timeout", Value::from(ms)));
        }
        entries.push(("flags", map(flags)));
    }
    map(entries)
}

/// JSON into msgpack; Socket.IO placeholders `{"_placeholder":true,"num":n}` become the binary
/// attachment `n`.
pub(crate) fn json_to_mp(v: &serde_json::Value, attachments: &[Bytes]) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::F64(n.as_f64().unwrap_or(0.0))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::Array(items.iter().map(|i| json_to_mp(i, attachments)).collect()),
        J::Object(o) => {
            if o.get("_placeholder") == Some(&J::Bool(true))
                && let Some(bin) = o
                    .get("num")
                    .and_then(J::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .and_then(|n| attachments.get(n))
            {
                return Value::Binary(bin.to_vec());
            }
            Value::Map(
                o.iter()
                    .map(|(k, v)| (Value::from(k.as_str()), json_to_mp(v, attachments)))
                    .collect(),
            )
        }
    }
}

/// A Socket.IO payload (JSON with placeholders) into msgpack with binaries inline.
pub(crate) fn payload_to_mp(p: &Payload) -> Result<Value, BusError> {
    if p.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    let json: serde_json::Value = serde_json::from_str(p.json()).map_err(|_| BusError::Json)?;
    Ok(json_to_mp(&json, p.attachments()))
}

/// How a binary value becomes JSON.
#[derive(Clone, Copy)]
enum BinaryAs {
    /// A Socket.IO placeholder, the bytes going to the attachments.
    Placeholder,
    /// Node's `Buffer.toJSON()`: `{"type":"Buffer","data":[...]}` (what `JSON.stringify` gives
    /// for a Buffer inside a JSON request).
    Buffer,
}

fn mp_to_json_with(
    v: &Value,
    mode: BinaryAs,
    attachments: &mut Vec<Bytes>,
) -> Result<serde_json::Value, BusError> {
    use serde_json::Value as J;
    Ok(match v {
        Value::Nil => J::Null,
        Value::Boolean(b) => J::Bool(*b),
        Value::Integer(i) => {
            if let Some(u) = i.as_u64() {
                J::from(u)
            } else if let Some(s) = i.as_i64() {
                J::from(s)
            } else {
                J::Null
            }
        }
        Value::F32(f) => float(f64::from(*f)),
        Value::F64(f) => float(*f),
        Value::String(s) => J::from(s.as_str().ok_or(BusError::Schema("string is not UTF-8"))?),
        Value::Binary(b) => match mode {
            BinaryAs::Placeholder => {
                let num = attachments.len();
                attachments.push(Bytes::copy_from_slice(b));
                serde_json::json!({ "_placeholder": true, "num": num })
            }
            BinaryAs::Buffer => serde_json::json!({ "type": "Buffer", "data": b }),
        },
        Value::Array(items) => J::Array(
            items
                .iter()
                .map(|i| mp_to_json_with(i, mode, attachments))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => {
            let mut o = serde_json::Map::with_capacity(entries.len().min(1024));
            for (k, v) in entries {
                let key = match k {
                    Value::String(s) => s
                        .as_str()
                        .ok_or(BusError::Schema("key is not UTF-8"))?
                        .to_owned(),
                    Value::Integer(i) => i.to_string(),
                    _ => return Err(BusError::Schema("map key is not a string")),
                };
                o.insert(key, mp_to_json_with(v, mode, attachments)?);
            }
            J::Object(o)
        }
        Value::Ext(-1, data) => J::from(timestamp_to_iso(data)?),
        Value::Ext(..) => J::Null,
    })
}

/// JS writes non-finite numbers as `null` in JSON.
fn float(f: f64) -> serde_json::Value {
    serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Msgpack into a Socket.IO payload: binaries become attachments behind placeholders.
pub(crate) fn mp_to_payload(v: &Value) -> Result<Payload, BusError> {
    let mut attachments = Vec::new();
    let json = mp_to_json_with(v, BinaryAs::Placeholder, &mut attachments)?;
    Ok(Payload::new(Utf8Bytes::from(json.to_string()), attachments))
}

/// Msgpack into plain JSON (binaries as Node's Buffer JSON).
pub(crate) fn mp_to_json(v: &Value) -> Result<serde_json::Value, BusError> {
    mp_to_json_with(v, BinaryAs::Buffer, &mut Vec::new())
}

/// A payload into plain JSON for a JSON request (attachments as Node's Buffer JSON).
pub(crate) fn payload_to_json(p: &Payload) -> Result<serde_json::Value, BusError> {
    mp_to_json(&payload_to_mp(p)?)
}

/// The msgpack timestamp extension (type -1) as JS `Date.toISOString()` writes it.
fn timestamp_to_iso(data: &[u8]) -> Result<String, BusError> {
    let bad = || BusError::Schema("bad timestamp");
    let (secs, nanos): (i64, u32) = match data.len() {
        4 => (
            i64::from(u32::from_be_bytes(data.try_into().map_err(|_| bad())?)),
            0,
        ),
        8 => {
            let v = u64::from_be_bytes(data.try_into().map_err(|_| bad())?);
            let nanos = u32::try_from(v >> 34).map_err(|_| bad())?;
            let secs = i64::try_from(v & 0x3_ffff_ffff).map_err(|_| bad())?;
            (secs, nanos)
        }
        12 => {
            let nanos = u32::from_be_bytes(data[..4].try_into().map_err(|_| bad())?);
            let secs = i64::from_be_bytes(data[4..].try_into().map_err(|_| bad())?);
            (secs, nanos)
        }
        _ => return Err(bad()),
    };
    // JS dates span ±8.64e15 ms around the epoch.
    if secs.unsigned_abs() > 8_640_000_000_000 || nanos >= 1_000_000_000 {
        return Err(bad());
    }
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    if (0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}");
    } else {
        let _ = write!(
            out,
            "{}{:06}",
            if y < 0 { '-' } else { '+' },
            y.unsigned_abs()
        );
    }
    let _ = write!(
        out,
        "-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        nanos / 1_000_000
    );
    Ok(out)
}

/// Days since 1970-01-01 into (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// A random identifier of `len` alphanumerics, as `uid2` makes them.
pub(crate) fn uid(len: usize) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS entropy: fall back to the clock and a counter (ids must only be unique).
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
            ^ u32::try_from(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & 0xffff)
                .unwrap_or(0);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed.to_le_bytes()[i % 4].wrapping_add(u8::try_from(i).unwrap_or(0));
        }
    }
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The bytes captured from a Node server for `io.emit("hello", "world", 1, {a: true})`
    /// (ecosystem.md 3.3) decode, and our encoding of the same message is byte-identical.
    #[test]
    fn captured_broadcast_round_trips() {
        let bytes = hex("93 a6 4c4d4266394d 83 a4 74797065 02 a4 64617461 94 \
             a5 68656c6c6f a5 776f726c64 01 81 a161 c3 a3 6e7370 a1 2f \
             83 a5 726f6f6d73 90 a6 657863657074 90 a5 666c616773 80");
        let v = decode(&bytes).unwrap();
        let Value::Array(items) = &v else { panic!() };
        assert_eq!(items[0].as_str(), Some("LMBf9M"));
        let packet = &items[1];
        assert_eq!(get_u64(packet, "type"), Some(2));
        let data = mp_to_payload(get(packet, "data").unwrap()).unwrap();
        assert_eq!(data.json(), r#"["hello","world",1,{"a":true}]"#);
        let opts = opts_from(Some(&items[2])).unwrap();
        assert_eq!(opts, BroadcastOptions::new());

        let ours = Value::Array(vec![
            Value::from("LMBf9M"),
            map(vec![
                ("type", Value::from(2)),
                ("data", payload_to_mp(&data).unwrap()),
                ("nsp", Value::from("/")),
            ]),
            opts_to(&BroadcastOptions::new(), true),
        ]);
        assert_eq!(encode(&ours), bytes);
    }

    #[test]
    fn binaries_become_attachments_and_back() {
        let p = Payload::new(
            Utf8Bytes::from(r#"["bin",{"_placeholder":true,"num":0},{"x":[1.5,-2]}]"#),
            vec![Bytes::from_static(&[1, 2, 3])],
        );
        let v = payload_to_mp(&p).unwrap();
        let Value::Array(items) = &v else { panic!() };
        assert_eq!(items[1], Value::Binary(vec![1, 2, 3]));
        let back = mp_to_payload(&v).unwrap();
        assert_eq!(back, p);
        assert_eq!(
            payload_to_json(&p).unwrap()[1],
            serde_json::json!({"type":"Buffer","data":[1,2,3]})
        );
    }

    #[test]
    fn channels_route() {
        let c = Channels::new("socket.io", "/admin", "abc");
        assert_eq!(c.broadcast, "socket.io#/admin#");
        assert_eq!(c.request, "socket.io-request#/admin#");
        assert_eq!(c.specific_response, "socket.io-response#/admin#abc#");
        assert_eq!(
            route("socket.io", "socket.io#/#room#1#"),
            Some(Route::Broadcast {
                nsp: "/",
                room: "room#1"
            })
        );
        assert_eq!(
            route("socket.io", "socket.io#/#"),
            Some(Route::Broadcast { nsp: "/", room: "" })
        );
        assert_eq!(
            route("socket.io", "socket.io-request#/#"),
            Some(Route::Request { nsp: "/" })
        );
        assert_eq!(
            route("socket.io", "socket.io-response#/#abc#"),
            Some(Route::Response { nsp: "/" })
        );
        assert_eq!(route("socket.io", "other#/#"), None);
        assert_eq!(route("socket.io", "socket.io#/"), None);
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        // Truncated msgpack, a huge declared array and string, deep nesting, bad JSON.
        for bytes in [
            hex("93 a6 4c4d42"),
            hex("dd ffffffff 01"),
            hex("db ffffffff 61"),
            hex("c6 ffffffff 00"),
            vec![0x91; 100_000],
            b"{\"uid\":".to_vec(),
        ] {
            assert!(decode(&bytes).is_err());
        }
        // Wrong types are schema errors.
        assert!(rooms(Some(&Value::from(3))).is_err());
        assert!(opts_from(Some(&Value::from("x"))).is_err());
        let bad_key = Value::Map(vec![(Value::Boolean(true), Value::Nil)]);
        assert!(mp_to_payload(&bad_key).is_err());
    }

    #[test]
    fn dates_become_iso_strings() {
        // 2024-01-02T03:04:05.678Z as a timestamp 64 (678 ms, 1704164645 s).
        let nanos: u64 = 678_000_000;
        let v = (nanos << 34) | 1_704_164_645;
        let ext = Value::Ext(-1, v.to_be_bytes().to_vec());
        assert_eq!(
            mp_to_json(&ext).unwrap(),
            serde_json::json!("2024-01-02T03:04:05.678Z")
        );
        let ext32 = Value::Ext(-1, 0u32.to_be_bytes().to_vec());
        assert_eq!(
            mp_to_json(&ext32).unwrap(),
            serde_json::json!("1970-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn uids_are_alphanumeric() {
        let a = uid(6);
        assert_eq!(a.len(), 6);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(uid(16), uid(16));
    }
}
