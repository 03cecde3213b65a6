//! The client side: [`ClientSession`].

mod session;

pub use session::{ClientEvent, ClientSession, ClientTransmit, HttpRequest, HttpResult, RequestId};
