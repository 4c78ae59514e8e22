//! The SSH host: one SSH connection per host for a whole run, the Docker Engine API over it.
//!
//! Built on russh directly rather than a wrapper such as async-ssh2-tokio: gantry needs the
//! connection handle itself to open `direct-streamlocal` channels to the Docker socket, to
//! accept new host keys while refusing changed ones with their fingerprint, and to honour
//! `~/.ssh/config` (through `ssh2-config`), none of which a wrapper exposes.
//!
//! - `settings`: where and how to connect (deploy.yml `ssh:`, then OpenSSH config).
//! - `known_hosts`: accept-new host key verification.
//! - `connect`: one connection (direct, jump hosts or `ProxyCommand`); `auth`: logging in.
//! - `exec`: commands on session channels (at most 8 at once, under sshd's `MaxSessions`).
//! - `transport`: bollard over `direct-streamlocal`, or `docker system dial-stdio`.
//! - `engine`: deadlines and error mapping for Docker API calls, made in `containers`,
//!   `images` and `container_io`; `create_body` and `inspect`: bollard ↔ gantry types.
//! - `commands`: commands and file operations on the host; `files`: their scripts.
//! - `attached`: commands whose input and output stream while they run (logs, exec, shells).
//!
//! Every operation runs under a deadline and inside a tracing span naming the host. Errors name
//! the host; losing the connection (or never getting one) is [`HostError::Unreachable`], so
//! observe can mark the host unreachable and apply can tell "host down" from "request failed".

mod attached;
mod auth;
mod commands;
mod connect;
mod container_io;
mod containers;
mod create_body;
#[cfg(test)]
mod create_body_flags;
mod engine;
mod exec;
mod files;
mod images;
mod inspect;
mod known_hosts;
mod open;
mod pull_tally;
mod settings;
mod transport;
mod trees;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::{OnceCell, Semaphore};

use crate::host::round_trips::{RoundTripCounts, RoundTrips};
use crate::host::single_flight::SingleFlight;
use crate::host::{
    Attached, CommandOutput, ContainerDetails, ContainerFilter, ContainerSpec, ContainerSummary,
    DirectoryMerge, FileChange, Host, HostError, HostFiles, HostFilesRequest, ImageDetails,
    ImageSummary, PullProgress, RegistryAuth, pull_key,
};

pub use open::connect_all;
pub use settings::{SshSettings, Target, home_dir, resolve, resolve_jump, split_host};
pub use transport::Route as DockerRoute;

use connect::{ClientHandler, KeepAlive, ReverseForwards};

/// How long a live server may take to answer a channel open before it counts as gone.
const LIVENESS_PROBE: Duration = Duration::from_secs(3);

/// A host reached over SSH: one connection, shared by every call of a run (`Arc<SshHost>`).
pub struct SshHost {
    name: String,
    settings: SshSettings,
    handle: Arc<russh::client::Handle<ClientHandler>>,
    /// Keeps jump connections and proxy commands alive.
    _keepalive: KeepAlive,
    sessions: Arc<Semaphore>,
    docker: Docker,
    route: DockerRoute,
    home: OnceCell<String>,
    /// Pulls in flight, joined by reference.
    pulls: SingleFlight,
    /// How far each pull in flight has come.
    pulls_under_way: pull_tally::PullsUnderWay,
    /// Ports the host forwards back to this machine, and their set-up, once per port.
    reverse: ReverseForwards,
    reverse_setups: SingleFlight,
    /// Sessions and Engine API requests sent on this connection.
    round_trips: Arc<RoundTrips>,
    /// Whether Docker answers; every API call waits for it (see [`version_check`]).
    version_check: VersionCheck,
}

/// The outcome of the Docker version check of a connection, shared by every API call on it.
type VersionCheck = Shared<BoxFuture<'static, Result<(), DockerAbsent>>>;

/// Why the version check failed, kept to fail every API call with it.
#[derive(Clone, Debug)]
enum DockerAbsent {
    Unanswered(String),
    TimedOut(u64),
}

impl DockerAbsent {
    fn error(&self, host: &str) -> HostError {
        match self {
            DockerAbsent::Unanswered(message) => HostError::Unreachable {
                host: host.to_string(),
                message: message.clone(),
            },
            DockerAbsent::TimedOut(seconds) => HostError::Timeout {
                host: host.to_string(),
                operation: "docker version".into(),
                seconds: *seconds,
            },
        }
    }
}

/// Asks Docker for its version with the connection's first API request, not before: every call
/// awaits the check beside its own request, so the two share their round trip and one wave
/// (sent when the connection came up, the check was a wave of its own whenever the run's first
/// request went out after its answer). bollard 0.21 sends unversioned paths, so the answer
/// changes no request; a Docker that does not answer fails every API call with this error, as
/// it failed the connection before.
fn version_check(
    docker: Docker,
    route: DockerRoute,
    settings: &SshSettings,
    round_trips: Arc<RoundTrips>,
) -> VersionCheck {
    let limit = settings.command_timeout;
    let socket = settings.docker_socket.clone();
    async move {
        let _in_flight = round_trips.api_request();
        match tokio::time::timeout(limit, docker.negotiate_version()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(DockerAbsent::Unanswered(format!(
                "Docker does not answer on {socket} ({route:?}): {error}"
            ))),
            Err(_) => Err(DockerAbsent::TimedOut(limit.as_secs())),
        }
    }
    .boxed()
    .shared()
}

impl std::fmt::Debug for SshHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshHost")
            .field("name", &self.name)
            .field("route", &self.route)
            .finish()
    }
}

#[async_trait]
impl Host for SshHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn round_trips(&self) -> Option<RoundTripCounts> {
        Some(self.round_trips.counts())
    }

    async fn home_dir(&self) -> Result<String, HostError> {
        self.host_home_dir().await
    }

    async fn list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerSummary>, HostError> {
        self.docker_list_containers(filter).await
    }

    async fn inspect_container(
        &self,
        id_or_name: &str,
    ) -> Result<Option<ContainerDetails>, HostError> {
        self.docker_inspect_container(id_or_name).await
    }

    async fn inspect_image(&self, reference: &str) -> Result<Option<ImageDetails>, HostError> {
        self.docker_inspect_image(reference).await
    }

    async fn list_images(&self, label: Option<&str>) -> Result<Vec<ImageSummary>, HostError> {
        self.docker_list_images(label).await
    }

    async fn list_networks(&self) -> Result<Vec<String>, HostError> {
        self.docker_list_networks().await
    }

    async fn create_network(&self, name: &str) -> Result<(), HostError> {
        self.docker_create_network(name).await
    }

    async fn pull_image(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<(), HostError> {
        if let Some(port) = local_registry_port(reference) {
            self.forward_local_registry(port).await?;
        }
        self.pulls
            .run(&pull_key(reference, auth), || {
                self.docker_pull(reference, auth)
            })
            .await
    }

    fn pull_progress(&self, reference: &str) -> Option<PullProgress> {
        self.pulls_under_way.get(reference)
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<(), HostError> {
        self.docker_tag(source, target).await
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<(), HostError> {
        self.pulls.forget_all();
        self.docker_remove_image(reference, force).await
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, HostError> {
        self.docker_create_container(spec).await
    }

    async fn start_container(&self, id_or_name: &str) -> Result<(), HostError> {
        self.docker_start(id_or_name).await
    }

    async fn stop_container(
        &self,
        id_or_name: &str,
        timeout: Option<Duration>,
    ) -> Result<(), HostError> {
        self.docker_stop(id_or_name, timeout).await
    }

    async fn remove_container(&self, id_or_name: &str) -> Result<(), HostError> {
        self.docker_remove(id_or_name).await
    }

    async fn rename_container(&self, id_or_name: &str, new_name: &str) -> Result<(), HostError> {
        self.docker_rename(id_or_name, new_name).await
    }

    async fn exec_in_container(
        &self,
        container: &str,
        argv: &[String],
    ) -> Result<CommandOutput, HostError> {
        self.docker_exec(container, argv).await
    }

    async fn read_container_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        self.docker_read_file(container, path).await
    }

    async fn container_logs(&self, container: &str, tail: usize) -> Result<String, HostError> {
        self.docker_logs(container, tail).await
    }

    async fn read_files(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<Vec<u8>>>, HostError> {
        self.host_read_files(paths).await
    }

    async fn change_files(&self, changes: &[FileChange<'_>]) -> Vec<Result<bool, HostError>> {
        self.host_change_files(changes).await
    }

    async fn read_host_files(&self, request: &HostFilesRequest<'_>) -> HostFiles {
        self.docker_read_host_files(request).await
    }

    async fn file_ages(
        &self,
        paths: &[String],
    ) -> Result<BTreeMap<String, Option<std::time::Duration>>, HostError> {
        self.host_file_ages(paths).await
    }

    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), HostError> {
        self.host_write_file(path, contents, mode).await
    }

    async fn append_line(&self, path: &str, line: &str) -> Result<(), HostError> {
        self.host_append_line(path, line).await
    }

    async fn create_dir_exclusive(&self, path: &str) -> Result<bool, HostError> {
        self.host_create_dir_exclusive(path).await
    }

    async fn create_dir_exclusive_with_file(
        &self,
        path: &str,
        file: &str,
        contents: &[u8],
        mode: u32,
    ) -> Result<bool, HostError> {
        self.host_create_dir_exclusive_with_file(path, file, contents, mode)
            .await
    }

    async fn remove_path(&self, path: &str) -> Result<(), HostError> {
        self.host_remove_path(path).await
    }

    async fn remove_dir_if_file_is(
        &self,
        dir: &str,
        file: &str,
        contents: &[u8],
    ) -> Result<bool, HostError> {
        self.host_remove_dir_if_file_is(dir, file, contents).await
    }

    async fn extract_image_directory(
        &self,
        image: &str,
        container: &str,
        source_path: &str,
        destination: &str,
    ) -> Result<(), HostError> {
        self.host_extract_image_directory(image, container, source_path, destination)
            .await
    }

    async fn merge_directories(&self, merges: &[DirectoryMerge]) -> Result<(), HostError> {
        self.host_merge_directories(merges).await
    }

    async fn remove_other_entries(
        &self,
        directory: &str,
        prefix: &str,
        keep: &str,
    ) -> Result<(), HostError> {
        self.host_remove_other_entries(directory, prefix, keep)
            .await
    }

    async fn registry_digest(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<Option<String>, HostError> {
        self.docker_registry_digest(reference, auth).await
    }

    async fn make_directory(
        &self,
        path: &str,
        mode: Option<u32>,
        owner: Option<&str>,
    ) -> Result<(), HostError> {
        self.host_make_directory(path, mode, owner).await
    }

    async fn change_owner(&self, path: &str, owner: &str) -> Result<(), HostError> {
        self.host_change_owner(path, owner).await
    }

    async fn run_command(&self, command: &str) -> Result<CommandOutput, HostError> {
        self.host_run_command(command).await
    }

    async fn run_attached(&self, command: &str, io: Attached) -> Result<i64, HostError> {
        self.host_run_attached(command, io).await
    }
}

/// The port of a reference's registry when it is Kamal's local registry (`localhost:<port>/...`).
fn local_registry_port(reference: &str) -> Option<u16> {
    let (registry, _) = reference.split_once('/')?;
    registry.strip_prefix("localhost:")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::local_registry_port;

    /// An SSH server that accepts any key and then never answers a channel request.
    struct SilentAfterLogin {
        unanswered: Vec<russh::server::ChannelOpenHandle>,
    }

    impl russh::server::Handler for SilentAfterLogin {
        type Error = russh::Error;

        async fn auth_publickey(
            &mut self,
            _: &str,
            _: russh::server::VerifiedPublicKey<'_>,
        ) -> Result<russh::server::Auth, Self::Error> {
            Ok(russh::server::Auth::Accept)
        }

        async fn channel_open_direct_streamlocal(
            &mut self,
            _: russh::Channel<russh::server::Msg>,
            _: &str,
            reply: russh::server::ChannelOpenHandle,
            _: &mut russh::server::Session,
        ) -> Result<(), Self::Error> {
            self.unanswered.push(reply);
            Ok(())
        }

        async fn channel_open_session(
            &mut self,
            _: russh::Channel<russh::server::Msg>,
            reply: russh::server::ChannelOpenHandle,
            _: &mut russh::server::Session,
        ) -> Result<(), Self::Error> {
            self.unanswered.push(reply);
            Ok(())
        }
    }

    /// A host that logs in and then answers nothing made every command hang (#15): connecting
    /// now fails within the connect timeout, as unreachable.
    #[tokio::test]
    async fn a_host_silent_after_login_is_unreachable_within_the_connect_timeout() {
        let scratch = tempfile::tempdir().unwrap();
        for name in ["host_key", "client_key"] {
            let made = std::process::Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(scratch.path().join(name))
                .status()
                .unwrap();
            assert!(made.success());
        }
        let host_key = russh::keys::load_secret_key(scratch.path().join("host_key"), None).unwrap();
        let config = std::sync::Arc::new(russh::server::Config {
            keys: vec![host_key],
            ..Default::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let handler = SilentAfterLogin {
                    unanswered: Vec::new(),
                };
                let config = config.clone();
                tokio::spawn(async move {
                    if let Ok(session) = russh::server::run_stream(config, socket, handler).await {
                        let _ = session.await;
                    }
                });
            }
        });
        let settings = super::SshSettings {
            user: "deploy".into(),
            port,
            keys: vec![scratch.path().join("client_key")],
            key_data: Vec::new(),
            keys_only: true,
            agent: None,
            jump: None,
            proxy_command: None,
            config_files: Vec::new(),
            known_hosts: Some(scratch.path().join("known_hosts")),
            connect_timeout: std::time::Duration::from_secs(2),
            command_timeout: std::time::Duration::from_secs(2),
            docker_socket: "/var/run/docker.sock".into(),
        };
        let started = std::time::Instant::now();
        let connected = tokio::time::timeout(
            std::time::Duration::from_secs(20),
            super::SshHost::connect("127.0.0.1", &settings),
        )
        .await
        .expect("connect returned within 20 s");
        let Err(error) = connected else {
            panic!("a silent host connected");
        };
        assert!(error.is_connection(), "{error}");
        assert!(
            error.to_string().contains("answered no channel request"),
            "{error}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn only_localhost_with_a_port_is_the_local_registry() {
        assert_eq!(local_registry_port("localhost:5555/app:v1"), Some(5555));
        assert_eq!(local_registry_port("localhost/app:v1"), None);
        assert_eq!(
            local_registry_port("registry.example.com:5555/app:v1"),
            None
        );
        assert_eq!(local_registry_port("app:v1"), None);
    }
}
