//! The SSH host: one SSH connection per host for a whole run, the Docker Engine API over it.
//!
//! Built on russh directly rather than a wrapper such as async-ssh2-tokio: gantry needs the
//! connection handle itself to open `direct-streamlocal` channels to the Docker socket, to
//! accept new host keys while refusing changed ones with their fingerprint, and to honour
//! `~/.ssh/config` (through `ssh2-config`), none of which a wrapper exposes.
//!
//! - `settings`: where and how to connect (deploy.yml `ssh:`, then OpenSSH config).
//! - `known_hosts`: accept-new host key verification.
//! - `connect`: one authenticated connection (direct, jump host or `ProxyCommand`).
//! - `exec`: commands on session channels (at most 8 at once, under sshd's `MaxSessions`).
//! - `transport`: bollard over `direct-streamlocal`, or `docker system dial-stdio`.
//! - `engine`: the Docker API calls; `convert`: bollard ↔ gantry types; `files`: the scripts
//!   behind file operations.

mod connect;
mod convert;
mod engine;
mod exec;
mod files;
mod known_hosts;
mod settings;
mod transport;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use futures_util::stream::{self, StreamExt};
use tokio::sync::{OnceCell, Semaphore};

use crate::host::{
    CommandOutput, ContainerDetails, ContainerFilter, ContainerSpec, ContainerSummary, Host,
    HostError, ImageDetails, ImageSummary, RegistryAuth,
};

pub use settings::{SshSettings, Target, resolve, split_host};
pub use transport::Route as DockerRoute;

use connect::{ClientHandler, Connection, KeepAlive};

/// A host reached over SSH.
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
}

impl std::fmt::Debug for SshHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshHost")
            .field("name", &self.name)
            .field("route", &self.route)
            .finish()
    }
}

impl SshHost {
    /// Connects to the host written `entry` in deploy.yml and prepares the Docker API on it.
    pub async fn connect(entry: &str, settings: &SshSettings) -> Result<SshHost, HostError> {
        let name = entry.to_string();
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
        let Connection { handle, keepalive } = connection;
        let handle = Arc::new(handle);
        let sessions = Arc::new(Semaphore::new(exec::MAX_SESSIONS));
        let socket: Arc<str> = Arc::from(settings.docker_socket.as_str());
        let route = probe_route(&handle, &socket).await;
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
        let host = SshHost {
            name,
            settings: settings.clone(),
            handle,
            _keepalive: keepalive,
            sessions,
            docker,
            route,
            home: OnceCell::new(),
        };
        // Pins the API version the daemon speaks (Docker 20.10 speaks 1.41).
        let docker = host.docker.clone();
        let negotiated =
            tokio::time::timeout(settings.command_timeout, docker.negotiate_version()).await;
        let docker = match negotiated {
            Ok(Ok(docker)) => docker,
            Ok(Err(error)) => {
                return Err(HostError::Unreachable {
                    host: host.name.clone(),
                    message: format!(
                        "Docker does not answer on {}: {error}",
                        settings.docker_socket
                    ),
                });
            }
            Err(_) => {
                return Err(HostError::Timeout {
                    host: host.name.clone(),
                    operation: "docker version".into(),
                    seconds: settings.command_timeout.as_secs(),
                });
            }
        };
        Ok(SshHost { docker, ..host })
    }

    /// How this host's Docker API requests travel.
    pub fn docker_route(&self) -> DockerRoute {
        self.route
    }

    fn connection_closed(&self) -> bool {
        self.handle.is_closed()
    }

    /// Runs a script in the home directory, with optional stdin, under the command deadline.
    async fn script(
        &self,
        operation: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, HostError> {
        let limit = self.settings.command_timeout;
        match tokio::time::timeout(
            limit,
            exec::run(&self.handle, &self.sessions, script, stdin),
        )
        .await
        {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(error)) => Err(HostError::Unreachable {
                host: self.name.clone(),
                message: format!("{operation}: {}", error.0),
            }),
            Err(_) => Err(HostError::Timeout {
                host: self.name.clone(),
                operation: operation.to_string(),
                seconds: limit.as_secs(),
            }),
        }
    }

    /// A script that must exit 0.
    async fn checked(
        &self,
        operation: &str,
        script: Result<String, String>,
        stdin: Option<&[u8]>,
    ) -> Result<CommandOutput, HostError> {
        let script = script.map_err(|message| HostError::Command {
            host: self.name.clone(),
            message,
        })?;
        let output = self.script(operation, &script, stdin).await?;
        if !output.success() {
            return Err(HostError::Command {
                host: self.name.clone(),
                message: format!("{operation} failed: {}", output.message()),
            });
        }
        Ok(output)
    }

    fn check_path(&self, path: &str) -> Result<(), HostError> {
        match files::unsafe_path(path) {
            Some(message) => Err(HostError::Command {
                host: self.name.clone(),
                message,
            }),
            None => Ok(()),
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
        Err(_) => DockerRoute::DialStdio,
    }
}

/// Connects to every host in parallel, `max_concurrent` at a time (`sshkit.max_concurrent_starts`).
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
        .buffer_unordered(max_concurrent.max(1))
        .collect()
        .await
}

#[async_trait]
impl Host for SshHost {
    fn name(&self) -> &str {
        &self.name
    }

    async fn home_dir(&self) -> Result<String, HostError> {
        self.home
            .get_or_try_init(|| async {
                let output = self
                    .checked("home directory", Ok("pwd".to_string()), None)
                    .await?;
                Ok(output.stdout.trim().to_string())
            })
            .await
            .cloned()
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
        self.docker_pull(reference, auth).await
    }

    async fn tag_image(&self, source: &str, target: &str) -> Result<(), HostError> {
        self.docker_tag(source, target).await
    }

    async fn remove_image(&self, reference: &str, force: bool) -> Result<(), HostError> {
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
        if paths.is_empty() {
            return Ok(BTreeMap::new());
        }
        for path in paths {
            self.check_path(path)?;
        }
        let output = self
            .checked("reading files", files::read_files_script(paths), None)
            .await?;
        files::parse_read_files(paths, &output.stdout).map_err(|message| HostError::Command {
            host: self.name.clone(),
            message,
        })
    }

    async fn write_file(&self, path: &str, contents: &[u8], mode: u32) -> Result<(), HostError> {
        self.check_path(path)?;
        self.checked(
            &format!("writing {path}"),
            files::write_file_script(path, mode),
            Some(contents),
        )
        .await
        .map(|_| ())
    }

    async fn append_line(&self, path: &str, line: &str) -> Result<(), HostError> {
        self.check_path(path)?;
        let input = format!("{line}\n");
        self.checked(
            &format!("appending to {path}"),
            files::append_script(path),
            Some(input.as_bytes()),
        )
        .await
        .map(|_| ())
    }

    async fn create_dir_exclusive(&self, path: &str) -> Result<bool, HostError> {
        self.check_path(path)?;
        let output = self
            .checked(
                &format!("creating {path}"),
                files::create_dir_script(path),
                None,
            )
            .await?;
        Ok(output.stdout.trim() == "created")
    }

    async fn remove_path(&self, path: &str) -> Result<(), HostError> {
        self.check_path(path)?;
        self.checked(
            &format!("removing {path}"),
            files::remove_script(path),
            None,
        )
        .await
        .map(|_| ())
    }

    async fn run_command(&self, command: &str) -> Result<CommandOutput, HostError> {
        self.script("command", command, None).await
    }
}
