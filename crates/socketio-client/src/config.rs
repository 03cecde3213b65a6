//! Manager settings and the URL they start from.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use socketio_proto::DecodeLimits;

use crate::error::{Error, ErrorKind};
use crate::sans_io::ReconnectConfig;
use crate::transport::Endpoint;

/// Which transports a manager uses.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum TransportMode {
    /// HTTP long-polling first, then a probe and an upgrade to WebSocket (the JS default).
    #[default]
    PollingThenUpgrade,
    /// WebSocket only, no polling at all.
    WebSocketOnly,
    /// HTTP long-polling only, never upgraded.
    PollingOnly,
}

/// Everything a manager is configured with; built by [`ManagerBuilder`](crate::ManagerBuilder).
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) endpoint: Endpoint,
    /// `scheme://host:port/path`: the manager cache key.
    pub(crate) key: String,
    /// The namespace named by the URL's path (`/` when it has none).
    pub(crate) url_namespace: String,
    pub(crate) mode: TransportMode,
    pub(crate) remember_upgrade: bool,
    pub(crate) query: String,
    pub(crate) reconnect: ReconnectConfig,
    pub(crate) timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_payload: u64,
    pub(crate) decode_limits: DecodeLimits,
    pub(crate) force_new: bool,
    pub(crate) engine_max_buffered: usize,
    pub(crate) max_concurrent_handlers: usize,
    pub(crate) close_timeout: Duration,
}

/// Builds the options from the URL and the builder's settings.
#[derive(Debug)]
pub(crate) struct Draft {
    pub(crate) url: String,
    pub(crate) path: String,
    pub(crate) mode: TransportMode,
    pub(crate) remember_upgrade: bool,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) header_error: Option<String>,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
    pub(crate) platform_roots: bool,
    pub(crate) reconnect: ReconnectConfig,
    pub(crate) timeout: Duration,
    pub(crate) upgrade_timeout: Duration,
    pub(crate) max_payload: u64,
    pub(crate) decode_limits: DecodeLimits,
    pub(crate) force_new: bool,
    pub(crate) max_concurrent_handlers: usize,
    pub(crate) close_timeout: Duration,
}

impl Draft {
    pub(crate) fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            path: "/socket.io".to_owned(),
            mode: TransportMode::default(),
            remember_upgrade: false,
            query: Vec::new(),
            headers: HeaderMap::new(),
            header_error: None,
            tls: None,
            platform_roots: false,
            reconnect: ReconnectConfig::default(),
            timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_payload: 1_000_000,
            decode_limits: DecodeLimits::default(),
            force_new: false,
            max_concurrent_handlers: 1024,
            close_timeout: Duration::from_millis(2_000),
        }
    }

    pub(crate) fn header(&mut self, name: &str, value: &str) {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => self.header_error = Some(format!("invalid header {name:?}")),
        }
    }

    pub(crate) fn finish(self) -> Result<Options, Error> {
        if let Some(e) = self.header_error {
            return Err(Error::new(ErrorKind::Config, e));
        }
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e| Error::with_source(ErrorKind::Config, "invalid URL", e))?;
        let tls = match uri.scheme_str() {
            Some("http" | "ws") | None => false,
            Some("https" | "wss") => true,
            Some(other) => {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("unsupported URL scheme {other:?}"),
                ));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| Error::new(ErrorKind::Config, "the URL has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let mut url_query = uri.query().unwrap_or("").to_owned();
        for (k, v) in &self.query {
            if !url_query.is_empty() {
                url_query.push('&');
            }
            url_query.push_str(&encode_component(k));
            url_query.push('=');
            url_query.push_str(&encode_component(v));
        }
        let url_namespace = match uri.path() {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        let mut path = self.path.clone();
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        if !path.ends_with('/') {
            path.push('/');
        }
        let tls_config = match (tls, self.tls.clone()) {
            (false, _) => None,
            (true, Some(c)) => Some(c),
            (true, None) if self.platform_roots => Some(platform_tls()?),
            (true, None) => Some(default_tls()?),
        };
        if self.max_payload < engineio_proto::MIN_MAX_PAYLOAD {
            return Err(Error::new(ErrorKind::Config, "max_payload is too small"));
        }
        let key = format!(
            "{}://{}:{}{}",
            if tls { "https" } else { "http" },
            host,
            port,
            path
        );
        Ok(Options {
            endpoint: Endpoint {
                host,
                port,
                path,
                headers: self.headers,
                tls: tls_config,
                max_payload: self.max_payload,
                pool: Arc::default(),
            },
            key,
            url_namespace,
            mode: self.mode,
            remember_upgrade: self.remember_upgrade,
            query: url_query,
            reconnect: self.reconnect,
            timeout: self.timeout,
            upgrade_timeout: self.upgrade_timeout,
            max_payload: self.max_payload,
            decode_limits: self.decode_limits,
            force_new: self.force_new,
            engine_max_buffered: 4096,
            max_concurrent_handlers: self.max_concurrent_handlers,
            close_timeout: self.close_timeout,
        })
    }
}

/// A rustls configuration trusting the webpki root certificates, with the `ring` provider.
pub(crate) fn default_tls() -> Result<Arc<rustls::ClientConfig>, Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::with_source(ErrorKind::Tls, "cannot configure TLS", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A rustls configuration trusting the platform's root certificates, with the `ring`
/// provider. Certificates the platform store holds but rustls cannot parse are skipped.
pub(crate) fn platform_tls() -> Result<Arc<rustls::ClientConfig>, Error> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let detail = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(Error::new(
            ErrorKind::Tls,
            format!("no platform root certificates: {detail}"),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::with_source(ErrorKind::Tls, "cannot configure TLS", e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Percent-encodes a query component (RFC 3986 unreserved characters pass).
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn url_gives_endpoint_namespace_and_query() {
        let mut d = Draft::new("https://example.com/admin?token=a%20b");
        d.query.push(("x".into(), "1 2&".into()));
        d.path = "custom".into();
        let o = d.finish().unwrap();
        assert_eq!(o.endpoint.host, "example.com");
        assert_eq!(o.endpoint.port, 443);
        assert_eq!(o.endpoint.path, "/custom/");
        assert!(o.endpoint.tls.is_some());
        assert_eq!(o.url_namespace, "/admin");
        assert_eq!(o.query, "token=a%20b&x=1%202%26");
        assert_eq!(o.key, "https://example.com:443/custom/");

        let o = Draft::new("ws://127.0.0.1:3000").finish().unwrap();
        assert_eq!((o.endpoint.port, o.url_namespace.as_str()), (3000, "/"));
        assert!(o.endpoint.tls.is_none());
        assert!(Draft::new("ftp://x").finish().is_err());
        let mut d = Draft::new("http://x");
        d.header("bad header", "v");
        assert_eq!(d.finish().unwrap_err().kind(), ErrorKind::Config);
    }
}
