//! A container's options: what `docker run` flags and Kamal's settings become on the Engine
//! API, shared by the desired and the observed side.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
