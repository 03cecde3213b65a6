//! A plain accept loop: HTTP/1.1 with upgrades on a `TcpListener`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

/// Serves `handler` on every connection accepted from `listener` until the future is dropped.
///
/// Each connection runs in its own task. Request headers must arrive within 30 s (slowloris
/// guard). The peer address is inserted into each request's extensions as a [`SocketAddr`].
///
/// # Errors
///
/// Returns the listener's accept error.
pub async fn serve_with<F, Fut>(listener: TcpListener, handler: F) -> std::io::Result<()>
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<bytes::Bytes>>> + Send + 'static,
{
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(a) => a,
            Err(e) if is_transient(&e) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert::<SocketAddr>(addr);
                let fut = handler(req);
                async move { Ok::<_, Infallible>(fut.await) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), svc)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::trace!(%e, "connection ended with an error");
            }
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(24) // EMFILE: too many open files, back off
}

/// A 404 response, for requests outside every served path.
#[must_use]
pub fn not_found() -> Response<Full<bytes::Bytes>> {
    let mut res = Response::new(Full::new(bytes::Bytes::from_static(b"Not Found")));
    *res.status_mut() = http::StatusCode::NOT_FOUND;
    res
}
