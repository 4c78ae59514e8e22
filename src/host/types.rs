//! The values that cross the [`Host`](super::Host) seam.
//!
//! They are gantry's own, not bollard's: the SSH host converts to and from the Engine API, the
//! fake host stores them as they are. A [`ContainerSpec`] is what gantry asks a host to create;
//! a [`ContainerDetails`] is what a host reports back. Both describe options with the same
//! [`ContainerOptions`] value, so the diff can compare them field by field.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// What went wrong talking to one host. The host's name is always part of it.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host could not be reached or the connection broke (SSH, network, timeout).
    #[error("{host}: {message}")]
    Unreachable { host: String, message: String },
    /// The SSH server presented a key other than the one recorded in known_hosts.
    #[error(
        "{host}: the host key changed (now {fingerprint}; known_hosts line {line} records another key)"
    )]
    HostKeyChanged {
        host: String,
        fingerprint: String,
        line: usize,
    },
    /// SSH authentication was refused.
    #[error("{host}: authentication as {user} failed ({message})")]
    AuthFailed {
        host: String,
        user: String,
        message: String,
    },
    /// The Docker engine answered with an error.
    #[error("{host}: docker: {message}")]
    Docker { host: String, message: String },
    /// A command or file operation on the host failed.
    #[error("{host}: {message}")]
    Command { host: String, message: String },
    /// The operation did not finish in time.
    #[error("{host}: {operation} timed out after {seconds}s")]
    Timeout {
        host: String,
        operation: String,
        seconds: u64,
    },
}

impl HostError {
    /// The host the error came from.
    pub fn host(&self) -> &str {
        match self {
            HostError::Unreachable { host, .. }
            | HostError::HostKeyChanged { host, .. }
            | HostError::AuthFailed { host, .. }
            | HostError::Docker { host, .. }
            | HostError::Command { host, .. }
            | HostError::Timeout { host, .. } => host,
        }
    }

    /// True when the host (not the request) is the problem: a rerun after the host is back will
    /// do better, and observe records the host as unreachable instead of failing.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            HostError::Unreachable { .. }
                | HostError::HostKeyChanged { .. }
                | HostError::AuthFailed { .. }
                | HostError::Timeout { .. }
        )
    }
}

/// Filters for [`Host::list_containers`](super::Host::list_containers); all must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    /// `key=value` label filters; `key=` matches an empty value (Kamal's "no destination"), and a
    /// bare `key` matches any value.
    pub labels: Vec<String>,
    /// An exact container name.
    pub name: Option<String>,
}

impl ContainerFilter {
    /// Matches containers that carry every one of these `key=value` labels.
    pub fn labels<I, S>(labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ContainerFilter {
            labels: labels.into_iter().map(Into::into).collect(),
            name: None,
        }
    }

    /// Matches the one container with this exact name.
    pub fn name(name: impl Into<String>) -> Self {
        ContainerFilter {
            labels: Vec::new(),
            name: Some(name.into()),
        }
    }
}

/// One row of `docker ps -a`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    pub image: String,
    /// The image's id (`sha256:...`).
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerStatus,
    /// Unix seconds.
    pub created: i64,
}

/// Docker's container state, as `State.Status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerStatus {
    /// Parses Docker's word for it; unknown words read as `Dead`, the state gantry trusts least.
    pub fn parse(word: &str) -> Self {
        match word {
            "created" => ContainerStatus::Created,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "restarting" => ContainerStatus::Restarting,
            "removing" => ContainerStatus::Removing,
            "exited" => ContainerStatus::Exited,
            _ => ContainerStatus::Dead,
        }
    }

    /// Running or about to be: what Kamal counts as a live container.
    pub fn is_live(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Restarting)
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
        };
        f.write_str(word)
    }
}

/// The health of a container that has a health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// A restart policy (`--restart`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped` or `on-failure`; empty means Docker's default (`no`).
    pub name: String,
    pub maximum_retry_count: Option<i64>,
}

/// The logging driver and its options (`--log-driver`, `--log-opt`).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogConfig {
    /// `None`: the daemon's default driver.
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

/// One published port (`--publish [ip:]host:container[/proto]`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortBinding {
    /// `3306/tcp`.
    pub container_port: String,
    /// Empty means every address.
    pub host_ip: String,
    /// Empty means an ephemeral port.
    pub host_port: String,
}

/// A resource limit (`--ulimit nofile=1024:2048`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// A device made visible in the container (`--device /dev/x:/dev/y:rwm`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceMapping {
    pub path_on_host: String,
    pub path_in_container: String,
    pub permissions: String,
}

/// A `--mount` (HostConfig.Mounts), as docker's CLI builds it from the CSV syntax: option
/// groups are present only when one of their keys was given, so a container created by
/// `docker run --mount` and one created by gantry read back alike.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Mount {
    /// `bind`, `volume` (docker's default), `tmpfs`, `image`, `npipe` or `cluster`.
    pub kind: String,
    /// A host path, a volume name, an image; empty for anonymous volumes and tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
    pub consistency: Option<String>,
    pub bind: Option<MountBindOptions>,
    pub volume: Option<MountVolumeOptions>,
    pub tmpfs: Option<MountTmpfsOptions>,
    /// `image-subpath`.
    pub image_subpath: Option<String>,
}

/// `bind-propagation`, `bind-nonrecursive`, `bind-recursive`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct MountBindOptions {
    pub propagation: Option<String>,
    pub non_recursive: bool,
    pub read_only_non_recursive: bool,
    pub read_only_force_recursive: bool,
}

/// `volume-nocopy`, `volume-label`, `volume-driver`, `volume-opt`, `volume-subpath`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct MountVolumeOptions {
    pub no_copy: bool,
    pub labels: BTreeMap<String, String>,
    pub driver: Option<String>,
    pub driver_options: BTreeMap<String, String>,
    pub subpath: Option<String>,
}

/// `tmpfs-size` (bytes) and `tmpfs-mode` (permission bits).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct MountTmpfsOptions {
    pub size_bytes: Option<i64>,
    pub mode: Option<i64>,
}

/// A per-device block IO setting: `--blkio-weight-device /dev/sda:300` (a weight) or
/// `--device-read-bps /dev/sda:1mb` (a rate in bytes or operations per second).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeviceRate {
    pub path: String,
    pub rate: i64,
}

/// A container health check (`--health-*` options or the image's HEALTHCHECK).
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HealthcheckConfig {
    /// `["CMD-SHELL", "curl -f localhost/up"]`, or `["NONE"]` to turn off the image's check.
    pub test: Vec<String>,
    /// Nanoseconds; `None` is Docker's default.
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub start_period: Option<i64>,
    pub retries: Option<i64>,
}

/// The Docker options beyond gantry's own fields (Kamal's `options:` hash), in Engine API terms.
///
/// `None` or empty means "not set": the daemon's default. Observing a container maps the daemon's
/// defaults (zero, empty) back to `None`, so a desired and an observed value compare equal when
/// the user did not set an option.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContainerOptions {
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub stop_signal: Option<String>,
    /// Seconds.
    pub stop_timeout: Option<i64>,
    pub healthcheck: Option<HealthcheckConfig>,
    pub exposed_ports: Vec<String>,
    pub tty: bool,
    pub interactive: bool,
    /// CPU quota in units of 1e-9 CPUs (`--cpus 1.5` is 1_500_000_000).
    pub nano_cpus: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    /// Bytes.
    pub memory: Option<i64>,
    pub memory_reservation: Option<i64>,
    pub memory_swap: Option<i64>,
    pub shm_size: Option<i64>,
    pub pids_limit: Option<i64>,
    pub oom_score_adj: Option<i64>,
    pub oom_kill_disable: bool,
    pub ulimits: Vec<Ulimit>,
    pub extra_hosts: Vec<String>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub devices: Vec<DeviceMapping>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub init: Option<bool>,
    pub privileged: bool,
    pub read_only: bool,
    pub security_opt: Vec<String>,
    pub sysctls: BTreeMap<String, String>,
    /// Mount point to options (`--tmpfs /run:rw,size=64m`).
    pub tmpfs: BTreeMap<String, String>,
    pub group_add: Vec<String>,
    pub ipc_mode: Option<String>,
    pub pid_mode: Option<String>,
    pub userns_mode: Option<String>,
    pub uts_mode: Option<String>,
    pub runtime: Option<String>,
    /// `--gpus`: `all` or a count.
    pub gpus: Option<String>,
    /// Aliases on gantry's network (`--network-alias`).
    pub network_aliases: Vec<String>,
    /// Networks joined besides gantry's own (`--network` in `options:`; Kamal's `docker run
    /// --network kamal --network NAME` joins both).
    pub networks: Vec<String>,
    /// `--mount`, in order.
    pub mounts: Vec<Mount>,
    /// `--blkio-weight` (10 to 1000).
    pub blkio_weight: Option<u16>,
    pub cgroup_parent: Option<String>,
    /// Microseconds (`--cpu-period`, `--cpu-quota`, `--cpu-rt-period`, `--cpu-rt-runtime`).
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_realtime_period: Option<i64>,
    pub cpu_realtime_runtime: Option<i64>,
    pub cpuset_mems: Option<String>,
    pub device_cgroup_rules: Vec<String>,
    pub domainname: Option<String>,
    /// 0 to 100; `None` is the daemon's default.
    pub memory_swappiness: Option<i64>,
    /// `--publish-all`.
    pub publish_all_ports: bool,
    /// `--rm`.
    pub auto_remove: bool,
    pub storage_opt: BTreeMap<String, String>,
    pub volume_driver: Option<String>,
    pub volumes_from: Vec<String>,
    pub blkio_weight_device: Vec<DeviceRate>,
    pub device_read_bps: Vec<DeviceRate>,
    pub device_read_iops: Vec<DeviceRate>,
    pub device_write_bps: Vec<DeviceRate>,
    pub device_write_iops: Vec<DeviceRate>,
    /// `--ip`, `--ip6`, `--link-local-ip`: addresses on gantry's network (docker's CLI puts them
    /// on the first network, which for Kamal's `docker run --network kamal` is `kamal`).
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub link_local_ips: Vec<String>,
    /// `--link NAME[:ALIAS]`, on gantry's network as docker's CLI puts it.
    pub links: Vec<String>,
    /// `--isolation`: `default` (the only value Linux daemons take), `process` or `hyperv`.
    pub isolation: Option<String>,
    /// `--cgroupns`: `host` or `private`. Unset, the daemon picks (host on cgroup v1, private on
    /// v2) and reports its pick, so an unset desired value matches any observed one (diff).
    pub cgroupns_mode: Option<String>,
}

/// An environment variable's value: clear values may be shown, secrets never.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    Clear(String),
    Secret(Secret),
}

impl EnvValue {
    /// The value to hand to the container.
    pub fn expose(&self) -> &str {
        match self {
            EnvValue::Clear(value) => value,
            EnvValue::Secret(secret) => secret.expose(),
        }
    }

    /// True for values that come from `.kamal/secrets`.
    pub fn is_secret(&self) -> bool {
        matches!(self, EnvValue::Secret(_))
    }
}

/// Everything needed to create one container, as gantry wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    /// Full reference, registry included (`registry.example.com/app:abc123`).
    pub image: String,
    /// `None`: the image's default command.
    pub cmd: Option<Vec<String>>,
    /// Clear values and secrets, as the container will see them.
    pub env: BTreeMap<String, EnvValue>,
    pub labels: BTreeMap<String, String>,
    pub hostname: Option<String>,
    /// The network the container joins (`kamal`).
    pub network: Option<String>,
    pub restart_policy: RestartPolicy,
    pub log_config: LogConfig,
    /// `--volume` arguments with `$PWD` already expanded (`/root/.kamal/...:/assets:ro`).
    pub binds: Vec<String>,
    pub ports: Vec<PortBinding>,
    pub options: ContainerOptions,
}

/// A container as the host reports it (`docker inspect`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDetails {
    pub id: String,
    pub name: String,
    /// The reference the container was created from (`Config.Image`).
    pub image: String,
    /// The image's id (`sha256:...`).
    pub image_id: String,
    /// RFC 3339, as Docker reports it.
    pub created: String,
    pub status: ContainerStatus,
    pub health: Option<Health>,
    pub exit_code: Option<i64>,
    /// RFC 3339; empty when never started.
    pub started_at: String,
    pub cmd: Vec<String>,
    /// `K=V` pairs as Docker stores them: the image's env, then the container's.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub hostname: String,
    /// The networks the container is attached to.
    pub networks: Vec<String>,
    pub restart_policy: RestartPolicy,
    pub log_config: LogConfig,
    pub binds: Vec<String>,
    pub ports: Vec<PortBinding>,
    pub options: ContainerOptions,
}

impl ContainerDetails {
    /// The first 12 characters of the id: what Kamal hands to kamal-proxy as the target.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

/// An image's own configuration, the defaults a container inherits.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageDetails {
    pub id: String,
    pub repo_tags: Vec<String>,
    /// `<repository>@sha256:...` of each registry manifest the image was pulled as: what tells
    /// whether a tag moved in the registry since the pull.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub healthcheck: Option<HealthcheckConfig>,
    pub exposed_ports: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub stop_signal: String,
}

/// One image with its tags (`docker image ls`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub created: i64,
}

/// Credentials for one registry, sent with a pull and never stored on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryAuth {
    pub server: String,
    pub username: String,
    pub password: Secret,
}

/// What makes two pulls the same pull: the reference and the credentials (by fingerprint),
/// the key under which a pull's success is shared ([`crate::host::single_flight`]).
pub fn pull_key(reference: &str, auth: Option<&RegistryAuth>) -> String {
    match auth {
        Some(auth) => format!(
            "{reference} {}@{} {}",
            auth.username,
            auth.server,
            auth.password.fingerprint(reference)
        ),
        None => reference.to_string(),
    }
}

/// What a command printed and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CommandOutput {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

impl CommandOutput {
    /// True when the command exited 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }

    /// stderr when it says something, else stdout: the part worth showing in an error.
    pub fn message(&self) -> &str {
        let stderr = self.stderr.trim();
        if stderr.is_empty() {
            self.stdout.trim()
        } else {
            stderr
        }
    }
}

/// The user's terminal, for a command that needs one on the host (`gantry exec -i`): the
/// remote side gets a pseudo-terminal of this type and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminal {
    /// `$TERM` (`xterm-256color`).
    pub term: String,
    pub columns: u32,
    pub rows: u32,
}

/// Where a command run with [`Host::run_attached`](super::Host::run_attached) reads its input
/// and writes its output, as it runs: logs that follow, one-off containers, interactive shells.
pub struct Attached {
    /// `None`: the command's input is closed at once.
    pub stdin: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    pub stdout: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    /// Unused with a terminal: a pseudo-terminal merges both streams into `stdout`.
    pub stderr: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    /// Ask for a pseudo-terminal (interactive commands).
    pub terminal: Option<Terminal>,
}

impl fmt::Debug for Attached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attached")
            .field("stdin", &self.stdin.is_some())
            .field("terminal", &self.terminal)
            .finish()
    }
}

/// `repo:tag` split as Docker splits it: a `:` after the last `/` starts the tag (a registry's
/// port comes before the last `/`); references by digest are not split.
pub fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let last_slash = reference.rfind('/').map_or(0, |index| index + 1);
    match reference[last_slash..].rfind(':') {
        Some(colon) if !reference.contains('@') => {
            let colon = last_slash + colon;
            (&reference[..colon], Some(&reference[colon + 1..]))
        }
        _ => (reference, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_colon_only() {
        assert_eq!(split_reference("app:v1"), ("app", Some("v1")));
        assert_eq!(
            split_reference("10.0.0.1:5000/app:v1"),
            ("10.0.0.1:5000/app", Some("v1"))
        );
        assert_eq!(
            split_reference("10.0.0.1:5000/app"),
            ("10.0.0.1:5000/app", None)
        );
        assert_eq!(split_reference("busybox"), ("busybox", None));
    }
}

/// One directory tree merged into another on a host: files the destination already has are kept
/// (`cp -rnT`), so two versions' files end up side by side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryMerge {
    /// Relative to the SSH user's home.
    pub source: String,
    /// Relative to the SSH user's home; created when missing.
    pub destination: String,
    /// When false, a missing source or a failed copy is not an error (the neighbouring
    /// version's directories may be gone, as Kamal allows).
    pub required: bool,
}
