//! bollard's Engine API types ↔ gantry's host types. Pure.
//!
//! Creating: every field of a [`ContainerSpec`] lands where `docker run` would put it.
//! Inspecting: the daemon's defaults (zero, empty, null) map back to "not set", so an option
//! nobody set compares equal to an unset desired option. Daemons older than bollard's API
//! (Docker 20.10 speaks 1.41) leave fields out; every field is optional here.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerStateStatusEnum,
    ContainerSummary as ApiSummary, DeviceMapping as ApiDevice, DeviceRequest, EndpointSettings,
    HealthConfig, HealthStatusEnum, HostConfig, HostConfigLogConfig, ImageInspect,
    ImageSummary as ApiImageSummary, NetworkingConfig, PortBinding as ApiPortBinding,
    ResourcesUlimits, RestartPolicy as ApiRestartPolicy, RestartPolicyNameEnum,
};

use crate::host::{
    ContainerDetails, ContainerOptions, ContainerSpec, ContainerStatus, ContainerSummary,
    DeviceMapping, Health, HealthcheckConfig, ImageDetails, ImageSummary, LogConfig, PortBinding,
    RestartPolicy, Ulimit,
};

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
        ..HostConfig::default()
    };
    let networking_config = spec.network.as_ref().map(|network| NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            network.clone(),
            EndpointSettings {
                aliases: non_empty(options.network_aliases.clone()),
                ..EndpointSettings::default()
            },
        )])),
    });
    ContainerCreateBody {
        hostname: spec.hostname.clone(),
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
    let networks: Vec<String> = {
        let mut names: Vec<String> = inspect
            .network_settings
            .and_then(|settings| settings.networks)
            .unwrap_or_default()
            .into_keys()
            .collect();
        names.sort();
        names
    };
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
        memory_swap: zero_is_none(host.memory_swap),
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
        security_opt: host.security_opt.unwrap_or_default(),
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
        network_aliases: Vec::new(),
    };
    let restart = host.restart_policy.unwrap_or_default();
    let log = host.log_config.unwrap_or_default();
    ContainerDetails {
        id: inspect.id.unwrap_or_default(),
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
    use crate::host::EnvValue;
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
}
