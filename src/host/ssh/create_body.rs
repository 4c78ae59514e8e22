//! A [`ContainerSpec`] as the body of `POST /containers/create`. Pure.
//!
//! Every field lands where `docker run` would put it: name and image, command, env (`K=V`; the
//! only place secret values are exposed, because the daemon needs them), labels, hostname,
//! network (`HostConfig.NetworkMode` plus an endpoint carrying the aliases), restart policy, log
//! configuration, binds, published ports (also exposed, as `docker run -p` does), and every field
//! of [`ContainerOptions`](crate::host::ContainerOptions) on `Config` or `HostConfig`. Unset
//! options stay unset (`None`), so the daemon applies its own defaults.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping as ApiDevice, DeviceRequest, EndpointIpamConfig,
    EndpointSettings, HealthConfig, HostConfig, HostConfigCgroupnsModeEnum,
    HostConfigIsolationEnum, HostConfigLogConfig, Mount as ApiMount,
    MountBindOptions as ApiBindOptions, MountBindOptionsPropagationEnum, MountImageOptions,
    MountTmpfsOptions as ApiTmpfsOptions, MountType, MountVolumeOptions as ApiVolumeOptions,
    MountVolumeOptionsDriverConfig, NetworkingConfig, PortBinding as ApiPortBinding,
    ResourcesBlkioWeightDevice, ResourcesUlimits, RestartPolicy as ApiRestartPolicy,
    RestartPolicyNameEnum, ThrottleDevice,
};

use crate::host::{ContainerSpec, DeviceRate, Mount};

fn non_empty<T>(values: Vec<T>) -> Option<Vec<T>> {
    (!values.is_empty()).then_some(values)
}

fn map_of(map: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!map.is_empty()).then(|| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// The body of `POST /containers/create` for a spec.
pub fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let options = &spec.options;
    let mut port_bindings: HashMap<String, Option<Vec<ApiPortBinding>>> = HashMap::new();
    let mut exposed: Vec<String> = options.exposed_ports.clone();
    for port in &spec.ports {
        exposed.push(port.container_port.clone());
        port_bindings
            .entry(port.container_port.clone())
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(ApiPortBinding {
                host_ip: Some(port.host_ip.clone()),
                host_port: Some(port.host_port.clone()),
            });
    }
    exposed.sort();
    exposed.dedup();
    let restart_policy = ApiRestartPolicy {
        name: Some(match spec.restart_policy.name.as_str() {
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            "no" => RestartPolicyNameEnum::NO,
            _ => RestartPolicyNameEnum::EMPTY,
        }),
        maximum_retry_count: spec.restart_policy.maximum_retry_count,
    };
    let host_config = HostConfig {
        binds: non_empty(spec.binds.clone()),
        network_mode: spec.network.clone(),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        restart_policy: Some(restart_policy),
        log_config: Some(HostConfigLogConfig {
            typ: spec.log_config.driver.clone(),
            config: map_of(&spec.log_config.options),
        }),
        nano_cpus: options.nano_cpus,
        cpu_shares: options.cpu_shares,
        cpuset_cpus: options.cpuset_cpus.clone(),
        memory: options.memory,
        memory_reservation: options.memory_reservation,
        memory_swap: options.memory_swap,
        shm_size: options.shm_size,
        pids_limit: options.pids_limit,
        oom_score_adj: options.oom_score_adj,
        oom_kill_disable: options.oom_kill_disable.then_some(true),
        ulimits: non_empty(
            options
                .ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect(),
        ),
        extra_hosts: non_empty(options.extra_hosts.clone()),
        cap_add: non_empty(options.cap_add.clone()),
        cap_drop: non_empty(options.cap_drop.clone()),
        devices: non_empty(
            options
                .devices
                .iter()
                .map(|d| ApiDevice {
                    path_on_host: Some(d.path_on_host.clone()),
                    path_in_container: Some(d.path_in_container.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect(),
        ),
        dns: non_empty(options.dns.clone()),
        dns_search: non_empty(options.dns_search.clone()),
        dns_options: non_empty(options.dns_options.clone()),
        init: options.init,
        privileged: options.privileged.then_some(true),
        readonly_rootfs: options.read_only.then_some(true),
        security_opt: non_empty(options.security_opt.clone()),
        sysctls: map_of(&options.sysctls),
        tmpfs: map_of(&options.tmpfs),
        group_add: non_empty(options.group_add.clone()),
        ipc_mode: options.ipc_mode.clone(),
        pid_mode: options.pid_mode.clone(),
        userns_mode: options.userns_mode.clone(),
        uts_mode: options.uts_mode.clone(),
        runtime: options.runtime.clone(),
        device_requests: options.gpus.as_deref().map(gpu_request),
        mounts: non_empty(options.mounts.iter().map(api_mount).collect()),
        blkio_weight: options.blkio_weight,
        cgroup_parent: options.cgroup_parent.clone(),
        cpu_period: options.cpu_period,
        cpu_quota: options.cpu_quota,
        cpu_realtime_period: options.cpu_realtime_period,
        cpu_realtime_runtime: options.cpu_realtime_runtime,
        cpuset_mems: options.cpuset_mems.clone(),
        device_cgroup_rules: non_empty(options.device_cgroup_rules.clone()),
        memory_swappiness: options.memory_swappiness,
        publish_all_ports: options.publish_all_ports.then_some(true),
        auto_remove: options.auto_remove.then_some(true),
        storage_opt: map_of(&options.storage_opt),
        volume_driver: options.volume_driver.clone(),
        volumes_from: non_empty(options.volumes_from.clone()),
        blkio_weight_device: non_empty(
            options
                .blkio_weight_device
                .iter()
                .map(|device| ResourcesBlkioWeightDevice {
                    path: Some(device.path.clone()),
                    weight: usize::try_from(device.rate).ok(),
                })
                .collect(),
        ),
        blkio_device_read_bps: throttle(&options.device_read_bps),
        blkio_device_read_iops: throttle(&options.device_read_iops),
        blkio_device_write_bps: throttle(&options.device_write_bps),
        blkio_device_write_iops: throttle(&options.device_write_iops),
        isolation: options
            .isolation
            .as_deref()
            .map(|isolation| match isolation {
                "process" => HostConfigIsolationEnum::PROCESS,
                "hyperv" => HostConfigIsolationEnum::HYPERV,
                _ => HostConfigIsolationEnum::DEFAULT,
            }),
        cgroupns_mode: options.cgroupns_mode.as_deref().map(|mode| match mode {
            "host" => HostConfigCgroupnsModeEnum::HOST,
            _ => HostConfigCgroupnsModeEnum::PRIVATE,
        }),
        ..HostConfig::default()
    };
    let networking_config = spec.network.as_ref().map(|network| {
        let mut aliases = options.network_aliases.clone();
        // The docker CLI makes a container's hostname an alias on user-defined networks (Kamal's
        // containers have it); gantry's containers resolve the same way.
        if let Some(hostname) = &spec.hostname
            && !matches!(network.as_str(), "bridge" | "host" | "none" | "default")
            && !network.starts_with("container:")
            && !aliases.contains(hostname)
        {
            aliases.push(hostname.clone());
        }
        // `--network kamal --network NAME`: one endpoint per network, as docker's CLI sends
        // them (daemons before API 1.44 refuse more than one, for Kamal as for gantry); the
        // aliases go to the first network, as the CLI's legacy flags do.
        let mut endpoints = HashMap::from([(
            network.clone(),
            EndpointSettings {
                aliases: non_empty(aliases),
                ipam_config: (options.ipv4_address.is_some()
                    || options.ipv6_address.is_some()
                    || !options.link_local_ips.is_empty())
                .then(|| EndpointIpamConfig {
                    ipv4_address: options.ipv4_address.clone(),
                    ipv6_address: options.ipv6_address.clone(),
                    link_local_ips: non_empty(options.link_local_ips.clone()),
                }),
                links: non_empty(options.links.clone()),
                ..EndpointSettings::default()
            },
        )]);
        for extra in &options.networks {
            endpoints.insert(extra.clone(), EndpointSettings::default());
        }
        NetworkingConfig {
            endpoints_config: Some(endpoints),
        }
    });
    ContainerCreateBody {
        hostname: spec.hostname.clone(),
        domainname: options.domainname.clone(),
        user: options.user.clone(),
        exposed_ports: non_empty(exposed),
        tty: options.tty.then_some(true),
        open_stdin: options.interactive.then_some(true),
        env: Some(
            spec.env
                .iter()
                .map(|(name, value)| format!("{name}={}", value.expose()))
                .collect(),
        ),
        cmd: spec.cmd.clone(),
        healthcheck: options.healthcheck.as_ref().map(|check| HealthConfig {
            test: non_empty(check.test.clone()),
            interval: check.interval,
            timeout: check.timeout,
            retries: check.retries,
            start_period: check.start_period,
            ..HealthConfig::default()
        }),
        image: Some(spec.image.clone()),
        working_dir: options.working_dir.clone(),
        entrypoint: options.entrypoint.clone(),
        labels: Some(
            spec.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        stop_signal: options.stop_signal.clone(),
        stop_timeout: options.stop_timeout,
        host_config: Some(host_config),
        networking_config,
        ..ContainerCreateBody::default()
    }
}

/// `--device-*-bps` and `--device-*-iops` entries.
fn throttle(devices: &[DeviceRate]) -> Option<Vec<ThrottleDevice>> {
    non_empty(
        devices
            .iter()
            .map(|device| ThrottleDevice {
                path: Some(device.path.clone()),
                rate: Some(device.rate),
            })
            .collect(),
    )
}

/// A `--mount` as HostConfig.Mounts holds it.
fn api_mount(mount: &Mount) -> ApiMount {
    ApiMount {
        target: Some(mount.target.clone()),
        source: (!mount.source.is_empty()).then(|| mount.source.clone()),
        typ: Some(match mount.kind.as_str() {
            "bind" => MountType::BIND,
            "tmpfs" => MountType::TMPFS,
            "npipe" => MountType::NPIPE,
            "cluster" => MountType::CLUSTER,
            "image" => MountType::IMAGE,
            _ => MountType::VOLUME,
        }),
        read_only: mount.read_only.then_some(true),
        consistency: mount.consistency.clone(),
        bind_options: mount.bind.as_ref().map(|bind| ApiBindOptions {
            propagation: bind
                .propagation
                .as_deref()
                .map(|propagation| match propagation {
                    "private" => MountBindOptionsPropagationEnum::PRIVATE,
                    "rprivate" => MountBindOptionsPropagationEnum::RPRIVATE,
                    "shared" => MountBindOptionsPropagationEnum::SHARED,
                    "rshared" => MountBindOptionsPropagationEnum::RSHARED,
                    "slave" => MountBindOptionsPropagationEnum::SLAVE,
                    "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
                    _ => MountBindOptionsPropagationEnum::EMPTY,
                }),
            non_recursive: bind.non_recursive.then_some(true),
            read_only_non_recursive: bind.read_only_non_recursive.then_some(true),
            read_only_force_recursive: bind.read_only_force_recursive.then_some(true),
            ..ApiBindOptions::default()
        }),
        volume_options: mount.volume.as_ref().map(|volume| ApiVolumeOptions {
            no_copy: volume.no_copy.then_some(true),
            labels: map_of(&volume.labels),
            // docker's CLI sends a driver config, empty or not, with any volume option.
            driver_config: Some(MountVolumeOptionsDriverConfig {
                name: volume.driver.clone(),
                options: map_of(&volume.driver_options),
            }),
            subpath: volume.subpath.clone(),
        }),
        image_options: mount
            .image_subpath
            .as_ref()
            .map(|subpath| MountImageOptions {
                subpath: Some(subpath.clone()),
            }),
        tmpfs_options: mount.tmpfs.as_ref().map(|tmpfs| ApiTmpfsOptions {
            size_bytes: tmpfs.size_bytes,
            mode: tmpfs.mode,
            ..ApiTmpfsOptions::default()
        }),
    }
}

/// `--gpus all` or `--gpus 2`.
fn gpu_request(gpus: &str) -> Vec<DeviceRequest> {
    let count = if gpus == "all" {
        -1
    } else {
        gpus.parse().unwrap_or(-1)
    };
    vec![DeviceRequest {
        count: Some(count),
        capabilities: Some(vec![vec!["gpu".to_string()]]),
        ..DeviceRequest::default()
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{ContainerOptions, EnvValue, LogConfig, PortBinding, RestartPolicy};
    use crate::secret::Secret;

    #[test]
    fn a_spec_lands_where_docker_run_puts_it() {
        let spec = ContainerSpec {
            name: "app-web-v1".into(),
            image: "registry/app:v1".into(),
            cmd: Some(vec!["bin/server".into()]),
            env: [
                ("A".to_string(), EnvValue::Clear("1".into())),
                ("S".to_string(), EnvValue::Secret(Secret::new("pw"))),
            ]
            .into(),
            labels: [("service".to_string(), "app".to_string())].into(),
            hostname: Some("h-0123".into()),
            network: Some("kamal".into()),
            restart_policy: RestartPolicy {
                name: "unless-stopped".into(),
                maximum_retry_count: None,
            },
            log_config: LogConfig {
                driver: None,
                options: [("max-size".to_string(), "10m".to_string())].into(),
            },
            binds: vec!["/data:/data".into()],
            ports: vec![PortBinding {
                container_port: "80/tcp".into(),
                host_ip: String::new(),
                host_port: "8080".into(),
            }],
            options: ContainerOptions {
                memory: Some(1 << 30),
                cap_add: vec!["NET_ADMIN".into()],
                ..ContainerOptions::default()
            },
        };
        let body = create_body(&spec);
        assert_eq!(body.env, Some(vec!["A=1".to_string(), "S=pw".to_string()]));
        assert_eq!(body.exposed_ports, Some(vec!["80/tcp".to_string()]));
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("kamal"));
        assert_eq!(host.memory, Some(1 << 30));
        assert_eq!(host.cap_add, Some(vec!["NET_ADMIN".to_string()]));
        assert_eq!(
            host.restart_policy.unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        let bindings = host.port_bindings.unwrap();
        assert_eq!(
            bindings["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("8080")
        );
    }

    /// An app container on `kamal` with [`every_option`].
    fn spec_with_every_option() -> ContainerSpec {
        ContainerSpec {
            name: "app-web-v1".into(),
            image: "app:v1".into(),
            cmd: None,
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            hostname: None,
            network: Some("kamal".into()),
            restart_policy: RestartPolicy::default(),
            log_config: LogConfig::default(),
            binds: Vec::new(),
            ports: Vec::new(),
            options: every_option(),
        }
    }

    fn every_option() -> ContainerOptions {
        ContainerOptions {
            user: Some("1000:1000".into()),
            working_dir: Some("/srv".into()),
            entrypoint: Some(vec!["/bin/entry".into(), "--flag".into()]),
            stop_signal: Some("SIGQUIT".into()),
            stop_timeout: Some(25),
            healthcheck: Some(crate::host::HealthcheckConfig {
                test: vec!["CMD-SHELL".into(), "true".into()],
                interval: Some(2_000_000_000),
                timeout: Some(1_000_000_000),
                start_period: Some(3_000_000_000),
                retries: Some(4),
            }),
            exposed_ports: vec!["9000/tcp".into()],
            tty: true,
            interactive: true,
            nano_cpus: Some(500_000_000),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            memory: Some(96 << 20),
            memory_reservation: Some(32 << 20),
            memory_swap: Some(256 << 20),
            shm_size: Some(32 << 20),
            pids_limit: Some(200),
            oom_score_adj: Some(100),
            oom_kill_disable: true,
            ulimits: vec![crate::host::Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            }],
            extra_hosts: vec!["db.internal:10.0.0.9".into()],
            cap_add: vec!["NET_ADMIN".into()],
            cap_drop: vec!["MKNOD".into()],
            devices: vec![crate::host::DeviceMapping {
                path_on_host: "/dev/null".into(),
                path_in_container: "/dev/nothing".into(),
                permissions: "rwm".into(),
            }],
            dns: vec!["10.0.0.2".into()],
            dns_search: vec!["internal".into()],
            dns_options: vec!["ndots:2".into()],
            init: Some(true),
            privileged: true,
            read_only: true,
            security_opt: vec!["no-new-privileges".into()],
            sysctls: [("net.core.somaxconn".to_string(), "1024".to_string())].into(),
            tmpfs: [("/run".to_string(), "rw,size=64m".to_string())].into(),
            group_add: vec!["audio".into()],
            ipc_mode: Some("none".into()),
            pid_mode: Some("host".into()),
            userns_mode: Some("host".into()),
            uts_mode: Some("host".into()),
            runtime: Some("crun".into()),
            gpus: Some("2".into()),
            network_aliases: vec!["web".into(), "api".into()],
            networks: vec!["backend".into(), "metrics".into()],
            mounts: vec![
                crate::docker_args::parse_mount(
                    "type=bind,src=/srv,dst=/srv,readonly,bind-propagation=rslave",
                )
                .unwrap(),
                crate::docker_args::parse_mount(
                    "src=cache,dst=/cache,volume-nocopy,volume-opt=type=tmpfs,volume-label=a=b",
                )
                .unwrap(),
                crate::docker_args::parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770")
                    .unwrap(),
            ],
            blkio_weight: Some(300),
            cgroup_parent: Some("/gantry".into()),
            cpu_period: Some(100_000),
            cpu_quota: Some(50_000),
            cpu_realtime_period: Some(1_000_000),
            cpu_realtime_runtime: Some(950_000),
            cpuset_mems: Some("0".into()),
            device_cgroup_rules: vec!["c 1:3 mr".into()],
            domainname: Some("internal".into()),
            memory_swappiness: Some(10),
            publish_all_ports: true,
            auto_remove: true,
            storage_opt: [("size".to_string(), "10G".to_string())].into(),
            volume_driver: Some("local".into()),
            volumes_from: vec!["other:ro".into()],
            blkio_weight_device: vec![crate::host::DeviceRate {
                path: "/dev/sda".into(),
                rate: 300,
            }],
            device_read_bps: vec![crate::host::DeviceRate {
                path: "/dev/sda".into(),
                rate: 1 << 20,
            }],
            device_read_iops: vec![crate::host::DeviceRate {
                path: "/dev/sda".into(),
                rate: 1000,
            }],
            device_write_bps: vec![crate::host::DeviceRate {
                path: "/dev/sdb".into(),
                rate: 2 << 20,
            }],
            device_write_iops: vec![crate::host::DeviceRate {
                path: "/dev/sdb".into(),
                rate: 500,
            }],
            ipv4_address: Some("10.9.0.5".into()),
            ipv6_address: Some("2001:db8::33".into()),
            link_local_ips: vec!["169.254.0.7".into()],
            links: vec!["db:database".into()],
            isolation: Some("default".into()),
            cgroupns_mode: Some("private".into()),
        }
    }

    /// `--mount` and `--network` from `options:` land as `docker run --network kamal --network
    /// backend --mount ...` puts them (compared with what docker 20.10's CLI sent, read back with
    /// `docker inspect`).
    #[test]
    fn mounts_and_extra_networks_land_where_docker_run_puts_them() {
        let spec = spec_with_every_option();
        let body = create_body(&spec);
        let mounts = serde_json::to_value(body.host_config.unwrap().mounts).unwrap();
        assert_eq!(
            mounts,
            serde_json::json!([
                {"Type": "bind", "Source": "/srv", "Target": "/srv", "ReadOnly": true,
                 "BindOptions": {"Propagation": "rslave"}},
                {"Type": "volume", "Source": "cache", "Target": "/cache",
                 "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"},
                                   "DriverConfig": {"Options": {"type": "tmpfs"}}}},
                {"Type": "tmpfs", "Target": "/t",
                 "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 1016}},
            ])
        );
        let endpoints = serde_json::to_value(body.networking_config.unwrap()).unwrap();
        assert_eq!(
            endpoints,
            serde_json::json!({"EndpointsConfig": {
                "kamal": {
                    "Aliases": ["web", "api"],
                    "IPAMConfig": {
                        "IPv4Address": "10.9.0.5",
                        "IPv6Address": "2001:db8::33",
                        "LinkLocalIPs": ["169.254.0.7"],
                    },
                    "Links": ["db:database"],
                },
                "backend": {},
                "metrics": {},
            }})
        );
    }

    /// What the daemon echoes back: the create body's config and host config, the network
    /// endpoints it was given. Serde moves the fields, as the wire does.
    fn echo(id: &str, body: ContainerCreateBody) -> bollard::models::ContainerInspectResponse {
        let config = serde_json::from_value(serde_json::to_value(&body).unwrap()).unwrap();
        let networks = body
            .networking_config
            .and_then(|networking| networking.endpoints_config);
        bollard::models::ContainerInspectResponse {
            id: Some(id.into()),
            config: Some(config),
            host_config: body.host_config,
            network_settings: Some(bollard::models::NetworkSettings {
                networks,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn every_option_survives_create_then_inspect() {
        let spec = spec_with_every_option();
        let details = crate::host::ssh::inspect::container_details(echo(
            "0123456789abcdef",
            create_body(&spec),
        ));
        assert_eq!(details.options, spec.options);
        let nothing = ContainerSpec {
            options: ContainerOptions::default(),
            ..spec
        };
        let details = crate::host::ssh::inspect::container_details(echo(
            "0123456789abcdef",
            create_body(&nothing),
        ));
        assert_eq!(details.options, ContainerOptions::default());
        assert_eq!(details.restart_policy.name, "no");
    }

    #[test]
    fn gpus_become_a_device_request() {
        assert_eq!(gpu_request("all")[0].count, Some(-1));
        assert_eq!(gpu_request("2")[0].count, Some(2));
        assert_eq!(
            gpu_request("2")[0].capabilities,
            Some(vec![vec!["gpu".to_string()]])
        );
    }
}
