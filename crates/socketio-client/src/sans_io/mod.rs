//! The client's protocol logic without I/O: no runtime, no clock reads, no randomness of its
//! own.
//!
//! - [`Backoff`] and [`Reconnector`]: the JS client's reconnection delays and loop.
//! - [`AckTable`]: pending acknowledgements with deadlines.
//! - [`OfflineBuffer`]: packets emitted while disconnected.
//! - [`NamespaceSocket`]: one namespace socket (connect handshake, acks, buffers, the
//!   `retries` queue).
//!
//! Everything takes `now: Instant` as input and is tested with a virtual clock; the runtime
//! (the rest of this crate) owns the sockets, the timers and the tasks.

mod acks;
mod backoff;
mod buffer;
mod namespace;
#[cfg(test)]
mod tests;

pub use acks::AckTable;
pub use backoff::{Backoff, RandomSource, ReconnectConfig, ReconnectStep, Reconnector};
pub use buffer::OfflineBuffer;
pub use namespace::{
    AckFailure, BufferFull, DisconnectReason, EmitOptions, Emitted, NamespaceConfig,
    NamespaceEvent, NamespaceSocket,
};
