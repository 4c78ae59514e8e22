//! Opening an [`SshHost`]: the SSH connection, the route to Docker on it (socket channel or
//! `docker system dial-stdio`), the local registry's reverse forward; and telling whether an
//! open connection still answers.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{self, FutureExt};
use futures_util::stream::{self, StreamExt};
use tokio::sync::{OnceCell, Semaphore};
use tracing::Instrument;

use super::connect::{self, ClientHandler, Connection};
use super::settings::SshSettings;
use super::transport::Route as DockerRoute;
use super::{LIVENESS_PROBE, SshHost, version_check};
use super::{exec, transport};
use crate::host::HostError;
use crate::host::round_trips::RoundTrips;
use crate::host::single_flight::SingleFlight;

impl SshHost {
    /// Connects to the host written `entry` in deploy.yml and prepares the Docker API on it.
    pub async fn connect(entry: &str, settings: &SshSettings) -> Result<SshHost, HostError> {
        let span = tracing::info_span!("ssh", host = %entry);
        Self::connect_inner(entry, settings, true)
            .instrument(span)
            .await
    }

    /// Connects without asking for Docker: for the commands that run before Docker is there
    /// (`gantry setup` installing it). Shell commands and files work; Docker API calls fail.
    pub async fn connect_shell(entry: &str, settings: &SshSettings) -> Result<SshHost, HostError> {
        let span = tracing::info_span!("ssh", host = %entry);
        Self::connect_inner(entry, settings, false)
            .instrument(span)
            .await
    }

    pub(super) async fn connect_inner(
        entry: &str,
        settings: &SshSettings,
        with_docker: bool,
    ) -> Result<SshHost, HostError> {
        let name = entry.to_string();
        let started = std::time::Instant::now();
        let connect = connect::connect(&name, entry, settings);
        let connection = match tokio::time::timeout(settings.connect_timeout, connect).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(HostError::Unreachable {
                    host: name,
                    message: format!(
                        "no SSH connection within {}s",
                        settings.connect_timeout.as_secs()
                    ),
                });
            }
        };
        let Connection {
            handle,
            keepalive,
            reverse,
        } = connection;
        let handle = Arc::new(handle);
        let sessions = Arc::new(Semaphore::new(exec::MAX_SESSIONS));
        let socket: Arc<str> = Arc::from(settings.docker_socket.as_str());
        // A host can authenticate and then answer nothing (sshd wedged, a tarpit): the probe
        // gets the connect deadline too, or every command would hang on such a host.
        let route =
            match tokio::time::timeout(settings.connect_timeout, probe_route(&handle, &socket))
                .await
            {
                Ok(route) => route,
                Err(_) => {
                    return Err(HostError::Unreachable {
                        host: name,
                        message: format!(
                            "logged in, but the host answered no channel request within {}s",
                            settings.connect_timeout.as_secs()
                        ),
                    });
                }
            };
        let docker = transport::docker_client(
            handle.clone(),
            sessions.clone(),
            socket,
            route,
            settings.command_timeout.as_secs(),
        )
        .map_err(|error| HostError::Unreachable {
            host: name.clone(),
            message: error.to_string(),
        })?;
        let round_trips = Arc::new(RoundTrips::default());
        let version_check = if with_docker {
            version_check(docker.clone(), route, settings, round_trips.clone())
        } else {
            future::ready(Ok(())).boxed().shared()
        };
        tracing::debug!(
            ?route,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "connected"
        );
        Ok(SshHost {
            name,
            settings: settings.clone(),
            handle,
            _keepalive: keepalive,
            sessions,
            docker,
            route,
            home: OnceCell::new(),
            pulls: SingleFlight::default(),
            pulls_under_way: Default::default(),
            reverse,
            reverse_setups: SingleFlight::default(),
            round_trips,
            version_check,
        })
    }

    /// How this host's Docker API requests travel.
    pub fn docker_route(&self) -> DockerRoute {
        self.route
    }

    /// Makes `localhost:<port>` on the host reach the same port on this machine, for the rest of
    /// the connection: Kamal's local registry (`registry.server: localhost:5555`) lives on the
    /// deploying machine, and the hosts pull from it through the SSH connection. Once per port.
    pub async fn forward_local_registry(&self, port: u16) -> Result<(), HostError> {
        let port = u32::from(port);
        self.reverse_setups
            .run(&port.to_string(), || async {
                self.reverse.allow(port);
                match self.handle.tcpip_forward("127.0.0.1", port).await {
                    Ok(_) => {
                        tracing::debug!(port, "local registry forwarded to the host");
                        Ok(())
                    }
                    Err(error) => Err(HostError::Command {
                        host: self.name.clone(),
                        message: format!(
                            "cannot forward the local registry to localhost:{port} on the host \
                             ({error}): is the port taken there, or is AllowTcpForwarding off \
                             in its sshd?"
                        ),
                    }),
                }
            })
            .await
    }

    pub(super) fn connection_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// After a deadline passed: is the server still there? Any answer to a channel open, even a
    /// refusal, proves it; silence means the host or the network in between is gone, which is
    /// "unreachable", not "this request was slow". A cut network never closes a TCP connection
    /// by itself, so this is how a dead connection is told apart within the deadlines.
    pub(super) async fn still_answers(&self) -> bool {
        if self.connection_closed() {
            return false;
        }
        let probe = self
            .handle
            .channel_open_direct_streamlocal(self.settings.docker_socket.as_str());
        match tokio::time::timeout(LIVENESS_PROBE, probe).await {
            Ok(Ok(channel)) => {
                let _ = channel.close().await;
                true
            }
            Ok(Err(russh::Error::ChannelOpenFailure(_))) => true,
            Ok(Err(_)) | Err(_) => false,
        }
    }

    /// The error for an operation that ran out of time: the host's, or the request's.
    pub(super) async fn deadline_passed(&self, operation: &str, limit: Duration) -> HostError {
        if self.still_answers().await {
            return HostError::Timeout {
                host: self.name.clone(),
                operation: operation.to_string(),
                seconds: limit.as_secs(),
            };
        }
        HostError::Unreachable {
            host: self.name.clone(),
            message: format!(
                "{operation}: no answer for {}s and the SSH connection no longer responds",
                limit.as_secs()
            ),
        }
    }
}

/// Streamlocal forwarding when sshd allows it, else `docker system dial-stdio`.
async fn probe_route(handle: &russh::client::Handle<ClientHandler>, socket: &str) -> DockerRoute {
    match handle.channel_open_direct_streamlocal(socket).await {
        Ok(channel) => {
            let _ = channel.close().await;
            DockerRoute::StreamLocal
        }
        Err(error) => {
            tracing::info!(%error, socket, "socket forwarding refused; using docker system dial-stdio");
            DockerRoute::DialStdio
        }
    }
}

/// Connects to every host in parallel, `max_concurrent` at a time (`sshkit.max_concurrent_starts`),
/// each within the connect timeout. Results come back in the order of `hosts`, failures included:
/// one unreachable host never stops the others.
pub async fn connect_all(
    hosts: &[String],
    settings: &SshSettings,
    max_concurrent: usize,
) -> Vec<(String, Result<Arc<SshHost>, HostError>)> {
    stream::iter(hosts.iter().cloned())
        .map(|host| async move {
            let result = SshHost::connect(&host, settings).await.map(Arc::new);
            (host, result)
        })
        .buffered(max_concurrent.max(1))
        .collect()
        .await
}
