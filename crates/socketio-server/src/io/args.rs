//! Event arguments as received: the JSON array after the event name, and the attachments.

use bytes::Bytes;
use engineio_proto::Utf8Bytes;
use serde::de::{DeserializeOwned, IgnoredAny};
use socketio_proto::Payload;

/// The arguments of an event or an acknowledgement, as they arrived: zero-copy JSON plus the
/// binary attachments that its placeholders refer to.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Args {
    /// The whole JSON array (for an event, its first element is the event name).
    json: Utf8Bytes,
    /// Byte offset in `json` where the arguments start.
    rest: usize,
    /// Whether `rest` is just after the opening `[` (an ack) rather than just after the event
    /// name (where `,` or `]` follows).
    after_bracket: bool,
    attachments: Vec<Bytes>,
}

impl Args {
    /// The arguments of an event payload `["name", args...]`; `None` when it is not an array
    /// with a first element.
    pub(crate) fn of_event(payload: Payload) -> Option<Self> {
        let (json, attachments) = payload.into_parts();
        let rest = skip_first(&json)?;
        Some(Self {
            json,
            rest,
            after_bracket: false,
            attachments,
        })
    }

    /// The arguments of an ack payload `[args...]`.
    pub(crate) fn of_ack(payload: Payload) -> Option<Self> {
        let (json, attachments) = payload.into_parts();
        let trimmed = json.trim_start();
        if !trimmed.starts_with('[') {
            return None;
        }
        let rest = json.len() - trimmed.len() + 1;
        Some(Self {
            json,
            rest,
            after_bracket: true,
            attachments,
        })
    }

    fn rest_str(&self) -> (&str, bool) {
        (self.json.get(self.rest..).unwrap_or(""), self.after_bracket)
    }

    /// The arguments as a JSON array text, placeholders included: `[1,"2",{"3":[false]}]`.
    #[must_use]
    pub fn json_array(&self) -> String {
        let (rest, after_bracket) = self.rest_str();
        if after_bracket {
            let mut s = String::with_capacity(rest.len() + 1);
            s.push('[');
            s.push_str(rest);
            return s;
        }
        let rest = rest.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => format!("[{r}"),
            None => "[]".to_owned(),
        }
    }

    /// The event name, for the arguments of an event.
    #[must_use]
    pub fn event_name(&self) -> Option<String> {
        if self.after_bracket {
            return None;
        }
        let first = self.json.get(..self.rest)?.trim_start().strip_prefix('[')?;
        match serde_json::from_str::<serde_json::Value>(first).ok()? {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The binary attachments, in placeholder order.
    #[must_use]
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// Deserialises the arguments (as a JSON array) into `T`: a tuple for several arguments,
    /// `Vec<Value>` for any number. Binary placeholders are left as their JSON objects.
    ///
    /// # Errors
    ///
    /// The JSON error when the arguments do not fit `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.json_array())
    }

    /// The first argument deserialised into `T`.
    ///
    /// # Errors
    ///
    /// The JSON error when there is no first argument or it does not fit `T`.
    pub fn first<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        let (first,): (T,) = {
            let mut v: Vec<serde_json::Value> = self.decode()?;
            if v.is_empty() {
                return Err(serde::de::Error::custom("no argument"));
            }
            (serde_json::from_value(v.swap_remove(0))?,)
        };
        Ok(first)
    }

    /// Re-labels these arguments as event `name`: `["name", args...]`, attachments shared.
    pub(crate) fn to_event_payload(&self, name: &str) -> Payload {
        let array = self.json_array();
        let inner = &array[1..];
        let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".to_owned());
        let json = if inner == "]" {
            format!("[{name}]")
        } else {
            format!("[{name},{inner}")
        };
        Payload::new(Utf8Bytes::from(json), self.attachments.clone())
    }

    /// These arguments as an ack payload `[args...]`, attachments shared.
    pub(crate) fn to_ack_payload(&self) -> Payload {
        Payload::new(Utf8Bytes::from(self.json_array()), self.attachments.clone())
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
    use super::*;

    fn event(json: &'static str) -> Args {
        Args::of_event(Payload::from_json(json)).unwrap()
    }

    #[test]
    fn splits_the_event_name_off() {
        let a = event(r#"["message",1,"2",{"3":[true]}]"#);
        assert_eq!(a.json_array(), r#"[1,"2",{"3":[true]}]"#);
        assert_eq!(
            a.to_event_payload("message-back").json(),
            r#"["message-back",1,"2",{"3":[true]}]"#
        );
        assert_eq!(a.to_ack_payload().json(), r#"[1,"2",{"3":[true]}]"#);
        let a = event(r#"["only"]"#);
        assert_eq!(a.json_array(), "[]");
        assert_eq!(a.to_event_payload("x").json(), r#"["x"]"#);
        let (n, s): (u32, String) = event(r#"["e",5,"five"]"#).decode().unwrap();
        assert_eq!((n, s.as_str()), (5, "five"));
        assert_eq!(
            event(r#"["e",{"a":1}]"#)
                .first::<serde_json::Value>()
                .unwrap()["a"],
            1
        );
    }

    #[test]
    fn ack_args() {
        let a = Args::of_ack(Payload::from_json(r#"[1,"2"]"#)).unwrap();
        assert_eq!(a.json_array(), r#"[1,"2"]"#);
        let a = Args::of_ack(Payload::from_json("[]")).unwrap();
        assert_eq!(a.json_array(), "[]");
    }
}
