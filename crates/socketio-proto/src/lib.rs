//! Sans-IO Socket.IO v5 packets (placeholder docs).

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod decoder;
mod error;
mod namespace;
mod packet;
mod validate;

pub use decoder::{DecodeLimits, Decoder};
#[cfg(feature = "serde")]
pub use error::{ArgsError, EncodeError};
pub use error::{DecodeError, NamespaceError};
pub use namespace::{AckId, Namespace};
pub use packet::{Encoded, Packet, PacketType, Payload};
pub use validate::{RESERVED_EVENTS, is_reserved_event};

#[cfg(test)]
mod tests;
