//! The server side: the request [`Server`] router and the per-session [`ServerSession`].

mod router;
mod session;

pub use router::{Incoming, Route, Server};
pub use session::{Event, ServerSession, Transmit};
