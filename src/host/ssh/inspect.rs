//! The daemon's answers as gantry's values: `docker inspect` of a container or an image, and the
//! rows of `docker ps` and `docker image ls`. Pure.
//!
//! The daemon's defaults (zero, empty, null, its default shm size, runtime and IPC mode, the
//! swap limit it derives from a memory limit, the alias it adds for the container's short id)
//! map back to "not set", so an option nobody set compares equal to an unset desired option.
//! Daemons older than bollard's API (Docker 20.10 speaks 1.41) leave fields out; every field is
//! read as optional.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerInspectResponse, ContainerStateStatusEnum, ContainerSummary as ApiSummary,
    HealthStatusEnum, HostConfig, ImageInspect, ImageSummary as ApiImageSummary,
};

use crate::host::{
    ContainerDetails, ContainerOptions, ContainerStatus, ContainerSummary, DeviceMapping,
    DeviceRate, Health, HealthcheckConfig, ImageDetails, ImageSummary, LogConfig, Mount,
    MountBindOptions, MountTmpfsOptions, MountVolumeOptions, PortBinding, RestartPolicy, Ulimit,
};

fn sorted(map: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    map.unwrap_or_default().into_iter().collect()
}

fn zero_is_none(value: Option<i64>) -> Option<i64> {
    value.filter(|v| *v != 0)
}

fn empty_is_none(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// `docker inspect` of a container, as gantry compares it.
pub fn container_details(inspect: ContainerInspectResponse) -> ContainerDetails {
    let config = inspect.config.unwrap_or_default();
    let host = inspect.host_config.unwrap_or_default();
    let state = inspect.state.unwrap_or_default();
    let id = inspect.id.unwrap_or_default();
    let endpoints: BTreeMap<String, _> = inspect
        .network_settings
        .and_then(|settings| settings.networks)
        .unwrap_or_default()
        .into_iter()
        .collect();
    let networks: Vec<String> = endpoints.keys().cloned().collect();
    let extra_networks = extra_networks(host.network_mode.as_deref(), &networks);
    let security_opt = user_security_opt(&host);
    let hostname = config.hostname.clone().unwrap_or_default();
    let own_endpoint = host
        .network_mode
        .as_ref()
        .and_then(|mode| endpoints.get(mode));
    let addresses = own_endpoint
        .and_then(|endpoint| endpoint.ipam_config.clone())
        .unwrap_or_default();
    let links = own_endpoint
        .and_then(|endpoint| endpoint.links.clone())
        .unwrap_or_default();
    let network_aliases = user_aliases(&id, &hostname, endpoints.into_values().map(|e| e.aliases));
    let mut ports: Vec<PortBinding> = host
        .port_bindings
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(container_port, bindings)| {
            bindings
                .unwrap_or_default()
                .into_iter()
                .map(move |binding| PortBinding {
                    container_port: container_port.clone(),
                    host_ip: binding.host_ip.unwrap_or_default(),
                    host_port: binding.host_port.unwrap_or_default(),
                })
        })
        .collect();
    ports.sort();
    let healthcheck = config.healthcheck.map(|check| HealthcheckConfig {
        test: check.test.unwrap_or_default(),
        interval: zero_is_none(check.interval),
        timeout: zero_is_none(check.timeout),
        start_period: zero_is_none(check.start_period),
        retries: zero_is_none(check.retries),
    });
    let options = ContainerOptions {
        user: empty_is_none(config.user),
        working_dir: empty_is_none(config.working_dir),
        entrypoint: config.entrypoint.filter(|e| !e.is_empty()),
        stop_signal: empty_is_none(config.stop_signal),
        stop_timeout: config.stop_timeout,
        healthcheck,
        exposed_ports: {
            let mut exposed = config.exposed_ports.unwrap_or_default();
            exposed.sort();
            exposed
        },
        tty: config.tty.unwrap_or(false),
        interactive: config.open_stdin.unwrap_or(false),
        nano_cpus: zero_is_none(host.nano_cpus),
        cpu_shares: zero_is_none(host.cpu_shares),
        cpuset_cpus: empty_is_none(host.cpuset_cpus),
        memory: zero_is_none(host.memory),
        memory_reservation: zero_is_none(host.memory_reservation),
        // With `--memory` alone, Docker sets the swap limit to twice the memory.
        memory_swap: zero_is_none(host.memory_swap)
            .filter(|swap| Some(*swap) != host.memory.filter(|m| *m > 0).map(|m| m * 2)),
        // Docker reports its default /dev/shm size (64 MiB) when none was asked for.
        shm_size: zero_is_none(host.shm_size).filter(|size| *size != 64 * 1024 * 1024),
        pids_limit: zero_is_none(host.pids_limit),
        oom_score_adj: zero_is_none(host.oom_score_adj),
        oom_kill_disable: host.oom_kill_disable.unwrap_or(false),
        ulimits: host
            .ulimits
            .unwrap_or_default()
            .into_iter()
            .map(|u| Ulimit {
                name: u.name.unwrap_or_default(),
                soft: u.soft.unwrap_or_default(),
                hard: u.hard.unwrap_or_default(),
            })
            .collect(),
        extra_hosts: host.extra_hosts.unwrap_or_default(),
        cap_add: host.cap_add.unwrap_or_default(),
        cap_drop: host.cap_drop.unwrap_or_default(),
        devices: host
            .devices
            .unwrap_or_default()
            .into_iter()
            .map(|d| DeviceMapping {
                path_on_host: d.path_on_host.unwrap_or_default(),
                path_in_container: d.path_in_container.unwrap_or_default(),
                permissions: d.cgroup_permissions.unwrap_or_default(),
            })
            .collect(),
        dns: host.dns.unwrap_or_default(),
        dns_search: host.dns_search.unwrap_or_default(),
        dns_options: host.dns_options.unwrap_or_default(),
        init: host.init.filter(|init| *init),
        privileged: host.privileged.unwrap_or(false),
        read_only: host.readonly_rootfs.unwrap_or(false),
        security_opt,
        sysctls: sorted(host.sysctls),
        tmpfs: sorted(host.tmpfs),
        group_add: host.group_add.unwrap_or_default(),
        ipc_mode: empty_is_none(host.ipc_mode)
            .filter(|mode| mode != "private" && mode != "shareable"),
        pid_mode: empty_is_none(host.pid_mode),
        userns_mode: empty_is_none(host.userns_mode),
        uts_mode: empty_is_none(host.uts_mode),
        runtime: empty_is_none(host.runtime).filter(|runtime| runtime != "runc"),
        gpus: host.device_requests.and_then(|requests| {
            requests.first().map(|request| match request.count {
                Some(-1) | None => "all".to_string(),
                Some(count) => count.to_string(),
            })
        }),
        network_aliases,
        networks: extra_networks,
        blkio_weight: host.blkio_weight.filter(|weight| *weight != 0),
        cgroup_parent: empty_is_none(host.cgroup_parent),
        cpu_period: zero_is_none(host.cpu_period),
        cpu_quota: zero_is_none(host.cpu_quota),
        cpu_realtime_period: zero_is_none(host.cpu_realtime_period),
        cpu_realtime_runtime: zero_is_none(host.cpu_realtime_runtime),
        cpuset_mems: empty_is_none(host.cpuset_mems),
        device_cgroup_rules: host.device_cgroup_rules.unwrap_or_default(),
        domainname: empty_is_none(config.domainname),
        memory_swappiness: host
            .memory_swappiness
            .filter(|swappiness| *swappiness != -1),
        publish_all_ports: host.publish_all_ports.unwrap_or(false),
        auto_remove: host.auto_remove.unwrap_or(false),
        storage_opt: sorted(host.storage_opt),
        volume_driver: empty_is_none(host.volume_driver),
        volumes_from: host.volumes_from.unwrap_or_default(),
        blkio_weight_device: host
            .blkio_weight_device
            .unwrap_or_default()
            .into_iter()
            .map(|device| DeviceRate {
                path: device.path.unwrap_or_default(),
                rate: device
                    .weight
                    .and_then(|weight| i64::try_from(weight).ok())
                    .unwrap_or_default(),
            })
            .collect(),
        device_read_bps: rates(host.blkio_device_read_bps),
        device_read_iops: rates(host.blkio_device_read_iops),
        device_write_bps: rates(host.blkio_device_write_bps),
        device_write_iops: rates(host.blkio_device_write_iops),
        ipv4_address: empty_is_none(addresses.ipv4_address),
        ipv6_address: empty_is_none(addresses.ipv6_address),
        link_local_ips: addresses.link_local_ips.unwrap_or_default(),
        links,
        isolation: host
            .isolation
            .map(|isolation| isolation.to_string())
            .filter(|isolation| !isolation.is_empty()),
        cgroupns_mode: host
            .cgroupns_mode
            .map(|mode| mode.to_string())
            .filter(|mode| !mode.is_empty()),
        mounts: host
            .mounts
            .unwrap_or_default()
            .into_iter()
            .map(mount)
            .collect(),
    };
    let restart = host.restart_policy.unwrap_or_default();
    let log = host.log_config.unwrap_or_default();
    ContainerDetails {
        id,
        name: inspect
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.image.unwrap_or_default(),
        image_id: inspect.image.unwrap_or_default(),
        created: inspect
            .created
            .map(|date| date.to_string())
            .unwrap_or_default(),
        status: state
            .status
            .map(|status| ContainerStatus::parse(status_word(status)))
            .unwrap_or(ContainerStatus::Dead),
        health: state
            .health
            .and_then(|health| health.status)
            .and_then(|status| match status {
                HealthStatusEnum::STARTING => Some(Health::Starting),
                HealthStatusEnum::HEALTHY => Some(Health::Healthy),
                HealthStatusEnum::UNHEALTHY => Some(Health::Unhealthy),
                _ => None,
            }),
        exit_code: state.exit_code,
        started_at: state
            .started_at
            .filter(|at| !at.starts_with("0001-"))
            .unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        labels: sorted(config.labels),
        hostname: config.hostname.unwrap_or_default(),
        networks,
        restart_policy: RestartPolicy {
            name: restart
                .name
                .map(|name| name.to_string())
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "no".to_string()),
            maximum_retry_count: zero_is_none(restart.maximum_retry_count),
        },
        log_config: LogConfig {
            driver: empty_is_none(log.typ),
            options: sorted(log.config),
        },
        binds: host.binds.unwrap_or_default(),
        ports,
        options,
    }
}

/// Security options the user gave: with none given, Docker writes `label=disable` itself for a
/// privileged container or one sharing the host's pid or IPC namespace.
fn user_security_opt(host: &HostConfig) -> Vec<String> {
    let options = host.security_opt.clone().unwrap_or_default();
    let is_host = |mode: &Option<String>| mode.as_deref() == Some("host");
    let shares_host =
        host.privileged == Some(true) || is_host(&host.pid_mode) || is_host(&host.ipc_mode);
    if shares_host && options == ["label=disable"] {
        return Vec::new();
    }
    options
}

/// The aliases the user gave, in their order: Docker adds the container's short id to the
/// aliases on user-defined networks (API < 1.45 reports it there), and the docker CLI adds the
/// container's hostname; neither is the user's.
/// The networks a container joined besides its network mode (`docker run --network kamal
/// --network NAME`): user-defined networks only, as only those can be joined alongside.
fn extra_networks(network_mode: Option<&str>, networks: &[String]) -> Vec<String> {
    let primary = match network_mode {
        Some("default") | None => "bridge",
        Some(mode) => mode,
    };
    networks
        .iter()
        .filter(|name| {
            name.as_str() != primary && !matches!(name.as_str(), "bridge" | "host" | "none")
        })
        .cloned()
        .collect()
}

/// `--device-*-bps` and `--device-*-iops` entries back.
fn rates(devices: Option<Vec<bollard::models::ThrottleDevice>>) -> Vec<DeviceRate> {
    devices
        .unwrap_or_default()
        .into_iter()
        .map(|device| DeviceRate {
            path: device.path.unwrap_or_default(),
            rate: device.rate.unwrap_or_default(),
        })
        .collect()
}

/// HostConfig.Mounts back as the `--mount` it was made from.
fn mount(api: bollard::models::Mount) -> Mount {
    Mount {
        kind: api
            .typ
            .map(|kind| kind.to_string())
            .filter(|kind| !kind.is_empty())
            .unwrap_or_else(|| "volume".to_string()),
        source: api.source.unwrap_or_default(),
        target: api.target.unwrap_or_default(),
        read_only: api.read_only.unwrap_or(false),
        consistency: empty_is_none(api.consistency),
        bind: api.bind_options.map(|bind| MountBindOptions {
            propagation: bind
                .propagation
                .map(|propagation| propagation.to_string())
                .filter(|propagation| !propagation.is_empty()),
            non_recursive: bind.non_recursive.unwrap_or(false),
            read_only_non_recursive: bind.read_only_non_recursive.unwrap_or(false),
            read_only_force_recursive: bind.read_only_force_recursive.unwrap_or(false),
        }),
        volume: api.volume_options.map(|volume| {
            let driver = volume.driver_config.unwrap_or_default();
            MountVolumeOptions {
                no_copy: volume.no_copy.unwrap_or(false),
                labels: sorted(volume.labels),
                driver: empty_is_none(driver.name),
                driver_options: sorted(driver.options),
                subpath: empty_is_none(volume.subpath),
            }
        }),
        tmpfs: api.tmpfs_options.map(|tmpfs| MountTmpfsOptions {
            size_bytes: zero_is_none(tmpfs.size_bytes),
            mode: zero_is_none(tmpfs.mode),
        }),
        image_subpath: api
            .image_options
            .and_then(|image| empty_is_none(image.subpath)),
    }
}

fn user_aliases(
    id: &str,
    hostname: &str,
    per_network: impl Iterator<Item = Option<Vec<String>>>,
) -> Vec<String> {
    let short_id = id.get(..12).unwrap_or(id);
    let mut aliases: Vec<String> = Vec::new();
    for alias in per_network.flatten().flatten() {
        if alias != short_id && alias != hostname && !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }
    aliases
}

fn status_word(status: ContainerStateStatusEnum) -> &'static str {
    match status {
        ContainerStateStatusEnum::CREATED => "created",
        ContainerStateStatusEnum::RUNNING => "running",
        ContainerStateStatusEnum::PAUSED => "paused",
        ContainerStateStatusEnum::RESTARTING => "restarting",
        ContainerStateStatusEnum::REMOVING => "removing",
        ContainerStateStatusEnum::EXITED => "exited",
        _ => "dead",
    }
}

/// A row of `docker ps -a`.
pub fn container_summary(summary: ApiSummary) -> ContainerSummary {
    ContainerSummary {
        id: summary.id.unwrap_or_default(),
        name: summary
            .names
            .and_then(|names| names.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: summary.image.unwrap_or_default(),
        image_id: summary.image_id.unwrap_or_default(),
        labels: sorted(summary.labels),
        state: ContainerStatus::parse(
            &summary
                .state
                .map(|state| state.to_string())
                .unwrap_or_default(),
        ),
        created: summary.created.unwrap_or_default(),
        published_ports: summary
            .ports
            .into_iter()
            .flatten()
            .filter_map(|port| {
                let protocol = port
                    .typ
                    .map(|typ| typ.to_string())
                    .filter(|typ| !typ.is_empty())
                    .unwrap_or_else(|| "tcp".to_string());
                port.public_port.map(|public| PortBinding {
                    container_port: format!("{}/{protocol}", port.private_port),
                    host_ip: port.ip.unwrap_or_default(),
                    host_port: public.to_string(),
                })
            })
            .collect(),
    }
}

/// `docker image inspect`.
pub fn image_details(inspect: ImageInspect) -> ImageDetails {
    let config = inspect.config.unwrap_or_default();
    let mut exposed = config.exposed_ports.unwrap_or_default();
    exposed.sort();
    ImageDetails {
        id: inspect.id.unwrap_or_default(),
        repo_tags: inspect.repo_tags.unwrap_or_default(),
        repo_digests: inspect.repo_digests.unwrap_or_default(),
        env: config.env.unwrap_or_default(),
        cmd: config.cmd.unwrap_or_default(),
        entrypoint: config.entrypoint.unwrap_or_default(),
        labels: sorted(config.labels),
        healthcheck: config.healthcheck.map(|check| HealthcheckConfig {
            test: check.test.unwrap_or_default(),
            interval: zero_is_none(check.interval),
            timeout: zero_is_none(check.timeout),
            start_period: zero_is_none(check.start_period),
            retries: zero_is_none(check.retries),
        }),
        exposed_ports: exposed,
        working_dir: config.working_dir.unwrap_or_default(),
        user: config.user.unwrap_or_default(),
        stop_signal: config.stop_signal.unwrap_or_default(),
    }
}

/// A row of `docker image ls`.
pub fn image_summary(summary: ApiImageSummary) -> ImageSummary {
    ImageSummary {
        id: summary.id,
        repo_tags: summary
            .repo_tags
            .into_iter()
            .filter(|tag| tag != "<none>:<none>")
            .collect(),
        labels: summary.labels.into_iter().collect(),
        created: summary.created,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        EndpointSettings, NetworkSettings, RestartPolicy as ApiRestartPolicy, RestartPolicyNameEnum,
    };

    #[test]
    fn daemon_defaults_read_back_as_unset() {
        let inspect = ContainerInspectResponse {
            name: Some("/x".into()),
            host_config: Some(HostConfig {
                memory: Some(0),
                nano_cpus: Some(0),
                shm_size: Some(64 * 1024 * 1024),
                runtime: Some("runc".into()),
                ipc_mode: Some("private".into()),
                restart_policy: Some(ApiRestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: Some(0),
                }),
                ..HostConfig::default()
            }),
            ..ContainerInspectResponse::default()
        };
        let details = container_details(inspect);
        assert_eq!(details.name, "x");
        assert_eq!(details.options, ContainerOptions::default());
        assert_eq!(details.restart_policy.name, "unless-stopped");
        assert_eq!(details.restart_policy.maximum_retry_count, None);
    }

    #[test]
    fn derived_swap_and_the_short_id_alias_are_not_the_users() {
        let id = "0123456789abcdef0123";
        let endpoint = |aliases: &[&str]| EndpointSettings {
            aliases: Some(aliases.iter().map(|a| a.to_string()).collect()),
            ..EndpointSettings::default()
        };
        let inspect = |memory: i64, swap: i64| ContainerInspectResponse {
            id: Some(id.into()),
            host_config: Some(HostConfig {
                memory: Some(memory),
                memory_swap: Some(swap),
                ..HostConfig::default()
            }),
            network_settings: Some(NetworkSettings {
                networks: Some(HashMap::from([
                    (
                        "kamal".to_string(),
                        endpoint(&["web", "0123456789ab", "api"]),
                    ),
                    ("other".to_string(), endpoint(&["web"])),
                ])),
                ..NetworkSettings::default()
            }),
            ..ContainerInspectResponse::default()
        };
        let details = container_details(inspect(64 << 20, 128 << 20));
        assert_eq!(details.options.memory, Some(64 << 20));
        assert_eq!(details.options.memory_swap, None);
        assert_eq!(details.options.network_aliases, vec!["web", "api"]);
        assert_eq!(details.networks, vec!["kamal", "other"]);
        let explicit = container_details(inspect(64 << 20, 256 << 20));
        assert_eq!(explicit.options.memory_swap, Some(256 << 20));
        let unlimited = container_details(inspect(64 << 20, -1));
        assert_eq!(unlimited.options.memory_swap, Some(-1));
    }

    #[test]
    fn the_label_docker_adds_for_host_namespaces_is_not_the_users() {
        let host = |privileged: bool, pid_mode: &str, security_opt: &[&str]| HostConfig {
            privileged: Some(privileged),
            pid_mode: Some(pid_mode.into()),
            security_opt: Some(security_opt.iter().map(|o| o.to_string()).collect()),
            ..HostConfig::default()
        };
        assert!(user_security_opt(&host(true, "", &["label=disable"])).is_empty());
        assert!(user_security_opt(&host(false, "host", &["label=disable"])).is_empty());
        assert_eq!(
            user_security_opt(&host(false, "", &["label=disable"])),
            vec!["label=disable"]
        );
        assert_eq!(
            user_security_opt(&host(true, "", &["label=disable", "no-new-privileges"])).len(),
            2
        );
    }

    #[test]
    fn state_health_and_exit_code_read_back() {
        use bollard::models::{ContainerState, ContainerStateStatusEnum, Health as ApiHealth};
        let details = container_details(ContainerInspectResponse {
            state: Some(ContainerState {
                status: Some(ContainerStateStatusEnum::EXITED),
                exit_code: Some(137),
                started_at: Some("0001-01-01T00:00:00Z".into()),
                health: Some(ApiHealth {
                    status: Some(HealthStatusEnum::UNHEALTHY),
                    ..ApiHealth::default()
                }),
                ..ContainerState::default()
            }),
            ..ContainerInspectResponse::default()
        });
        assert_eq!(details.status, ContainerStatus::Exited);
        assert_eq!(details.exit_code, Some(137));
        assert_eq!(
            details.started_at, "",
            "Docker's zero time means never started"
        );
        assert_eq!(details.health, Some(Health::Unhealthy));
        assert_eq!(details.restart_policy.name, "no");
        let missing = container_details(ContainerInspectResponse::default());
        assert_eq!(missing.status, ContainerStatus::Dead);
        assert_eq!(missing.health, None);
    }
}
