//! tower integration: [`SocketIo`] is a `Service`, and [`SocketIoLayer`] puts it in front of
//! another service (an axum `Router`, a hyper service), taking the Socket.IO path and passing
//! every other request through.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Either;

use crate::engine::EngineBody;
use crate::io::SocketIo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<B> tower_service::Service<Request<B>> for SocketIo
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<EngineBody>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let io = self.clone();
        Box::pin(async move { Ok(io.handle(req).await) })
    }
}

/// A tower `Layer` that serves Socket.IO on its path and hands every other request to the
/// wrapped service.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use socketio_server::{SocketIo, SocketIoConfig, SocketIoLayer};
///
/// let io = SocketIo::new(SocketIoConfig::default()).unwrap();
/// io.ns("/", |socket| { let _ = socket.emit("hello", &"world"); });
/// let app = axum::Router::new()
///     .route("/", axum::routing::get(|| async { "ok" }))
///     .layer(SocketIoLayer::new(io));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct SocketIoLayer {
    io: SocketIo,
}

impl SocketIoLayer {
    /// A layer serving `io`.
    #[must_use]
    pub fn new(io: SocketIo) -> Self {
        Self { io }
    }
}

impl<S> tower_layer::Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SocketIoService {
            io: self.io.clone(),
            inner,
        }
    }
}

/// The service made by [`SocketIoLayer`].
#[derive(Clone, Debug)]
pub struct SocketIoService<S> {
    io: SocketIo,
    inner: S,
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for SocketIoService<S>
where
    S: tower_service::Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Either<EngineBody, ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.io.engine().matches(req.uri().path()) {
            let io = self.io.clone();
            Box::pin(async move { Ok(io.handle(req).await.map(Either::Left)) })
        } else {
            let fut = self.inner.call(req);
            Box::pin(async move { fut.await.map(|res| res.map(Either::Right)) })
        }
    }
}
