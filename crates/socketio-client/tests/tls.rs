//! TLS on loopback: our server behind a rustls terminator, a certificate from a test CA, the
//! client trusting that CA through its own `rustls::ClientConfig`, on every transport.

#![allow(clippy::unwrap_used, reason = "tests fail loudly")]

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use socketio_client::{ErrorKind, Manager, ManagerEvent, TransportMode};
use socketio_server::{SocketIo, SocketIoConfig};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;

const CA: &[u8] = include_bytes!("fixtures/ca.pem");
const CERT: &[u8] = include_bytes!("fixtures/server.pem");
const KEY: &[u8] = include_bytes!("fixtures/server.key");

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Our server on plain loopback, and a TLS port in front of it; returns the TLS port.
async fn tls_server() -> u16 {
    let io = SocketIo::new(SocketIoConfig::default()).unwrap();
    io.ns("/", |socket: socketio_server::Socket| {
        socket.on("echo", |_, args, ack| async move {
            if let Some(ack) = ack {
                let _ = ack.send_args(&args);
            }
        });
    });
    let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    tokio::spawn(io.serve(plain));

    let certs = vec![CertificateDer::from_pem_slice(CERT).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut upstream) = TcpStream::connect(plain_addr).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    port
}

fn client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(CA).unwrap())
        .unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

#[tokio::test]
async fn every_transport_works_over_tls_with_a_supplied_config() {
    let port = tls_server().await;
    for (scheme, mode) in [
        ("https", TransportMode::PollingThenUpgrade),
        ("wss", TransportMode::WebSocketOnly),
        ("https", TransportMode::PollingOnly),
    ] {
        let manager = Manager::builder(&format!("{scheme}://127.0.0.1:{port}"))
            .tls_config(client_config())
            .transports(mode)
            .build()
            .unwrap();
        let mut events = manager.events();
        let socket = manager.socket("/").connect();
        timeout(Duration::from_secs(10), socket.wait_connected())
            .await
            .unwrap()
            .unwrap();
        if mode == TransportMode::PollingThenUpgrade {
            loop {
                let e = timeout(Duration::from_secs(10), events.recv())
                    .await
                    .unwrap()
                    .unwrap();
                if e == ManagerEvent::Upgrade {
                    break;
                }
            }
        }
        let (text,): (String,) = socket
            .emit_with_ack("echo", &("over tls",))
            .timeout(Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(text, "over tls", "{mode:?}");
        socket.disconnect();
    }
}

#[tokio::test]
async fn the_default_roots_refuse_an_unknown_ca() {
    let port = tls_server().await;
    let manager = Manager::builder(&format!("https://127.0.0.1:{port}"))
        .reconnection(false)
        .build()
        .unwrap();
    let mut events = manager.events();
    let socket = manager.socket("/").connect();
    let err = timeout(Duration::from_secs(10), socket.wait_connected())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReconnectFailed);
    assert!(matches!(
        events.recv().await.unwrap(),
        ManagerEvent::Error(_)
    ));
}

#[tokio::test]
async fn the_platform_roots_load_and_refuse_an_unknown_ca() {
    let port = tls_server().await;
    let manager = Manager::builder(&format!("https://127.0.0.1:{port}"))
        .tls_platform_roots()
        .reconnection(false)
        .build()
        .unwrap();
    let socket = manager.socket("/").connect();
    let err = timeout(Duration::from_secs(10), socket.wait_connected())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ReconnectFailed);
}
