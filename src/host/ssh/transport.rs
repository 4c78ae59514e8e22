//! The Docker Engine API over the host's SSH connection.
//!
//! Each HTTP request opens a `direct-streamlocal` channel to the Docker socket on the host and
//! speaks HTTP/1.1 on it (bollard's custom transport). No socket file appears on either machine,
//! no `docker` process runs per call, and forwarding channels do not count against sshd's
//! `MaxSessions`. Where sshd forbids socket forwarding (`AllowStreamLocalForwarding no`), the
//! same requests go through `docker system dial-stdio` on a session channel instead.

use std::sync::Arc;

use bollard::{API_DEFAULT_VERSION, BollardRequest, Docker};
use hyper::header::{HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use russh::client::Handle;
use tokio::sync::Semaphore;

use crate::host::ssh::connect::ClientHandler;

/// How API requests reach dockerd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A `direct-streamlocal` channel to the socket per request.
    StreamLocal,
    /// `docker system dial-stdio` on a session channel per request.
    DialStdio,
}

fn io_error(message: String) -> bollard::errors::Error {
    bollard::errors::Error::IOError {
        err: std::io::Error::other(message),
    }
}

/// A bollard client whose requests travel on `handle`.
pub fn docker_client(
    handle: Arc<Handle<ClientHandler>>,
    sessions: Arc<Semaphore>,
    socket: Arc<str>,
    route: Route,
    timeout_seconds: u64,
) -> Result<Docker, bollard::errors::Error> {
    let transport = move |mut request: BollardRequest| {
        let handle = handle.clone();
        let sessions = sessions.clone();
        let socket = socket.clone();
        // hyper's connection API does not add Host, and dockerd refuses requests without it.
        request
            .headers_mut()
            .insert(HOST, HeaderValue::from_static("docker"));
        async move {
            let (stream, permit) = match route {
                Route::StreamLocal => {
                    let channel = handle
                        .channel_open_direct_streamlocal(socket.as_ref())
                        .await
                        .map_err(|error| io_error(format!("docker socket {socket}: {error}")))?;
                    (channel.into_stream(), None)
                }
                Route::DialStdio => {
                    let permit = sessions
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|error| io_error(error.to_string()))?;
                    let channel = super::exec::open_session(&handle)
                        .await
                        .map_err(|error| io_error(format!("opening a session: {error}")))?;
                    channel
                        .exec(true, "docker system dial-stdio")
                        .await
                        .map_err(|error| io_error(format!("docker system dial-stdio: {error}")))?;
                    (channel.into_stream(), Some(permit))
                }
            };
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                // Upgrades keep `exec` attach working; the permit lives as long as the connection.
                let _permit = permit;
                let _ = connection.with_upgrades().await;
            });
            Ok(sender.send_request(request).await?)
        }
    };
    Docker::connect_with_custom_transport(
        transport,
        Some("http://docker"),
        timeout_seconds,
        API_DEFAULT_VERSION,
    )
}
