//! `kamal-proxy run`: the HTTP listener, the control socket, and an orderly stop on SIGTERM.
//!
//! Start-up: restore the state file, listen for HTTP on `--http-port` and HTTPS on
//! `--https-port` (all interfaces), open the control socket, log "Server started". On SIGTERM
//! or SIGINT: stop accepting, let open connections finish for up to 10 seconds (kamal-proxy's
//! shutdown timeout), remove the socket, log "Server stopped". HTTP/3 and metrics are accepted
//! and logged as not served.

use std::convert::Infallible;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::control;
use crate::log;
use crate::proxy::Proxy;
use crate::router::Router;
use crate::state;
use crate::tls;

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of `run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunConfig {
    pub debug: bool,
    pub http_port: u16,
    pub https_port: u16,
    pub metrics_port: u16,
    pub http3: bool,
}

/// The server could not start.
#[derive(Debug, Error)]
pub enum ServerError {
    #[error("listen tcp :{port}: {source}")]
    Listen { port: u16, source: io::Error },
    #[error("listen unix {path}: {source}")]
    Socket { path: PathBuf, source: io::Error },
    #[error("installing signal handlers: {0}")]
    Signals(io::Error),
    #[error("configuring TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs until SIGTERM or SIGINT.
pub async fn run(config: RunConfig) -> Result<(), ServerError> {
    log::set_debug(config.debug);
    let router = Arc::new(Router::new(state::state_path()));
    router.restore();

    let listener = listen(config.http_port).await?;
    let tls_listener = listen(config.https_port).await?;
    let acceptor = tls::acceptor(Arc::clone(&router))?;
    let socket = control::socket_path();
    let control_listener = control::bind(&socket).map_err(|source| ServerError::Socket {
        path: socket.clone(),
        source,
    })?;
    let mut terminate = signal(SignalKind::terminate()).map_err(ServerError::Signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServerError::Signals)?;

    let shutdown = CancellationToken::new();
    tokio::spawn(control::serve(
        control_listener,
        Arc::clone(&router),
        shutdown.clone(),
    ));
    for (flag, enabled) in [
        ("--metrics-port", config.metrics_port > 0),
        ("--http3", config.http3),
    ] {
        if enabled {
            log::warn(
                "Not implemented by the test bed stand-in; ignored",
                &[("flag", json!(flag))],
            );
        }
    }
    log::info(
        "Server started",
        &[
            ("http", json!(config.http_port)),
            ("https", json!(config.https_port)),
        ],
    );

    let proxy = Arc::new(Proxy::new(router));
    let graceful = GracefulShutdown::new();
    loop {
        let (accepted, tls) = tokio::select! {
            accepted = listener.accept() => (accepted, false),
            accepted = tls_listener.accept() => (accepted, true),
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        };
        let (stream, client_address) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                log::error(
                    "Error accepting connection",
                    &[("error", json!(error.to_string()))],
                );
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let proxy = Arc::clone(&proxy);
        let service = service_fn(move |request| {
            let proxy = Arc::clone(&proxy);
            async move { Ok::<_, Infallible>(proxy.handle(request, client_address, tls).await) }
        });
        if !tls {
            let connection = graceful
                .watch(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            tokio::spawn(log_connection_end(connection));
            continue;
        }
        // The handshake runs in the connection's task so a slow client holds up no one else.
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        log::debug(
                            "TLS handshake failed",
                            &[("error", json!(error.to_string()))],
                        );
                        return;
                    }
                    Err(_) => return,
                };
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            log_connection_end(watcher.watch(connection)).await;
        });
    }

    shutdown.cancel();
    drop(listener);
    drop(tls_listener);
    if tokio::time::timeout(SHUTDOWN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        log::warn("Connections still open after the shutdown timeout", &[]);
    }
    let _ = std::fs::remove_file(&socket);
    log::info("Server stopped", &[]);
    Ok(())
}

async fn listen(port: u16) -> Result<TcpListener, ServerError> {
    TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|source| ServerError::Listen { port, source })
}

async fn log_connection_end<F>(connection: F)
where
    F: Future<Output = Result<(), hyper::Error>>,
{
    if let Err(error) = connection.await {
        log::debug(
            "Connection ended with an error",
            &[("error", json!(error.to_string()))],
        );
    }
}
