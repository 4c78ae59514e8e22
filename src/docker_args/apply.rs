//! Applying one occurrence of a docker `run` flag to [`TranslatedOptions`], as docker's CLI
//! reads it. Flags come in families, one function each; a flag no family takes is unsupported.

use super::values::*;
use super::{DockerArgError, Flag, TranslatedOptions, invalid, parse_mount, parse_publish};
use crate::model::{ContainerOptions, HealthcheckConfig};

/// Applies one occurrence of a flag.
pub(super) fn apply(
    flag: &Flag,
    value: &str,
    out: &mut TranslatedOptions,
) -> Result<(), DockerArgError> {
    let applied = resources(flag, value, out)?
        || isolation(flag, value, out)?
        || network(flag, value, out)?
        || health(flag, value, out)?
        || spec_fields(flag, value, out)?;
    if applied {
        Ok(())
    } else {
        Err(DockerArgError::Unsupported(flag.name.to_string()))
    }
}

/// Resource limits: CPU, memory, block I/O, pids, ulimits, shared memory, OOM handling. `Ok(false)`
/// for a flag of another family.
fn resources(
    flag: &Flag,
    value: &str,
    out: &mut TranslatedOptions,
) -> Result<bool, DockerArgError> {
    let opts = &mut out.options;
    let text = || Some(value.to_string());
    match flag.name {
        "blkio-weight" => {
            opts.blkio_weight = Some(
                value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|weight| *weight == 0 || (10..=1000).contains(weight))
                    .ok_or_else(|| {
                        invalid(flag, format!("`{value}` is not a weight from 10 to 1000"))
                    })?,
            )
        }
        "blkio-weight-device" => {
            let device = parse_device_rate(flag, value, |weight| {
                weight
                    .parse::<u16>()
                    .ok()
                    .filter(|weight| *weight == 0 || (10..=1000).contains(weight))
                    .map(i64::from)
            })?;
            opts.blkio_weight_device.push(device);
        }
        "device-read-bps" => {
            opts.device_read_bps
                .push(parse_device_rate(flag, value, ram_in_bytes)?)
        }
        "device-write-bps" => {
            opts.device_write_bps
                .push(parse_device_rate(flag, value, ram_in_bytes)?)
        }
        "device-read-iops" => opts
            .device_read_iops
            .push(parse_device_rate(flag, value, |rate| {
                rate.parse::<u64>()
                    .ok()
                    .and_then(|rate| i64::try_from(rate).ok())
            })?),
        "device-write-iops" => {
            opts.device_write_iops
                .push(parse_device_rate(flag, value, |rate| {
                    rate.parse::<u64>()
                        .ok()
                        .and_then(|rate| i64::try_from(rate).ok())
                })?)
        }
        "cgroup-parent" => opts.cgroup_parent = text(),
        "cpu-period" => opts.cpu_period = Some(parse_int(flag, value)?),
        "cpu-quota" => opts.cpu_quota = Some(parse_int(flag, value)?),
        "cpu-rt-period" => opts.cpu_realtime_period = Some(parse_int(flag, value)?),
        "cpu-rt-runtime" => opts.cpu_realtime_runtime = Some(parse_int(flag, value)?),
        "cpuset-mems" => opts.cpuset_mems = text(),
        "memory-swappiness" => {
            let swappiness = parse_int(flag, value)?;
            if !(-1..=100).contains(&swappiness) {
                return Err(invalid(flag, format!("`{value}` is not from 0 to 100")));
            }
            // -1 is the CLI's "not set".
            opts.memory_swappiness = (swappiness != -1).then_some(swappiness);
        }
        "cpu-shares" => opts.cpu_shares = Some(parse_int(flag, value)?),
        "cpus" => opts.nano_cpus = Some(parse_cpus(flag, value)?),
        "cpuset-cpus" => opts.cpuset_cpus = text(),
        "memory" => opts.memory = Some(parse_bytes(flag, value)?),
        "memory-reservation" => opts.memory_reservation = Some(parse_bytes(flag, value)?),
        "memory-swap" => {
            opts.memory_swap = Some(if value == "-1" {
                -1
            } else {
                parse_bytes(flag, value)?
            })
        }
        "oom-kill-disable" => opts.oom_kill_disable = true,
        "oom-score-adj" => opts.oom_score_adj = Some(parse_int(flag, value)?),
        "pids-limit" => opts.pids_limit = Some(parse_int(flag, value)?),
        "shm-size" => opts.shm_size = Some(parse_bytes(flag, value)?),
        "ulimit" => opts.ulimits.push(parse_ulimit(flag, value)?),
        _ => return Ok(false),
    }
    Ok(true)
}

/// What the container may see and do: capabilities, devices, namespaces, security options, mounts.
/// `Ok(false)` for a flag of another family.
fn isolation(
    flag: &Flag,
    value: &str,
    out: &mut TranslatedOptions,
) -> Result<bool, DockerArgError> {
    let opts = &mut out.options;
    let text = || Some(value.to_string());
    match flag.name {
        "cgroupns" => {
            if !matches!(value, "host" | "private") {
                return Err(invalid(flag, format!("`{value}` is not host or private")));
            }
            opts.cgroupns_mode = text();
        }
        "device-cgroup-rule" => opts.device_cgroup_rules.push(value.to_string()),
        "storage-opt" => {
            let (key, val) = split_pair(flag, value)?;
            opts.storage_opt.insert(key, val);
        }
        "volume-driver" => opts.volume_driver = text(),
        "volumes-from" => opts.volumes_from.push(value.to_string()),
        "cap-add" => opts.cap_add.push(value.to_string()),
        "cap-drop" => opts.cap_drop.push(value.to_string()),
        "device" => opts.devices.push(parse_device(value)),
        "gpus" => opts.gpus = text(),
        "group-add" => opts.group_add.push(value.to_string()),
        "ipc" => opts.ipc_mode = text(),
        "isolation" => {
            let isolation = value.to_ascii_lowercase();
            if !matches!(isolation.as_str(), "default" | "process" | "hyperv") {
                return Err(invalid(
                    flag,
                    format!("`{value}` is not default, process or hyperv"),
                ));
            }
            opts.isolation = Some(isolation);
        }
        "mount" => opts
            .mounts
            .push(parse_mount(value).map_err(|message| invalid(flag, message))?),
        "pid" => opts.pid_mode = text(),
        "privileged" => opts.privileged = true,
        "read-only" => opts.read_only = true,
        "runtime" => opts.runtime = text(),
        "security-opt" => opts.security_opt.push(value.to_string()),
        "sysctl" => {
            let (key, val) = split_pair(flag, value)?;
            opts.sysctls.insert(key, val);
        }
        "tmpfs" => {
            let (path, mount_options) = value.split_once(':').unwrap_or((value, ""));
            opts.tmpfs
                .insert(path.to_string(), mount_options.to_string());
        }
        "user" => opts.user = text(),
        "userns" => opts.userns_mode = text(),
        "uts" => opts.uts_mode = text(),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Networking: networks and addresses, DNS, links, exposed ports. `Ok(false)` for a flag of another
/// family.
fn network(flag: &Flag, value: &str, out: &mut TranslatedOptions) -> Result<bool, DockerArgError> {
    let opts = &mut out.options;
    let text = || Some(value.to_string());
    match flag.name {
        "add-host" => opts.extra_hosts.push(value.to_string()),
        "domainname" => opts.domainname = text(),
        "publish-all" => opts.publish_all_ports = true,
        "dns" => opts.dns.push(value.to_string()),
        "dns-option" => opts.dns_options.push(value.to_string()),
        "dns-search" => opts.dns_search.push(value.to_string()),
        "expose" => opts.exposed_ports.push(with_protocol(value)),
        "ip" => opts.ipv4_address = Some(parse_ip(flag, value, true)?),
        "ip6" => opts.ipv6_address = Some(parse_ip(flag, value, false)?),
        "link" => {
            if value.is_empty() || value.split(':').count() > 2 {
                return Err(invalid(flag, format!("`{value}` is not NAME[:ALIAS]")));
            }
            opts.links.push(value.to_string());
        }
        "link-local-ip" => opts.link_local_ips.push(
            value
                .parse::<std::net::IpAddr>()
                .map_err(|_| invalid(flag, format!("`{value}` is not an IP address")))?
                .to_string(),
        ),
        "network" | "net" => {
            check_extra_network(flag, value, &opts.networks)?;
            opts.networks.push(value.to_string());
        }
        "network-alias" | "net-alias" => opts.network_aliases.push(value.to_string()),
        _ => return Ok(false),
    }
    Ok(true)
}

/// Docker's health check (`--health-*`, `--no-healthcheck`): one check, built from its parts.
/// `Ok(false)` for a flag of another family.
fn health(flag: &Flag, value: &str, out: &mut TranslatedOptions) -> Result<bool, DockerArgError> {
    let opts = &mut out.options;
    match flag.name {
        "health-cmd" => healthcheck(opts).test = vec!["CMD-SHELL".into(), value.to_string()],
        "health-interval" => healthcheck(opts).interval = Some(parse_duration(flag, value)?),
        "health-retries" => healthcheck(opts).retries = Some(parse_int(flag, value)?),
        "health-start-period" => {
            healthcheck(opts).start_period = Some(parse_duration(flag, value)?)
        }
        "health-timeout" => healthcheck(opts).timeout = Some(parse_duration(flag, value)?),
        "no-healthcheck" => {
            opts.healthcheck = Some(HealthcheckConfig {
                test: vec!["NONE".into()],
                ..HealthcheckConfig::default()
            })
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Fields of the container spec gantry also sets itself (env, labels, ports, volumes, logging,
/// hostname) and the process's own settings. `Ok(false)` for a flag of another family.
fn spec_fields(
    flag: &Flag,
    value: &str,
    out: &mut TranslatedOptions,
) -> Result<bool, DockerArgError> {
    let opts = &mut out.options;
    let text = || Some(value.to_string());
    match flag.name {
        "rm" => opts.auto_remove = true,
        "entrypoint" => opts.entrypoint = Some(vec![value.to_string()]),
        "env" => out.env.push(split_pair(flag, value)?),
        "hostname" => out.hostname = text(),
        "init" => opts.init = Some(true),
        "interactive" => opts.interactive = true,
        "label" => out.labels.push(split_label(value)),
        "log-driver" => out.log_driver = text(),
        "log-opt" => out.log_options.push(split_pair(flag, value)?),
        "publish" => out.ports.extend(parse_publish(flag, value)?),
        "stop-signal" => opts.stop_signal = text(),
        "stop-timeout" => opts.stop_timeout = Some(parse_int(flag, value)?),
        "tty" => opts.tty = true,
        "volume" => out.binds.push(value.to_string()),
        "workdir" => opts.working_dir = text(),
        _ => return Ok(false),
    }
    Ok(true)
}

/// The network every gantry container joins, as Kamal's `docker run --network kamal`.
const KAMAL_NETWORK: &str = "kamal";

/// A network joined besides `kamal`: docker's CLI refuses a second mode that is not a
/// user-defined network, and a network named twice.
fn check_extra_network(flag: &Flag, name: &str, earlier: &[String]) -> Result<(), DockerArgError> {
    if matches!(name, "host" | "none" | "bridge" | "default") || name.starts_with("container:") {
        return Err(invalid(
            flag,
            format!(
                "`{name}`: containers join the `{KAMAL_NETWORK}` network, and docker refuses to combine it with `{name}` (conflicting options: cannot attach both user-defined and non-user-defined network-modes)"
            ),
        ));
    }
    if name == KAMAL_NETWORK || earlier.iter().any(|network| network == name) {
        return Err(invalid(
            flag,
            format!("network \"{name}\" is specified multiple times"),
        ));
    }
    Ok(())
}

fn healthcheck(opts: &mut ContainerOptions) -> &mut HealthcheckConfig {
    opts.healthcheck
        .get_or_insert_with(HealthcheckConfig::default)
}
