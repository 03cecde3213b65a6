//! Sans-IO Socket.IO v5 packets (placeholder docs).

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

#[cfg(feature = "serde")]
mod de;
mod decoder;
mod error;
mod namespace;
mod packet;
#[cfg(feature = "serde")]
mod ser;
mod validate;

pub use decoder::{DecodeLimits, Decoder};
#[cfg(feature = "serde")]
pub use error::{ArgsError, EncodeError};
pub use error::{DecodeError, NamespaceError};
pub use namespace::{AckId, Namespace};
pub use packet::{Encoded, Packet, PacketType, Payload};
#[cfg(feature = "serde")]
pub use ser::{Binary, to_payload};
pub use validate::{RESERVED_EVENTS, is_reserved_event};

#[cfg(test)]
mod tests;
