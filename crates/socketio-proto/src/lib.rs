//! Sans-IO Socket.IO v5: packets, binary attachments, the decoder and the encoder.
//!
//! Socket.IO packets ride inside Engine.IO `message` packets: the text part of a packet becomes
//! one text message (`4` + the Socket.IO text on the wire), and each binary attachment one
//! binary message right after it. This crate sits on top of [`engineio_proto`]: it turns those
//! messages into [`Packet`]s with a [`Decoder`] (one per Engine.IO connection), and packets into
//! messages with [`Packet::encode`]. It performs no I/O, reads no clock, takes no locks.
//!
//! The wire grammar is `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`. Decoding
//! follows the reference `socket.io-parser`: the same packets are accepted and rejected, the
//! JSON is checked for the shape each packet type requires (in one pass, without building a
//! value), and every failure is a typed [`DecodeError`]. Bounds ([`DecodeLimits`]) keep what a
//! peer can make the decoder hold small. Encoding is byte-identical to the reference.
//!
//! Nothing is copied: a packet's JSON is a slice of the received text, attachments stay the
//! `Bytes` they arrived as, and an [`Encoded`] packet shares one buffer among all recipients of
//! a broadcast. With the `serde` feature (on by default), [`Packet::event`],
//! [`Encoded::event`] and [`Payload::event_args`] move user types in and out of packets, with
//! [`Binary`] values carried as attachments. A consumer that only wants typed arguments out of
//! a text packet can skip the [`Packet`] altogether: [`PacketRef`] reads the header and the
//! JSON in place, accepting what a decoder with the [JSON check
//! deferred](Decoder::defer_json_check) accepts, and deserialises from there. A consumer that
//! keeps what it receives (a server handing payloads to handlers) reads with
//! [`Decoder::read_text`] and [`Decoder::read_binary`] instead of the `decode_*` methods: the
//! same packets, kept as they arrived ([`PacketBuf`]: the header read in place, the payload
//! handed on without a copy), without building the [`Packet`] enum.
//!
//! # Receive a binary event, answer with an ack
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use bytes::Bytes;
//! use engineio_proto::Message;
//! use socketio_proto::{Binary, DecodeLimits, Decoder, Encoded, Packet};
//!
//! let mut decoder = Decoder::new(DecodeLimits::default());
//!
//! // Engine.IO delivers `451-1["upload","a.txt",{"_placeholder":true,"num":0}]` (the `4`
//! // stripped), then one binary message.
//! let text = r#"51-1["upload","a.txt",{"_placeholder":true,"num":0}]"#;
//! assert_eq!(decoder.decode_text(text.into()), Ok(None)); // waiting for the attachment
//! let packet = decoder.decode_binary(Bytes::from_static(b"hello")).unwrap().unwrap();
//!
//! let Packet::Event { ns, data, ack: Some(id) } = &packet else { unreachable!() };
//! assert_eq!(packet.event_name().as_deref(), Some("upload"));
//! let (name, content): (String, Binary) = data.event_args().unwrap();
//! assert_eq!((name.as_str(), &content[..]), ("a.txt", &b"hello"[..]));
//!
//! // The ack echoes the file back: a BINARY_ACK, text first, then the attachment.
//! let reply = Encoded::ack(ns, *id, &("ok", content)).unwrap();
//! let messages: Vec<Message> = reply.messages().collect();
//! assert_eq!(
//!     messages,
//!     [
//!         Message::Text(r#"61-1["ok",{"_placeholder":true,"num":0}]"#.into()),
//!         Message::Binary(Bytes::from_static(b"hello")),
//!     ]
//! );
//! // On the wire, the text frame is `461-1[...]`, already in one buffer.
//! assert!(reply.engineio_text().starts_with("461-1["));
//! # }
//! ```

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]
// The documentation points at the serde helpers (`Packet::event`, `Payload::event_args`,
// `Binary`, ...) wherever they are the way to do something; without the `serde` feature those
// items do not exist and the links render as plain text.
#![cfg_attr(
    not(feature = "serde"),
    allow(
        rustdoc::broken_intra_doc_links,
        reason = "the serde helpers the documentation points at exist with the `serde` feature"
    )
)]

mod attachments;
#[cfg(feature = "serde")]
mod de;
mod decoder;
mod error;
#[cfg(feature = "serde")]
mod json;
mod json_de;
mod namespace;
mod packet;
mod packet_buf;
mod packet_ref;
#[cfg(feature = "serde")]
mod ser;
mod validate;

pub use decoder::{DecodeLimits, Decoder};
#[cfg(feature = "serde")]
pub use error::{ArgsError, EncodeError};
pub use error::{DecodeError, NamespaceError};
pub use namespace::{AckId, Namespace};
pub use packet::{Encoded, Packet, PacketType, Payload};
pub use packet_buf::PacketBuf;
pub use packet_ref::PacketRef;
#[cfg(feature = "serde")]
pub use ser::{Binary, to_payload};
pub use validate::{RESERVED_EVENTS, is_reserved_event};

#[cfg(test)]
mod tests;
