//! Event arguments as received: the payload (zero-copy JSON and attachments) and where the
//! arguments start in it. Typed decoding is `socketio-proto`'s; this only adds re-labelling,
//! so that received arguments can be re-emitted without a decode/encode round trip.

use std::borrow::Cow;

use bytes::Bytes;
use engineio_proto::Utf8Bytes;
use serde::Deserialize;
use serde::de::IgnoredAny;
use socketio_proto::{ArgsError, Payload};

/// The arguments of an event or an acknowledgement, as they arrived: zero-copy JSON plus the
/// binary attachments that its placeholders refer to.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Args {
    payload: Payload,
    /// An event's arguments (the JSON array starts with the event name), not an ack's. Where
    /// the name ends is found only when the arguments are re-labelled (rare): dispatch reads
    /// the name and typed decoding skips it on its own.
    event: bool,
}

impl Args {
    /// The arguments of an event payload `["name", args...]`; `None` when it is not an array.
    pub(crate) fn of_event(payload: Payload) -> Option<Self> {
        Self::of_array(payload, true)
    }

    /// The arguments of an ack payload `[args...]`; `None` when it is not an array.
    pub(crate) fn of_ack(payload: Payload) -> Option<Self> {
        Self::of_array(payload, false)
    }

    fn of_array(payload: Payload, event: bool) -> Option<Self> {
        payload
            .json()
            .trim_start()
            .starts_with('[')
            .then_some(Self { payload, event })
    }

    /// Byte offset in the JSON just after the event name (`,` or `]` follows); `None` for an
    /// ack, whose arguments start right after `[`, or an event array without a first element.
    fn after_name(&self) -> Option<usize> {
        if self.event {
            skip_first(self.payload.json())
        } else {
            None
        }
    }

    /// The event name, for the arguments of an event (read without parsing the arguments).
    #[must_use]
    pub fn event_name(&self) -> Option<Cow<'_, str>> {
        if self.event {
            self.payload.event_name()
        } else {
            None
        }
    }

    /// Deserialises the arguments into `T`: a tuple takes one argument per element (extra
    /// arguments are ignored, as in JS), `Vec<T>` takes them all, any other type takes the
    /// first. Binary placeholders deserialise into [`socketio_proto::Binary`] as their
    /// attachment.
    ///
    /// # Errors
    ///
    /// [`ArgsError`] when the arguments do not fit `T`.
    pub fn decode<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ArgsError> {
        if self.event {
            self.payload.event_args()
        } else {
            self.payload.ack_args()
        }
    }

    /// The first argument as `T`, whatever `T` is (a sequence type included).
    ///
    /// # Errors
    ///
    /// [`ArgsError`] when there is no first argument or it does not fit `T`.
    pub fn first<'de, T: Deserialize<'de>>(&'de self) -> Result<T, ArgsError> {
        self.decode::<(T,)>().map(|(t,)| t)
    }

    /// The payload as received.
    pub(crate) fn into_payload(self) -> Payload {
        self.payload
    }

    /// The binary attachments, in placeholder order.
    #[must_use]
    pub fn attachments(&self) -> &[Bytes] {
        self.payload.attachments()
    }

    /// The arguments as a JSON array text, placeholders included: `[1,"2",{"3":[false]}]`.
    #[must_use]
    pub fn json_array(&self) -> String {
        let json = self.payload.json();
        if !self.event {
            return json.trim().to_owned();
        }
        let Some(at) = self.after_name() else {
            return "[]".to_owned();
        };
        match json.get(at..).unwrap_or("").trim_start().strip_prefix(',') {
            Some(rest) => format!("[{rest}"),
            None => "[]".to_owned(),
        }
    }

    /// Re-labels these arguments as event `name`: `["name", args...]`, attachments shared.
    pub(crate) fn to_event_payload(&self, name: &str) -> Payload {
        let array = self.json_array();
        let inner = &array[1..];
        let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".to_owned());
        let json = if inner.trim_start().starts_with(']') {
            format!("[{name}]")
        } else {
            format!("[{name},{inner}")
        };
        Payload::new(Utf8Bytes::from(json), self.attachments().to_vec())
    }

    /// These arguments as an ack payload `[args...]`, attachments shared.
    pub(crate) fn to_ack_payload(&self) -> Payload {
        if !self.event {
            return self.payload.clone();
        }
        Payload::new(
            Utf8Bytes::from(self.json_array()),
            self.attachments().to_vec(),
        )
    }
}

/// Offset just after the first element of a JSON array, or `None`.
fn skip_first(json: &str) -> Option<usize> {
    let trimmed = json.trim_start();
    let start = json.len() - trimmed.len();
    let body = trimmed.strip_prefix('[')?;
    let mut de = serde_json::Deserializer::from_str(body).into_iter::<IgnoredAny>();
    de.next()?.ok()?;
    Some(start + 1 + de.byte_offset())
}

#[cfg(test)]
mod tests {
    use socketio_proto::Binary;

    use super::*;

    fn event(json: &'static str) -> Args {
        Args::of_event(Payload::from_json(json)).unwrap()
    }

    #[test]
    fn splits_the_event_name_off() {
        let a = event(r#"["message",1,"2",{"3":[true]}]"#);
        assert_eq!(a.event_name().as_deref(), Some("message"));
        assert_eq!(a.json_array(), r#"[1,"2",{"3":[true]}]"#);
        assert_eq!(
            a.to_event_payload("message-back").json(),
            r#"["message-back",1,"2",{"3":[true]}]"#
        );
        assert_eq!(a.to_ack_payload().json(), r#"[1,"2",{"3":[true]}]"#);
        let a = event(r#"["only"]"#);
        assert_eq!(a.json_array(), "[]");
        assert_eq!(a.to_event_payload("x").json(), r#"["x"]"#);
    }

    #[test]
    fn typed_decoding_goes_through_the_proto_helpers() {
        let (n, s): (u32, String) = event(r#"["e",5,"five"]"#).decode().unwrap();
        assert_eq!((n, s.as_str()), (5, "five"));
        let v: Vec<u32> = event(r#"["e",[1,2]]"#).first().unwrap();
        assert_eq!(v, [1, 2]);
        let p = Payload::new(
            r#"["up",{"_placeholder":true,"num":0}]"#.into(),
            vec![Bytes::from_static(b"\x01")],
        );
        let bin: Binary = Args::of_event(p).unwrap().first().unwrap();
        assert_eq!(&bin[..], b"\x01");
        assert!(event(r#"["e"]"#).first::<u32>().is_err());
    }

    #[test]
    fn ack_args() {
        let a = Args::of_ack(Payload::from_json(r#"[1,"2"]"#)).unwrap();
        assert_eq!(a.json_array(), r#"[1,"2"]"#);
        assert_eq!(a.event_name(), None);
        let (one, two): (u8, String) = a.decode().unwrap();
        assert_eq!((one, two.as_str()), (1, "2"));
        assert_eq!(
            Args::of_ack(Payload::from_json("[]")).unwrap().json_array(),
            "[]"
        );
        assert!(Args::of_ack(Payload::from_json("{}")).is_none());
    }
}
