//! Sans-IO Engine.IO protocol v4: packets, polling payloads, and the server and client session
//! state machines.
//!
//! This crate performs no I/O, reads no clock, spawns nothing and takes no locks. Time comes in
//! as `now: Instant`, randomness as a seed, bytes as [`bytes::Bytes`]; what must go on the wire
//! comes out of `poll_transmit`, what happened out of `poll_event`, and when to call back out
//! of `poll_timeout`. A runtime (tokio, a test harness, another event loop) does the rest.
//!
//! # A complete handshake and one message, with no runtime
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use engineio_proto::{
//!     ClientConfig, ClientEvent, ClientSession, ClientTransmit, Event, HttpResult, Message,
//!     Method, Route, Server, ServerConfig, Transmit, Transports,
//! };
//!
//! let now = Instant::now();
//! let mut server = Server::new(Arc::new(ServerConfig::default()), [7; 32]).unwrap();
//! let mut config = ClientConfig::default();
//! config.transports = Transports::POLLING;
//! let mut client = ClientSession::new(Arc::new(config), now, [9; 32]).unwrap();
//!
//! // The client's first transmit is the handshake GET.
//! let Some(ClientTransmit::Http(get)) = client.poll_transmit(now) else { unreachable!() };
//! let Ok(Route::Handshake(incoming)) = server.route(get.method, &get.query, false) else {
//!     unreachable!()
//! };
//! let mut session = server.accept(now, incoming);
//! let Some(Transmit::PollResponse(res)) = session.poll_transmit(now) else { unreachable!() };
//! client
//!     .handle_http_response(now, get.id, HttpResult::Response { status: res.status, body: res.body })
//!     .unwrap();
//! assert!(matches!(client.poll_event(), Some(ClientEvent::Open(_))));
//!
//! // The client sends a message: it goes out in a POST (after the next long-poll GET).
//! client.send(Message::from("hello")).unwrap();
//! while let Some(t) = client.poll_transmit(now) {
//!     let ClientTransmit::Http(req) = t else { continue };
//!     match server.route(req.method, &req.query, false).unwrap() {
//!         Route::Post { .. } => {
//!             session.handle_post(now, req.body.unwrap()).unwrap();
//!             let ok = HttpResult::Response { status: 200, body: "ok".into() };
//!             client.handle_http_response(now, req.id, ok).unwrap();
//!         }
//!         Route::Poll { .. } => session.handle_poll(now).unwrap(), // stays waiting
//!         _ => unreachable!(),
//!     }
//! }
//! assert_eq!(session.poll_event(), Some(Event::Message(Message::from("hello"))));
//! ```

#![warn(clippy::exhaustive_enums, clippy::exhaustive_structs)]

mod client;
mod config;
mod error;
mod http;
mod packet;
pub mod payload;
mod server;
mod session;
mod sid;
mod text;

#[cfg(test)]
mod tests;

pub use client::{ClientEvent, ClientSession, ClientTransmit, HttpRequest, HttpResult, RequestId};
pub use config::{ClientConfig, MIN_MAX_PAYLOAD, ServerConfig, Transports};
pub use error::{ConfigError, DecodeError, ProtocolError, RequestError, SendError};
pub use http::{HttpResponse, JSON_CONTENT_TYPE, Method, PAYLOAD_CONTENT_TYPE};
pub use packet::{Message, OpenPacket, Packet, PacketType, WsMessage};
pub use server::{Event, Incoming, Route, Server, ServerSession, Transmit};
pub use session::{CloseReason, Frame, Transport};
pub use sid::{SID_LEN, Sid};
pub use text::Utf8Bytes;
