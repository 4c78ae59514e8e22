//! `kamal-proxy run`: the HTTP listener, the control socket, and an orderly stop on SIGTERM.
//!
//! Start-up: restore the state file, listen for HTTP on `--http-port` (all interfaces), open the
//! control socket, log "Server started". On SIGTERM or SIGINT: stop accepting, let open
//! connections finish for up to 10 seconds (kamal-proxy's shutdown timeout), remove the socket,
//! log "Server stopped". HTTPS, HTTP/3 and metrics ports are accepted and logged as not served.

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
}

/// Runs until SIGTERM or SIGINT.
pub async fn run(config: RunConfig) -> Result<(), ServerError> {
    log::set_debug(config.debug);
    let router = Arc::new(Router::new(state::state_path()));
    router.restore();

    let listener = TcpListener::bind(("0.0.0.0", config.http_port))
        .await
        .map_err(|source| ServerError::Listen {
            port: config.http_port,
            source,
        })?;
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
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
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
            async move { Ok::<_, Infallible>(proxy.handle(request, client_address).await) }
        });
        let connection =
            graceful.watch(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                log::debug(
                    "Connection ended with an error",
                    &[("error", json!(error.to_string()))],
                );
            }
        });
    }

    shutdown.cancel();
    drop(listener);
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
