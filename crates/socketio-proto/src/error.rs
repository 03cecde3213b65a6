//! Error types: one enum per failure surface.

use crate::packet::PacketType;

/// Text or binary messages that do not form a valid Socket.IO packet.
///
/// Every variant means the peer broke the protocol: the reference server closes the whole
/// Engine.IO connection on any of them. The [`Decoder`](crate::Decoder) has already reset its
/// state when it returns one.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An empty text message.
    #[error("empty packet")]
    Empty,
    /// The first character is not a packet type digit `0`-`6`.
    #[error("unknown packet type {0:#04x}")]
    UnknownType(u8),
    /// A binary packet header whose attachment count is not `<digits>-`.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// A binary packet header declaring more attachments than allowed.
    #[error("too many attachments (maximum {max})")]
    TooManyAttachments {
        /// The configured maximum.
        max: usize,
    },
    /// A namespace that breaks the namespace rules (see [`Namespace`](crate::Namespace)).
    #[error("invalid namespace: {0}")]
    InvalidNamespace(#[from] NamespaceError),
    /// An ack id that does not fit in a `u64`.
    #[error("invalid ack id")]
    InvalidAckId,
    /// An ACK packet without an ack id.
    #[error("ack packet without an id")]
    MissingAckId,
    /// An ack id on a packet type that has none (CONNECT, DISCONNECT, CONNECT_ERROR). The
    /// reference parser reads and ignores it; no conforming encoder writes one, and reading
    /// `0/admin,1` as "CONNECT with id 1" would hide a non-object payload.
    #[error("ack id on a {0} packet")]
    UnexpectedAckId(PacketType),
    /// The payload is not well-formed JSON (or nests deeper than 128 levels).
    #[error("invalid json payload: {0}")]
    InvalidJson(String),
    /// The JSON payload has the wrong shape for the packet type (a CONNECT payload that is not
    /// an object, a DISCONNECT with a payload, an EVENT that is not a non-empty array, ...).
    #[error("invalid payload for {0} packet")]
    InvalidPayload(PacketType),
    /// The first element of an EVENT is neither a string nor a number.
    #[error("invalid event name")]
    InvalidEventName,
    /// The event name is reserved (`connect`, `disconnect`, ...).
    #[error("reserved event name {0:?}")]
    ReservedEventName(String),
    /// A binary placeholder that is malformed, out of range or a duplicate.
    #[error("illegal attachment placeholder")]
    InvalidPlaceholder,
    /// A declared attachment that no placeholder refers to.
    #[error("attachment {0} is not referenced by any placeholder")]
    UnreferencedAttachment(usize),
    /// The packet with its attachments exceeds the configured byte limit.
    #[error("packet exceeds the maximum of {max} bytes")]
    PacketTooLarge {
        /// The configured maximum.
        max: usize,
    },
    /// A binary message arrived while no binary packet was waiting for attachments.
    #[error("got binary data when not reconstructing a packet")]
    UnexpectedBinary,
    /// A text message arrived while a binary packet was still waiting for attachments.
    #[error("got plaintext data when reconstructing a packet")]
    UnexpectedText,
}

/// A namespace name that breaks the namespace rules.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NamespaceError {
    /// The name does not start with `/`.
    #[error("must start with '/'")]
    MissingSlash,
    /// The name is longer than allowed.
    #[error("longer than {max} bytes")]
    TooLong {
        /// The maximum length in bytes.
        max: usize,
    },
    /// The name contains a character that is not allowed (`,`, `#`, `?` or a control
    /// character).
    #[error("forbidden character {0:?}")]
    ForbiddenChar(char),
}

/// User data that could not be serialised into a packet payload.
#[cfg(feature = "serde")]
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The value's `Serialize` implementation failed, or produced something JSON cannot carry
    /// (a map with non-string keys, for instance).
    #[error("cannot serialize payload: {0}")]
    Serialize(String),
    /// The event name is reserved (`connect`, `disconnect`, ...) and cannot be emitted.
    #[error("reserved event name {0:?}")]
    ReservedEventName(String),
}

/// A packet payload that could not be deserialised into the requested type.
#[cfg(feature = "serde")]
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// The JSON did not match the requested type, or a placeholder did not resolve to an
    /// attachment.
    #[error("cannot deserialize payload: {0}")]
    Deserialize(String),
    /// The attachments handed to a [`PacketRef`](crate::PacketRef) reader are not as many as
    /// its header declares (none for a packet without attachments).
    #[error("{given} attachments given for a packet declaring {declared}")]
    AttachmentCount {
        /// The count in the packet header (`51-` declares 1).
        declared: usize,
        /// The length of the slice given.
        given: usize,
    },
}
