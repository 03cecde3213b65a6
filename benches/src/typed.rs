//! The typed-decode cases of the `sio_decode_typed` criterion group, for the profiling and
//! wall-clock examples: each case's wire text, attachments, and the types our reader and
//! serde_json read it into (the criterion bench uses the same types).

use bytes::Bytes;
use engineio_proto::Utf8Bytes;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use socketio_proto::{Binary, DecodeError, DecodeLimits, Decoder, Packet, PacketBuf, PacketRef};

use crate::{Batch, batch};

/// The small argument of the event and ack cases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Data {
    /// A short string.
    pub foo: String,
    /// Three small numbers.
    pub arr: [u8; 3],
}

/// A placeholder read as a plain struct: serde_json's side of a binary case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ph {
    /// `true`.
    pub _placeholder: bool,
    /// The attachment's index.
    pub num: usize,
}

/// The server's CONNECT reply read as a struct.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    /// The session id.
    pub sid: String,
}

/// What a typed read asks of a packet: CONNECT data, EVENT arguments or ACK arguments.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// The payload as one value.
    Connect,
    /// The arguments after the event name.
    Event,
    /// The arguments of an acknowledgement.
    Ack,
}

/// One of the decoder's two ways in: `read_*` ([`Read`]) or `decode_*` ([`Decode`]).
/// (A trait, not the methods passed to `feed` as function items: that costs one to three
/// instructions more per case under callgrind.)
trait Way {
    /// What a complete packet comes as.
    type Packet;
    /// The text message.
    fn text(&mut self, text: Utf8Bytes) -> Result<Option<Self::Packet>, DecodeError>;
    /// A binary message.
    fn binary(&mut self, data: Bytes) -> Result<Option<Self::Packet>, DecodeError>;
}

/// `Decoder::read_text` / `read_binary`: a `PacketBuf`.
struct Read<'a>(&'a mut Decoder);

impl Way for Read<'_> {
    type Packet = PacketBuf;
    #[inline(always)]
    fn text(&mut self, text: Utf8Bytes) -> Result<Option<PacketBuf>, DecodeError> {
        self.0.read_text(text)
    }
    #[inline(always)]
    fn binary(&mut self, data: Bytes) -> Result<Option<PacketBuf>, DecodeError> {
        self.0.read_binary(data)
    }
}

/// `Decoder::decode_text` / `decode_binary`: a `Packet`.
struct Decode<'a>(&'a mut Decoder);

impl Way for Decode<'_> {
    type Packet = Packet;
    #[inline(always)]
    fn text(&mut self, text: Utf8Bytes) -> Result<Option<Packet>, DecodeError> {
        self.0.decode_text(text)
    }
    #[inline(always)]
    fn binary(&mut self, data: Bytes) -> Result<Option<Packet>, DecodeError> {
        self.0.decode_binary(data)
    }
}

/// Feeds a case's messages as a runtime does: the text, then the attachments; the packet
/// comes with the last message.
///
/// # Panics
///
/// When the packet comes before the last message or a message is refused before it.
#[inline(always)]
fn feed<W: Way>(
    way: &mut W,
    text: Utf8Bytes,
    atts: &[Bytes],
) -> Result<Option<W::Packet>, DecodeError> {
    let Some((last, first)) = atts.split_last() else {
        return way.text(text);
    };
    assert!(
        way.text(text).expect("decodes").is_none(),
        "a binary packet waits"
    );
    for a in first {
        assert!(way.binary(a.clone()).expect("decodes").is_none(), "waits");
    }
    way.binary(last.clone())
}

/// `t:CASE`: the connection's deferring `Decoder` (kept from one packet to the next, as a
/// server keeps it), the text then each attachment read into a `PacketBuf` (what the server
/// does), then the typed read; the packet is dropped here.
///
/// # Panics
///
/// When the case does not decode.
#[inline(never)]
pub fn ours_typed_case<T: DeserializeOwned>(
    d: &mut Decoder,
    k: Kind,
    text: Utf8Bytes,
    atts: &[Bytes],
) -> T {
    let decoded = feed(&mut Read(d), text, atts);
    let Ok(Some(p)) = &decoded else {
        panic!("does not decode: {decoded:?}")
    };
    match k {
        Kind::Connect => p.deserialize(),
        Kind::Event => p.event_args(),
        Kind::Ack => p.ack_args(),
    }
    .expect("reads")
}

/// `p:CASE`: as `t:CASE` through the `Decoder`'s `decode_*` methods, which build a `Packet`.
///
/// # Panics
///
/// When the case does not decode.
#[inline(never)]
pub fn ours_packet_typed_case<T: DeserializeOwned>(
    d: &mut Decoder,
    k: Kind,
    text: Utf8Bytes,
    atts: &[Bytes],
) -> T {
    let decoded = feed(&mut Decode(d), text, atts);
    let Ok(Some(p)) = &decoded else {
        panic!("does not decode: {decoded:?}")
    };
    let data = p.payload().expect("has a payload");
    match k {
        Kind::Connect => data.deserialize(),
        Kind::Event => data.event_args(),
        Kind::Ack => data.ack_args(),
    }
    .expect("reads")
}

/// `r:CASE`: `PacketRef` and its typed readers.
///
/// # Panics
///
/// When the case does not decode.
#[inline(never)]
pub fn ref_typed_case<T: DeserializeOwned>(k: Kind, text: &str, atts: &[Bytes]) -> T {
    let p = PacketRef::parse(text, &DecodeLimits::default()).expect("decodes");
    match k {
        Kind::Connect => p.deserialize(atts),
        Kind::Event => p.event_args(atts),
        Kind::Ack => p.ack_args(atts),
    }
    .expect("reads")
}

/// `j:CASE`: serde_json on the body alone.
///
/// # Panics
///
/// When the body does not read.
#[inline(never)]
pub fn json_typed_case<T: DeserializeOwned>(body: &str) -> T {
    serde_json::from_str(body).expect("reads")
}

/// The names of all typed-decode cases.
pub const CASES: [&str; 19] = [
    "connect",
    "connect_custom_nsp",
    "event",
    "event_custom_nsp",
    "event_with_ack",
    "event_with_ack_custom_nsp",
    "ack",
    "ack_custom_nsp",
    "binary_event",
    "binary_event_custom_nsp",
    "binary_ack",
    "binary_ack_custom_nsp",
    "event_1KB",
    "event_16KB",
    "event_256KB",
    "binary_event_1x1KB",
    "binary_event_2x1KB",
    "binary_event_1x64KB",
    "binary_event_2x64KB",
];

/// Runs one case, given the types it is read into.
pub trait Runner {
    /// `T`: what our readers read (the arguments alone); `J`: what serde_json reads from the
    /// body past the header (the whole array, placeholders as [`Ph`]).
    fn run<T: DeserializeOwned, J: DeserializeOwned>(
        &mut self,
        kind: Kind,
        text: &str,
        attachments: &[Bytes],
    );
}

/// Hands the case named `name` (one of [`CASES`]) to `runner`; `false` for an unknown name.
pub fn case<R: Runner>(name: &str, runner: &mut R) -> bool {
    const DATA: &str = r#"{"foo":"bar","arr":[1,2,3]}"#;
    const PH0: &str = r#"{"_placeholder":true,"num":0}"#;
    const PH1: &str = r#"{"_placeholder":true,"num":1}"#;
    type B1 = (Data, Binary);
    type J1 = (IgnoredAny, Data, Ph);
    let (base, ns) = match name.strip_suffix("_custom_nsp") {
        Some(base) => (base, "/custom_nsp,"),
        None => (name, ""),
    };
    let small = [Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])];
    // Bytes that vary, `len` of them.
    let big = |len: usize, salt: u8| -> Bytes {
        (0..len)
            .map(|i| (i.to_le_bytes()[0]).wrapping_mul(31) ^ salt)
            .collect::<Vec<u8>>()
            .into()
    };
    let size = |name: &str| {
        if name.ends_with("64KB") {
            64 * 1024
        } else {
            1024
        }
    };
    match base {
        "connect" => runner.run::<Handshake, Handshake>(
            Kind::Connect,
            &format!(r#"0{ns}{{"sid":"lv_VI97HAXpY6yYW"}}"#),
            &[],
        ),
        "event" => runner.run::<Data, (IgnoredAny, Data)>(
            Kind::Event,
            &format!(r#"2{ns}["event",{DATA}]"#),
            &[],
        ),
        "event_with_ack" => runner.run::<Data, (IgnoredAny, Data)>(
            Kind::Event,
            &format!(r#"2{ns}0["event",{DATA}]"#),
            &[],
        ),
        "ack" => runner.run::<Data, (Data,)>(Kind::Ack, &format!("3{ns}0[{DATA}]"), &[]),
        "binary_event" => runner.run::<B1, J1>(
            Kind::Event,
            &format!(r#"51-{ns}["event",{DATA},{PH0}]"#),
            &small,
        ),
        "binary_ack" => {
            runner.run::<B1, (Data, Ph)>(Kind::Ack, &format!("61-{ns}0[{DATA},{PH0}]"), &small);
        }
        "event_1KB" | "event_16KB" | "event_256KB" => {
            let len = match base {
                "event_1KB" => 1024,
                "event_16KB" => 16 * 1024,
                _ => 256 * 1024,
            };
            let body = serde_json::to_string(&("event", batch(len))).unwrap_or_default();
            runner.run::<Batch, (IgnoredAny, Batch)>(Kind::Event, &format!("2{body}"), &[]);
        }
        "binary_event_1x1KB" | "binary_event_1x64KB" => runner.run::<B1, J1>(
            Kind::Event,
            &format!(r#"51-["event",{DATA},{PH0}]"#),
            &[big(size(base), 1)],
        ),
        "binary_event_2x1KB" | "binary_event_2x64KB" => {
            runner.run::<(Data, Binary, Binary), (IgnoredAny, Data, Ph, Ph)>(
                Kind::Event,
                &format!(r#"52-["event",{DATA},{PH0},{PH1}]"#),
                &[big(size(base), 1), big(size(base), 2)],
            );
        }
        _ => return false,
    }
    true
}
