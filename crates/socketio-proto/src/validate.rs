//! JSON shape validation of a received payload, without building a value tree.
//!
//! The payload is run through serde_json once with small visitors: the whole text must be
//! well-formed (serde_json's recursion limit of 128 stays on, so deep nesting is an error, not a
//! stack overflow), the top level must have the shape the packet type requires, and in binary
//! packets every placeholder must be well-formed and each attachment referenced exactly once.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::DecodeError;
use crate::json_de::Fast;
use crate::packet::PacketType;

/// Event names the reference parser rejects on receive.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Length of the shortest placeholder, `{"_placeholder":true,"num":0}`.
const MIN_PLACEHOLDER_LEN: usize = 29;

/// Whether `name` is one of [`RESERVED_EVENTS`].
#[must_use]
pub fn is_reserved_event(name: &str) -> bool {
    RESERVED_EVENTS.contains(&name)
}

/// Checks `json` (non-empty) for packet type `ty`, declaring `attachments` binary attachments.
pub(crate) fn validate(ty: PacketType, json: &str, attachments: usize) -> Result<(), DecodeError> {
    // Nothing is allocated by the declared count alone: the text must be long enough to hold one
    // placeholder per attachment.
    let fits = json.len() / MIN_PLACEHOLDER_LEN;
    if ty.is_binary() && attachments > fits {
        return Err(DecodeError::UnreferencedAttachment(fits));
    }
    let new_ctx = || Ctx {
        failure: None,
        seen: if ty.is_binary() {
            Some(vec![false; attachments])
        } else {
            None
        },
    };
    // The crate's own reader first: where it completes, serde_json would have made the same
    // visitor calls and accepted the text (see `json_de`). Where it gives up, or the shape is
    // wrong, serde_json checks the text again and its verdict is the one reported.
    let mut ctx = new_ctx();
    let mut fast = Fast::new(json);
    let done = check(ty, &mut fast, &mut ctx).is_ok() && ctx.failure.is_none() && fast.at_end();
    if !done {
        ctx = new_ctx();
        let mut de = serde_json::Deserializer::from_str(json);
        let res = check(ty, &mut de, &mut ctx).and_then(|()| de.end());
        if let Some(failure) = ctx.failure {
            return Err(failure);
        }
        res.map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    }
    if let Some(seen) = ctx.seen
        && let Some(missing) = seen.iter().position(|s| !s)
    {
        return Err(DecodeError::UnreferencedAttachment(missing));
    }
    Ok(())
}

/// Walks `d` with the visitor for the payload of a `ty` packet.
fn check<'de, D: Deserializer<'de>>(ty: PacketType, d: D, ctx: &mut Ctx) -> Result<(), D::Error> {
    let kind = match ty {
        PacketType::Connect => TopKind::Object,
        PacketType::ConnectError => TopKind::ObjectOrString,
        PacketType::Event | PacketType::BinaryEvent => TopKind::EventArray,
        PacketType::Ack | PacketType::BinaryAck => TopKind::Array,
        // The decoder never passes a payload for a DISCONNECT.
        PacketType::Disconnect => return Err(ctx.fail(DecodeError::InvalidPayload(ty))),
    };
    d.deserialize_any(Top { ty, ctx, kind })
}

/// State shared by the visitors. A shape failure is recorded here (serde errors carry only a
/// message) and reported in preference to the JSON error used to stop the parse.
struct Ctx {
    failure: Option<DecodeError>,
    /// For binary packets: which attachment indexes a placeholder has referenced.
    seen: Option<Vec<bool>>,
}

impl Ctx {
    fn fail<E: de::Error>(&mut self, err: DecodeError) -> E {
        let msg = err.to_string();
        self.failure.get_or_insert(err);
        E::custom(msg)
    }
}

#[derive(Clone, Copy)]
enum TopKind {
    Object,
    ObjectOrString,
    EventArray,
    Array,
}

struct Top<'c> {
    ty: PacketType,
    ctx: &'c mut Ctx,
    kind: TopKind,
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a valid {} payload", self.ty)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        match self.kind {
            TopKind::Object | TopKind::ObjectOrString => {
                Walk { ctx: self.ctx }.visit_map(map).map(drop)
            }
            _ => Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        match self.kind {
            TopKind::EventArray => {
                if seq
                    .next_element_seed(EventName { ctx: self.ctx })?
                    .is_none()
                {
                    return Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty)));
                }
                Walk { ctx: self.ctx }.visit_seq(seq).map(drop)
            }
            TopKind::Array => Walk { ctx: self.ctx }.visit_seq(seq).map(drop),
            _ => Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty))),
        }
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        match self.kind {
            TopKind::ObjectOrString => Ok(()),
            _ => Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty))),
        }
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty)))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty)))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty)))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.ctx.fail(DecodeError::InvalidPayload(self.ty)))
    }
}

/// The first element of an EVENT: a string that is not reserved, or a number.
struct EventName<'c> {
    ctx: &'c mut Ctx,
}

impl<'de> DeserializeSeed<'de> for EventName<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EventName<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if is_reserved_event(v) {
            Err(self.ctx.fail(DecodeError::ReservedEventName(v.to_owned())))
        } else {
            Ok(())
        }
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.ctx.fail(DecodeError::InvalidEventName))
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.ctx.fail(DecodeError::InvalidEventName))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.ctx.fail(DecodeError::InvalidEventName))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.ctx.fail(DecodeError::InvalidEventName))
    }
}

/// What a walked value was, as far as placeholders care.
enum Shape {
    Bool(bool),
    U64(u64),
    Other,
}

/// Walks any value. Without placeholder tracking it skips the value (serde_json's fast ignore
/// path); with it, it looks inside every object for placeholders.
struct Walk<'c> {
    ctx: &'c mut Ctx,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Shape;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Shape, D::Error> {
        if self.ctx.seen.is_none() {
            d.deserialize_ignored_any(IgnoredAny)?;
            Ok(Shape::Other)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Shape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Shape, E> {
        Ok(Shape::Bool(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Shape, E> {
        Ok(Shape::U64(v))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        Ok(Shape::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        while seq.next_element_seed(Walk { ctx: self.ctx })?.is_some() {}
        Ok(Shape::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        if self.ctx.seen.is_none() {
            while map.next_key::<IgnoredAny>()?.is_some() {
                map.next_value::<IgnoredAny>()?;
            }
            return Ok(Shape::Other);
        }
        let mut keys = 0usize;
        let mut marker = None;
        let mut num = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            keys += 1;
            let shape = map.next_value_seed(Walk { ctx: self.ctx })?;
            match key {
                Key::Placeholder => marker = Some(shape),
                Key::Num => num = Some(shape),
                Key::Other => {}
            }
        }
        if marker.is_none() {
            return Ok(Shape::Other);
        }
        // An object with a `_placeholder` key must be exactly `{"_placeholder":true,"num":N}`
        // with N an unused attachment index.
        let index = match (marker, num, keys) {
            (Some(Shape::Bool(true)), Some(Shape::U64(n)), 2) => usize::try_from(n).ok(),
            _ => None,
        };
        let seen = self.ctx.seen.as_mut().and_then(|s| s.get_mut(index?));
        match seen {
            Some(slot) if !*slot => {
                *slot = true;
                Ok(Shape::Other)
            }
            _ => Err(self.ctx.fail(DecodeError::InvalidPlaceholder)),
        }
    }
}

enum Key {
    Placeholder,
    Num,
    Other,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match v {
            "_placeholder" => Key::Placeholder,
            "num" => Key::Num,
            _ => Key::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        use PacketType::*;
        assert_eq!(validate(Connect, r#"{"token":"123"}"#, 0), Ok(()));
        assert_eq!(
            validate(Connect, "[]", 0),
            Err(DecodeError::InvalidPayload(Connect))
        );
        assert_eq!(
            validate(Connect, r#""x""#, 0),
            Err(DecodeError::InvalidPayload(Connect))
        );
        assert_eq!(
            validate(Connect, "null", 0),
            Err(DecodeError::InvalidPayload(Connect))
        );
        assert_eq!(validate(ConnectError, r#""x""#, 0), Ok(()));
        assert_eq!(validate(ConnectError, r#"{"message":"m"}"#, 0), Ok(()));
        assert_eq!(
            validate(ConnectError, "1", 0),
            Err(DecodeError::InvalidPayload(ConnectError))
        );
        assert_eq!(validate(Event, r#"["a",{"b":[1,2]}]"#, 0), Ok(()));
        assert_eq!(validate(Event, r#"[1,"a",{}]"#, 0), Ok(()));
        assert_eq!(
            validate(Event, "[]", 0),
            Err(DecodeError::InvalidPayload(Event))
        );
        assert_eq!(
            validate(Event, "{}", 0),
            Err(DecodeError::InvalidPayload(Event))
        );
        assert_eq!(
            validate(Event, "[true]", 0),
            Err(DecodeError::InvalidEventName)
        );
        assert_eq!(validate(Ack, "[]", 0), Ok(()));
        assert_eq!(
            validate(Ack, "{}", 0),
            Err(DecodeError::InvalidPayload(Ack))
        );
        assert!(matches!(
            validate(Event, r#"["a"] x"#, 0),
            Err(DecodeError::InvalidJson(_))
        ));
    }

    #[test]
    fn placeholders_in_binary_packets() {
        use PacketType::*;
        let ph = |n: &str| format!(r#"{{"_placeholder":true,"num":{n}}}"#);
        let ok = format!(r#"["a",{},{{"x":[{}]}}]"#, ph("0"), ph("1"));
        assert_eq!(validate(BinaryEvent, &ok, 2), Ok(()));
        // Key order does not matter.
        assert_eq!(
            validate(BinaryAck, r#"[{"num":0,"_placeholder":true}]"#, 1),
            Ok(())
        );
        // In a plain EVENT a placeholder-looking object is ordinary data (as in the reference).
        assert_eq!(validate(Event, &format!(r#"["a",{}]"#, ph("7")), 0), Ok(()));
        assert_eq!(
            validate(BinaryEvent, &format!(r#"["a",{}]"#, ph("0")), 2),
            Err(DecodeError::UnreferencedAttachment(1))
        );
    }
}
