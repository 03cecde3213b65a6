//! `sio serve`: the demo server, the status page and optional static files on one port.
//!
//! One hyper HTTP/1.1 stack: [`SocketIoLayer`] takes `/socket.io/` and hands every other
//! request to [`Site`] (the status page, `/status.json`, the static files). Shutdown on Ctrl-C
//! or SIGTERM: stop accepting, `SocketIo::close` (every socket ends with `server shutting
//! down`), ask every HTTP connection to finish, and wait, at most [`DRAIN`], until every
//! connection (upgraded WebSockets included) has been dropped.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use socketio_redis::{RedisAdapterConfig, RedisCluster};
use socketio_server::{AdapterFactory, SocketIo, SocketIoConfig, SocketIoLayer, SocketIoService};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower_layer::Layer as _;
use tower_service::Service;

use crate::demo;
use crate::status::{self, Status};

/// Longest wait for open connections after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(10);
/// How long to wait for Redis before saying so again (`--redis`).
const REDIS_WAIT: Duration = Duration::from_secs(5);
/// Largest file served from `--static` (the socket.io client bundle is about 50 KB).
const MAX_STATIC_FILE: u64 = 16 * 1024 * 1024;

/// `sio serve` flags.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// TCP port to listen on (0 picks a free port; the readiness line tells which).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Also serve the files of DIR (not its subdirectories) at `/FILE`; repeat the flag to
    /// serve several directories, searched in order.
    #[arg(long = "static", value_name = "DIR")]
    static_dirs: Vec<PathBuf>,
    /// Do not print a status line per connect and disconnect.
    #[arg(long, short)]
    quiet: bool,
    /// Run as one node of a cluster: rooms, broadcasts and acks span every server on the
    /// Redis at URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS), Node
    /// servers with `@socket.io/redis-adapter` included.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The channel prefix on Redis (the Node adapter's `key`): the same on every server.
    #[arg(
        long,
        value_name = "KEY",
        default_value = "socket.io",
        requires = "redis"
    )]
    redis_key: String,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: ServeArgs) -> Result<(), String> {
    if let Some(dir) = args.static_dirs.iter().find(|d| !d.is_dir()) {
        return Err(format!("--static {}: not a directory", dir.display()));
    }
    let mut config = SocketIoConfig::default();
    let cluster = match &args.redis {
        Some(url) => {
            let cluster =
                RedisCluster::new(url, RedisAdapterConfig::with_key(args.redis_key.clone()))
                    .map_err(|e| format!("--redis {}: {e}", redacted(url)))?;
            let adapters = cluster.clone();
            config.adapter = AdapterFactory::new(move |ns| adapters.adapter(ns));
            Some(cluster)
        }
        None => None,
    };
    let io = SocketIo::new(config).map_err(|e| e.to_string())?;
    demo::register(&io, !args.quiet);
    let addr = SocketAddr::new(args.host, args.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let status = Status::new(io.clone());
    tokio::spawn(status.clone().sample());
    let site = Site {
        status,
        static_dirs: args.static_dirs.into_iter().map(Arc::from).collect(),
    };
    let service = SocketIoLayer::new(io.clone()).layer(site);
    // The readiness line: tests and scripts wait for it.
    eprintln!("sio: listening on http://{bound}/ (Ctrl-C stops)");
    if let (Some(cluster), Some(url)) = (cluster, &args.redis) {
        // The server serves while Redis is away; the cluster reconnects by itself.
        let url = redacted(url);
        tokio::spawn(async move {
            while !cluster.wait_connected(REDIS_WAIT).await {
                eprintln!("sio: waiting for Redis at {url}");
            }
            eprintln!("sio: joined the cluster on Redis at {url}");
        });
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection holds a sender; the receiver sees `None` once all are dropped.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let stream = Tracked { stream, _alive: alive_tx.clone() };
                    tokio::spawn(connection(stream, peer, service.clone(), stop_rx.clone()));
                }
                Err(e) if is_transient(&e) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => return Err(format!("accept failed: {e}")),
            },
            name = &mut signal => {
                let name = name?;
                eprintln!("sio: {name}, shutting down");
                break;
            }
        }
    }
    drop(listener);
    io.close();
    let _ = stop_tx.send(true);
    drop(alive_tx);
    match tokio::time::timeout(DRAIN, alive_rx.recv()).await {
        Ok(_) => eprintln!("sio: stopped"),
        Err(_) => eprintln!(
            "sio: connections still open after {} s, stopping anyway",
            DRAIN.as_secs()
        ),
    }
    Ok(())
}

/// A Redis URL without its password, for messages.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Resolves with the signal's name on Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() -> Result<&'static str, String> {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())
            .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
        tokio::select! {
            r = interrupt => r.map(|()| "interrupted").map_err(|e| e.to_string()),
            _ = terminate.recv() => Ok("terminated"),
        }
    }
    #[cfg(not(unix))]
    {
        interrupt
            .await
            .map(|()| "interrupted")
            .map_err(|e| e.to_string())
    }
}

fn is_transient(e: &io::Error) -> bool {
    use io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error() == Some(24) // EMFILE: too many open files, back off
}

/// Serves one TCP connection; on shutdown, lets its current request finish and closes it.
async fn connection(
    stream: Tracked,
    peer: SocketAddr,
    service: SocketIoService<Site>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.stream.set_nodelay(true);
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert::<SocketAddr>(peer);
        let mut service = service.clone();
        async move {
            std::future::poll_fn(|cx| Service::<Request<Incoming>>::poll_ready(&mut service, cx))
                .await?;
            service.call(req).await
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = async { drop(stop.wait_for(|stop| *stop).await) } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A TCP stream that holds a sender of the shutdown's drain channel until it is dropped,
/// also after an upgrade hands it to a WebSocket session.
#[derive(Debug)]
struct Tracked {
    stream: TcpStream,
    _alive: mpsc::Sender<()>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Everything but Socket.IO: the status page, its JSON, and the `--static` files.
#[derive(Clone, Debug)]
struct Site {
    status: Status,
    static_dirs: Arc<[Arc<Path>]>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<B> Service<Request<B>> for Site {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let site = self.clone();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        Box::pin(async move { Ok(site.respond(&method, &path).await) })
    }
}

impl Site {
    async fn respond(&self, method: &Method, path: &str) -> Response<Full<Bytes>> {
        if method != Method::GET && method != Method::HEAD {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let res = match path {
            "/" => Some(ok(
                "text/html; charset=utf-8",
                Bytes::from_static(status::PAGE.as_bytes()),
            )),
            "/status.json" => serde_json::to_vec(&self.status.report())
                .ok()
                .map(|json| ok("application/json", Bytes::from(json))),
            _ => {
                let mut found = None;
                for dir in self.static_dirs.iter() {
                    found = static_file(dir, path).await;
                    if found.is_some() {
                        break;
                    }
                }
                found
            }
        };
        let mut res = res.unwrap_or_else(|| plain(StatusCode::NOT_FOUND, "not found"));
        if method == Method::HEAD {
            *res.body_mut() = Full::new(Bytes::new());
        }
        res
    }
}

fn ok(content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body));
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    res
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut res = ok(
        "text/plain; charset=utf-8",
        Bytes::from_static(text.as_bytes()),
    );
    *res.status_mut() = status;
    res
}

/// A regular file directly inside `dir`, named by a path of one plain segment (no `..`, no
/// hidden files, no percent-escapes, no subdirectories).
async fn static_file(dir: &Path, path: &str) -> Option<Response<Full<Bytes>>> {
    let name = path.strip_prefix('/')?;
    let plain_name = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    let mut components = Path::new(name).components();
    if !plain_name
        || !matches!(components.next(), Some(Component::Normal(_)))
        || components.next().is_some()
    {
        return None;
    }
    let file = dir.join(name);
    let meta = tokio::fs::metadata(&file).await.ok()?;
    if !meta.is_file() || meta.len() > MAX_STATIC_FILE {
        return None;
    }
    let body = tokio::fs::read(&file).await.ok()?;
    Some(ok(content_type(name), Bytes::from(body)))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
