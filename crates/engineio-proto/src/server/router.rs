//! Classifies Engine.IO HTTP requests and creates sessions.

use std::sync::Arc;
use std::time::Instant;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::config::ServerConfig;
use crate::error::{ConfigError, RequestError};
use crate::http::{HttpResponse, Method};
use crate::server::session::ServerSession;
use crate::session::Transport;
use crate::sid::Sid;

/// The request router, the `Endpoint` of this crate: it holds the configuration and the seeded
/// generator of session ids, and no per-session state. The map from [`Sid`] to session lives
/// in the runtime, because sharing it is a concurrency concern, not a protocol one.
#[derive(Debug)]
pub struct Server {
    config: Arc<ServerConfig>,
    rng: ChaCha20Rng,
}

/// What an Engine.IO request asks for, decided from its method and query string alone.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Route {
    /// A new session (no `sid`): polling GET or WebSocket upgrade. Pass it to
    /// [`Server::accept`] or [`Server::refuse`] once the application has decided (the
    /// `allowRequest` hook).
    Handshake(Incoming),
    /// `GET transport=polling&sid=...`: a long-poll; call [`ServerSession::handle_poll`].
    Poll {
        /// The session.
        sid: Sid,
    },
    /// `POST transport=polling&sid=...`: data; call [`ServerSession::handle_post`].
    Post {
        /// The session.
        sid: Sid,
    },
    /// `GET transport=websocket&sid=...` with an upgrade: the probe WebSocket; call
    /// [`ServerSession::handle_ws_open`] once it is established.
    Upgrade {
        /// The session.
        sid: Sid,
    },
}

/// A handshake request that the application may accept or refuse.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Incoming {
    transport: Transport,
}

impl Incoming {
    /// The transport of the handshake.
    #[must_use]
    pub fn transport(&self) -> Transport {
        self.transport
    }
}

/// The three query parameters the router reads; the rest belong to the application.
#[derive(Debug, Default)]
struct Params<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
}

impl<'a> Params<'a> {
    /// Reads `EIO`, `transport` and `sid`; the first occurrence of each wins.
    fn parse(query: &'a str) -> Self {
        let mut p = Params::default();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match key {
                "EIO" => &mut p.eio,
                "transport" => &mut p.transport,
                "sid" => &mut p.sid,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        p
    }
}

impl Server {
    /// A router for `config`, drawing session ids from a ChaCha20 generator seeded with `seed`.
    ///
    /// The runtime must pass 32 bytes from the operating system's CSPRNG: session ids are
    /// bearer secrets. Tests pass a fixed seed.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the configuration is out of range.
    pub fn new(config: Arc<ServerConfig>, seed: [u8; 32]) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            rng: ChaCha20Rng::from_seed(seed),
        })
    }

    /// The configuration shared by every session.
    #[must_use]
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    /// Classifies a request from its method, raw query string (without `?`) and whether it
    /// carries a WebSocket upgrade. Touches no session.
    ///
    /// The checks run in the reference server's order: transport, then the sid, then (for a
    /// handshake) the method and the upgrade header, then the protocol version.
    ///
    /// # Errors
    ///
    /// The [`RequestError`] to answer with; its [`RequestError::to_response`] (or
    /// [`RequestError::to_ws_response`] for an upgrade request) is the response.
    pub fn route(&self, method: Method, query: &str, upgrade: bool) -> Result<Route, RequestError> {
        let params = Params::parse(query);
        let transport = match params.transport {
            Some("polling") if self.config.transports.polling => Transport::Polling,
            Some("websocket") if self.config.transports.websocket => Transport::WebSocket,
            _ => return Err(RequestError::UnknownTransport),
        };
        if let Some(sid) = params.sid {
            let sid = Sid::parse(sid).ok_or(RequestError::UnknownSid)?;
            if params.eio != Some("4") {
                return Err(RequestError::UnsupportedProtocolVersion);
            }
            return match (transport, method, upgrade) {
                (Transport::Polling, Method::Get, _) => Ok(Route::Poll { sid }),
                (Transport::Polling, Method::Post, _) => Ok(Route::Post { sid }),
                (Transport::WebSocket, Method::Get, true) => Ok(Route::Upgrade { sid }),
                _ => Err(RequestError::BadRequest),
            };
        }
        if method != Method::Get {
            return Err(RequestError::BadHandshakeMethod);
        }
        if transport == Transport::WebSocket && !upgrade {
            return Err(RequestError::BadRequest);
        }
        if params.eio != Some("4") {
            return Err(RequestError::UnsupportedProtocolVersion);
        }
        Ok(Route::Handshake(Incoming { transport }))
    }

    /// Creates the session for an allowed handshake. Its first transmit is the open packet:
    /// the response to the handshake GET, or the first WebSocket frame.
    pub fn accept(&mut self, now: Instant, incoming: Incoming) -> ServerSession {
        let sid = Sid::generate(&mut self.rng);
        ServerSession::new(Arc::clone(&self.config), sid, incoming.transport, now)
    }

    /// The response refusing a handshake (`allowRequest` said no): 403 with code 4 over HTTP,
    /// a plain 400 for a WebSocket upgrade, as the reference does.
    #[must_use]
    pub fn refuse(&self, incoming: &Incoming, message: Option<&str>) -> HttpResponse {
        let err = RequestError::Forbidden(message.unwrap_or("Forbidden").to_owned());
        match incoming.transport {
            Transport::Polling => err.to_response(),
            Transport::WebSocket => err.to_ws_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Server {
        Server::new(Arc::new(ServerConfig::default()), [1; 32]).unwrap()
    }

    fn route(method: Method, query: &str) -> Result<Route, RequestError> {
        server().route(method, query, false)
    }

    #[test]
    fn handshakes() {
        let r = route(Method::Get, "EIO=4&transport=polling").unwrap();
        assert_eq!(
            r,
            Route::Handshake(Incoming {
                transport: Transport::Polling
            })
        );
        let r = server()
            .route(Method::Get, "EIO=4&transport=websocket", true)
            .unwrap();
        assert_eq!(
            r,
            Route::Handshake(Incoming {
                transport: Transport::WebSocket
            })
        );
        let r = route(Method::Get, "EIO=4&transport=polling&t=N8hyd6w&foo=bar").unwrap();
        assert!(matches!(r, Route::Handshake(_)));
    }

    #[test]
    fn error_codes_in_reference_order() {
        use RequestError::*;
        // EIO #2: missing or invalid EIO.
        assert_eq!(
            route(Method::Get, "transport=polling"),
            Err(UnsupportedProtocolVersion)
        );
        assert_eq!(
            route(Method::Get, "EIO=abc&transport=polling"),
            Err(UnsupportedProtocolVersion)
        );
        assert_eq!(
            route(Method::Get, "EIO=3&transport=polling"),
            Err(UnsupportedProtocolVersion)
        );
        // EIO #3: missing or invalid transport; transport is checked before EIO.
        assert_eq!(route(Method::Get, "EIO=4"), Err(UnknownTransport));
        assert_eq!(
            route(Method::Get, "EIO=4&transport=abc"),
            Err(UnknownTransport)
        );
        assert_eq!(
            route(Method::Get, "EIO=4&transport=webtransport"),
            Err(UnknownTransport)
        );
        assert_eq!(route(Method::Get, ""), Err(UnknownTransport));
        // EIO #4: handshake with a method other than GET.
        assert_eq!(
            route(Method::Post, "EIO=4&transport=polling"),
            Err(BadHandshakeMethod)
        );
        assert_eq!(
            route(Method::Other, "EIO=4&transport=polling"),
            Err(BadHandshakeMethod)
        );
        // Method is checked before EIO.
        assert_eq!(
            route(Method::Post, "transport=polling"),
            Err(BadHandshakeMethod)
        );
        // WebSocket transport without an upgrade.
        assert_eq!(
            route(Method::Get, "EIO=4&transport=websocket"),
            Err(BadRequest)
        );
        // Bad transport and unknown sid: code 0 wins.
        assert_eq!(
            route(Method::Get, "EIO=4&transport=abc&sid=x"),
            Err(UnknownTransport)
        );
        assert_eq!(
            route(Method::Get, "EIO=4&transport=polling&sid=x"),
            Err(UnknownSid)
        );
    }

    #[test]
    fn session_requests() {
        let sid = "AAAAAAAAAAAAAAAAAAAAAAAA";
        let s = Sid::parse(sid).unwrap();
        let q = format!("EIO=4&transport=polling&sid={sid}");
        assert_eq!(route(Method::Get, &q), Ok(Route::Poll { sid: s }));
        assert_eq!(route(Method::Post, &q), Ok(Route::Post { sid: s }));
        assert_eq!(route(Method::Other, &q), Err(RequestError::BadRequest));
        let q = format!("EIO=4&transport=websocket&sid={sid}");
        assert_eq!(
            server().route(Method::Get, &q, true),
            Ok(Route::Upgrade { sid: s })
        );
        assert_eq!(route(Method::Get, &q), Err(RequestError::BadRequest));
    }

    #[test]
    fn disabled_transports_are_unknown() {
        let config = ServerConfig {
            transports: crate::Transports::WEBSOCKET,
            ..Default::default()
        };
        let s = Server::new(Arc::new(config), [0; 32]).unwrap();
        assert_eq!(
            s.route(Method::Get, "EIO=4&transport=polling", false),
            Err(RequestError::UnknownTransport)
        );
    }

    #[test]
    fn refusal_responses() {
        let s = server();
        let r = s.refuse(
            &Incoming {
                transport: Transport::Polling,
            },
            None,
        );
        assert_eq!(r.status, 403);
        assert_eq!(&r.body[..], br#"{"code":4,"message":"Forbidden"}"#);
        let r = s.refuse(
            &Incoming {
                transport: Transport::WebSocket,
            },
            Some("nope"),
        );
        assert_eq!((r.status, &r.body[..]), (400, &b"nope"[..]));
    }
}
