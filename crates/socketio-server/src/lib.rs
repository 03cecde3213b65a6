//! A Socket.IO v5 server on tokio, hyper and tungstenite.
//!
//! The [`engine`] module is the Engine.IO v4 server on its own; [`serve_with`] is a plain
//! accept loop for either.

pub mod engine;
mod serve;

pub use serve::{not_found, serve_with};
