//! Kamal's `options:` hashes (docker `run` flags) as Engine API fields.
//!
//! Kamal turns `options: {memory: 2g, cap-add: [NET_ADMIN]}` into `--memory 2g --cap-add
//! NET_ADMIN` on a `docker run` command line. gantry talks to the Engine API instead, so each
//! supported flag is translated here into [`ContainerOptions`](crate::host::ContainerOptions) (and a few into env, labels,
//! ports or volumes). A flag that is not in [`FLAGS`] is rejected when the configuration is
//! loaded, with the list of supported flags, rather than silently dropped: an option that
//! quietly does nothing is worse than an error.

/// How a flag takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagArity {
    /// `--init`: `true` sets it, `false` leaves it out.
    Switch,
    /// `--memory 2g`: one value.
    Single,
    /// `--cap-add X --cap-add Y`: a value or a list of values.
    Repeated,
}

/// A docker `run` flag gantry knows how to express through the Engine API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flag {
    /// The long name, without dashes.
    pub name: &'static str,
    /// The one-letter short name, if docker has one.
    pub short: Option<char>,
    pub arity: FlagArity,
}

const fn flag(name: &'static str, short: Option<char>, arity: FlagArity) -> Flag {
    Flag { name, short, arity }
}

use FlagArity::{Repeated, Single, Switch};

use crate::config::{DockerOptionValue, DockerOptions};
use crate::host::{ContainerOptions, DeviceMapping, HealthcheckConfig, PortBinding, Ulimit};

/// Every flag an `options:` hash may use. `restart` is not here: Kamal takes it out into the
/// restart policy before building the command line, and so does the configuration loader.
pub const FLAGS: &[Flag] = &[
    flag("add-host", None, Repeated),
    flag("cap-add", None, Repeated),
    flag("cap-drop", None, Repeated),
    flag("cpu-shares", Some('c'), Single),
    flag("cpus", None, Single),
    flag("cpuset-cpus", None, Single),
    flag("device", None, Repeated),
    flag("dns", None, Repeated),
    flag("dns-option", None, Repeated),
    flag("dns-search", None, Repeated),
    flag("entrypoint", None, Single),
    flag("env", Some('e'), Repeated),
    flag("expose", None, Repeated),
    flag("gpus", None, Single),
    flag("group-add", None, Repeated),
    flag("health-cmd", None, Single),
    flag("health-interval", None, Single),
    flag("health-retries", None, Single),
    flag("health-start-period", None, Single),
    flag("health-timeout", None, Single),
    flag("hostname", Some('h'), Single),
    flag("init", None, Switch),
    flag("interactive", Some('i'), Switch),
    flag("ipc", None, Single),
    flag("label", Some('l'), Repeated),
    flag("log-driver", None, Single),
    flag("log-opt", None, Repeated),
    flag("memory", Some('m'), Single),
    flag("memory-reservation", None, Single),
    flag("memory-swap", None, Single),
    flag("network-alias", None, Repeated),
    flag("no-healthcheck", None, Switch),
    flag("oom-kill-disable", None, Switch),
    flag("oom-score-adj", None, Single),
    flag("pid", None, Single),
    flag("pids-limit", None, Single),
    flag("privileged", None, Switch),
    flag("publish", Some('p'), Repeated),
    flag("read-only", None, Switch),
    flag("runtime", None, Single),
    flag("security-opt", None, Repeated),
    flag("shm-size", None, Single),
    flag("stop-signal", None, Single),
    flag("stop-timeout", None, Single),
    flag("sysctl", None, Repeated),
    flag("tmpfs", None, Repeated),
    flag("tty", Some('t'), Switch),
    flag("ulimit", None, Repeated),
    flag("user", Some('u'), Single),
    flag("userns", None, Single),
    flag("uts", None, Single),
    flag("volume", Some('v'), Repeated),
    flag("workdir", Some('w'), Single),
];

/// The flag an `options:` key names (`memory`, `m`, `--memory`), if gantry supports it.
pub fn lookup(key: &str) -> Option<&'static Flag> {
    let name = key.trim_start_matches('-');
    let mut chars = name.chars();
    let short = match (chars.next(), chars.next()) {
        (Some(letter), None) => Some(letter),
        _ => None,
    };
    FLAGS
        .iter()
        .find(|flag| flag.name == name || (short.is_some() && flag.short == short))
}

/// The long names of every supported flag, for "did you mean" and help texts.
pub fn flag_names() -> impl Iterator<Item = &'static str> {
    FLAGS.iter().map(|flag| flag.name)
}

/// An `options:` value docker would refuse, or a flag gantry does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DockerArgError {
    #[error("docker option `{0}` is not supported by gantry")]
    Unsupported(String),
    #[error("docker option `{flag}`: {message}")]
    Invalid { flag: String, message: String },
}

/// Where an `options:` hash's flags land: fields of the container spec that gantry also sets
/// itself (env, labels, ports, volumes, logging, hostname) and everything else.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TranslatedOptions {
    pub options: ContainerOptions,
    /// `--env K=V`, in order.
    pub env: Vec<(String, String)>,
    /// `--label k=v`, in order.
    pub labels: Vec<(String, String)>,
    pub ports: Vec<PortBinding>,
    pub binds: Vec<String>,
    pub log_driver: Option<String>,
    pub log_options: Vec<(String, String)>,
    pub hostname: Option<String>,
}

/// Translates an `options:` hash into Engine API terms, exactly as `docker run` would read the
/// same flags.
pub fn translate(options: &DockerOptions) -> Result<TranslatedOptions, DockerArgError> {
    let mut out = TranslatedOptions::default();
    for (key, value) in &options.0 {
        let flag = lookup(key).ok_or_else(|| DockerArgError::Unsupported(key.clone()))?;
        let values: Vec<String> = match (flag.arity, value) {
            (FlagArity::Switch, DockerOptionValue::Flag(on)) => {
                if *on {
                    vec![String::new()]
                } else {
                    Vec::new()
                }
            }
            (FlagArity::Switch, DockerOptionValue::Value(text)) => match text.as_str() {
                "true" | "" => vec![String::new()],
                "false" => Vec::new(),
                _ => return Err(invalid(flag, "expects true or false")),
            },
            (_, DockerOptionValue::Flag(true)) => {
                return Err(invalid(flag, "needs a value"));
            }
            (_, DockerOptionValue::Flag(false)) => Vec::new(),
            (_, DockerOptionValue::Value(text)) => vec![text.clone()],
            (FlagArity::Repeated, DockerOptionValue::Values(list)) => list.clone(),
            (_, DockerOptionValue::Values(_)) => {
                return Err(invalid(flag, "takes one value, not a list"));
            }
        };
        for value in values {
            apply(flag, &value, &mut out)?;
        }
    }
    Ok(out)
}

fn invalid(flag: &Flag, message: impl Into<String>) -> DockerArgError {
    DockerArgError::Invalid {
        flag: flag.name.to_string(),
        message: message.into(),
    }
}

/// Applies one occurrence of a flag.
fn apply(flag: &Flag, value: &str, out: &mut TranslatedOptions) -> Result<(), DockerArgError> {
    let opts = &mut out.options;
    let text = || Some(value.to_string());
    match flag.name {
        "add-host" => opts.extra_hosts.push(value.to_string()),
        "cap-add" => opts.cap_add.push(value.to_string()),
        "cap-drop" => opts.cap_drop.push(value.to_string()),
        "cpu-shares" => opts.cpu_shares = Some(parse_int(flag, value)?),
        "cpus" => opts.nano_cpus = Some(parse_cpus(flag, value)?),
        "cpuset-cpus" => opts.cpuset_cpus = text(),
        "device" => opts.devices.push(parse_device(value)),
        "dns" => opts.dns.push(value.to_string()),
        "dns-option" => opts.dns_options.push(value.to_string()),
        "dns-search" => opts.dns_search.push(value.to_string()),
        "entrypoint" => opts.entrypoint = Some(vec![value.to_string()]),
        "env" => out.env.push(split_pair(flag, value)?),
        "expose" => opts.exposed_ports.push(with_protocol(value)),
        "gpus" => opts.gpus = text(),
        "group-add" => opts.group_add.push(value.to_string()),
        "health-cmd" => healthcheck(opts).test = vec!["CMD-SHELL".into(), value.to_string()],
        "health-interval" => healthcheck(opts).interval = Some(parse_duration(flag, value)?),
        "health-retries" => healthcheck(opts).retries = Some(parse_int(flag, value)?),
        "health-start-period" => {
            healthcheck(opts).start_period = Some(parse_duration(flag, value)?)
        }
        "health-timeout" => healthcheck(opts).timeout = Some(parse_duration(flag, value)?),
        "hostname" => out.hostname = text(),
        "init" => opts.init = Some(true),
        "interactive" => opts.interactive = true,
        "ipc" => opts.ipc_mode = text(),
        "label" => out.labels.push(split_label(value)),
        "log-driver" => out.log_driver = text(),
        "log-opt" => out.log_options.push(split_pair(flag, value)?),
        "memory" => opts.memory = Some(parse_bytes(flag, value)?),
        "memory-reservation" => opts.memory_reservation = Some(parse_bytes(flag, value)?),
        "memory-swap" => {
            opts.memory_swap = Some(if value == "-1" {
                -1
            } else {
                parse_bytes(flag, value)?
            })
        }
        "network-alias" => opts.network_aliases.push(value.to_string()),
        "no-healthcheck" => {
            opts.healthcheck = Some(HealthcheckConfig {
                test: vec!["NONE".into()],
                ..HealthcheckConfig::default()
            })
        }
        "oom-kill-disable" => opts.oom_kill_disable = true,
        "oom-score-adj" => opts.oom_score_adj = Some(parse_int(flag, value)?),
        "pid" => opts.pid_mode = text(),
        "pids-limit" => opts.pids_limit = Some(parse_int(flag, value)?),
        "privileged" => opts.privileged = true,
        "publish" => out.ports.extend(parse_publish(flag, value)?),
        "read-only" => opts.read_only = true,
        "runtime" => opts.runtime = text(),
        "security-opt" => opts.security_opt.push(value.to_string()),
        "shm-size" => opts.shm_size = Some(parse_bytes(flag, value)?),
        "stop-signal" => opts.stop_signal = text(),
        "stop-timeout" => opts.stop_timeout = Some(parse_int(flag, value)?),
        "sysctl" => {
            let (key, val) = split_pair(flag, value)?;
            opts.sysctls.insert(key, val);
        }
        "tmpfs" => {
            let (path, mount_options) = value.split_once(':').unwrap_or((value, ""));
            opts.tmpfs
                .insert(path.to_string(), mount_options.to_string());
        }
        "tty" => opts.tty = true,
        "ulimit" => opts.ulimits.push(parse_ulimit(flag, value)?),
        "user" => opts.user = text(),
        "userns" => opts.userns_mode = text(),
        "uts" => opts.uts_mode = text(),
        "volume" => out.binds.push(value.to_string()),
        "workdir" => opts.working_dir = text(),
        other => return Err(DockerArgError::Unsupported(other.to_string())),
    }
    Ok(())
}

fn healthcheck(opts: &mut ContainerOptions) -> &mut HealthcheckConfig {
    opts.healthcheck
        .get_or_insert_with(HealthcheckConfig::default)
}

fn split_pair(flag: &Flag, value: &str) -> Result<(String, String), DockerArgError> {
    value
        .split_once('=')
        .map(|(key, val)| (key.to_string(), val.to_string()))
        .ok_or_else(|| invalid(flag, format!("`{value}` is not KEY=VALUE")))
}

/// `--label key` without a value sets an empty one, as docker does.
fn split_label(value: &str) -> (String, String) {
    match value.split_once('=') {
        Some((key, val)) => (key.to_string(), val.to_string()),
        None => (value.to_string(), String::new()),
    }
}

fn parse_int(flag: &Flag, value: &str) -> Result<i64, DockerArgError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(flag, format!("`{value}` is not a whole number")))
}

/// `--cpus 1.5` in units of 1e-9 CPUs, computed without floating-point rounding surprises.
fn parse_cpus(flag: &Flag, value: &str) -> Result<i64, DockerArgError> {
    let error = || invalid(flag, format!("`{value}` is not a number of CPUs"));
    let (whole, fraction) = value.trim().split_once('.').unwrap_or((value.trim(), ""));
    if fraction.len() > 9 || (whole.is_empty() && fraction.is_empty()) {
        return Err(error());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| error())?
    };
    let fraction_nanos: i64 = if fraction.is_empty() {
        0
    } else {
        let digits: i64 = fraction.parse().map_err(|_| error())?;
        digits * 10_i64.pow(9 - fraction.len() as u32)
    };
    whole
        .checked_mul(1_000_000_000)
        .and_then(|nanos| nanos.checked_add(fraction_nanos))
        .filter(|nanos| *nanos >= 0)
        .ok_or_else(|| invalid(flag, format!("`{value}` is more CPUs than Docker can take")))
}

/// Docker's `RAMInBytes`: a number with an optional binary unit (`b k m g t p`, `kb`, `mib`...).
fn parse_bytes(flag: &Flag, value: &str) -> Result<i64, DockerArgError> {
    let error = || invalid(flag, format!("`{value}` is not a size like 512m or 2g"));
    let trimmed = value.trim().to_ascii_lowercase();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().map_err(|_| error())?;
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        "p" => 1024.0_f64.powi(5),
        _ => return Err(error()),
    };
    whole_number(number * multiplier).ok_or_else(|| {
        invalid(
            flag,
            format!("`{value}` is more bytes than Docker can take"),
        )
    })
}

/// `value` as an `i64` when it is one: `as` would saturate a value out of range silently.
fn whole_number(value: f64) -> Option<i64> {
    // 2^63 is the first f64 beyond i64::MAX.
    (value.is_finite() && (0.0..9_223_372_036_854_775_808.0).contains(&value))
        .then_some(value as i64)
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds, as docker's `--health-*` flags take.
fn parse_duration(flag: &Flag, value: &str) -> Result<i64, DockerArgError> {
    let error = || {
        invalid(
            flag,
            format!("`{value}` is not a duration like 30s or 1m30s"),
        )
    };
    let mut total: f64 = 0.0;
    let mut rest = value.trim();
    if rest.is_empty() {
        return Err(error());
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(error)?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().map_err(|_| error())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(error()),
        };
        total += number * nanos_per_unit;
        rest = tail;
    }
    whole_number(total).ok_or_else(|| {
        invalid(
            flag,
            format!("`{value}` is longer than Docker can take (about 292 years)"),
        )
    })
}

fn parse_ulimit(flag: &Flag, value: &str) -> Result<Ulimit, DockerArgError> {
    let (name, limits) = split_pair(flag, value)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((&limits, &limits));
    Ok(Ulimit {
        name,
        soft: parse_int(flag, soft)?,
        hard: parse_int(flag, hard)?,
    })
}

/// `--device /dev/x[:/dev/y][:rwm]`.
fn parse_device(value: &str) -> DeviceMapping {
    let parts: Vec<&str> = value.split(':').collect();
    let is_permissions = |part: &str| !part.is_empty() && part.chars().all(|c| "rwm".contains(c));
    let (host, container, permissions) = match parts.as_slice() {
        [host] => (*host, *host, "rwm"),
        [host, last] if is_permissions(last) => (*host, *host, *last),
        [host, container] => (*host, *container, "rwm"),
        [host, container, permissions, ..] => (*host, *container, *permissions),
        [] => (value, value, "rwm"),
    };
    DeviceMapping {
        path_on_host: host.to_string(),
        path_in_container: container.to_string(),
        permissions: permissions.to_string(),
    }
}

/// `80` is `80/tcp`.
fn with_protocol(port: &str) -> String {
    if port.contains('/') {
        port.to_string()
    } else {
        format!("{port}/tcp")
    }
}

/// `--publish [ip:][host:]container[/proto]`; a port range publishes each port.
pub fn parse_publish(flag: &Flag, value: &str) -> Result<Vec<PortBinding>, DockerArgError> {
    let error = || {
        invalid(
            flag,
            format!("`{value}` is not [ip:]host:container[/proto]"),
        )
    };
    let (address, protocol) = value.rsplit_once('/').unwrap_or((value, "tcp"));
    // An IPv6 host address is bracketed: [::1]:80:80.
    let (host_ip, ports) = if let Some(rest) = address.strip_prefix('[') {
        let (ip, ports) = rest.split_once("]:").ok_or_else(error)?;
        (ip.to_string(), ports)
    } else {
        match address.matches(':').count() {
            0 | 1 => (String::new(), address),
            2 => {
                let (ip, ports) = address.split_once(':').ok_or_else(error)?;
                (ip.to_string(), ports)
            }
            _ => return Err(error()),
        }
    };
    let (host_ports, container_ports) = match ports.split_once(':') {
        Some((host, container)) => (host, container),
        None => ("", ports),
    };
    let container_range = port_range(container_ports).ok_or_else(error)?;
    let host_range = if host_ports.is_empty() {
        None
    } else {
        Some(port_range(host_ports).ok_or_else(error)?)
    };
    let mut bindings = Vec::new();
    for (index, container_port) in (container_range.0..=container_range.1).enumerate() {
        let host_port = match host_range {
            Some((start, end)) if start == end => start.to_string(),
            Some((start, _)) => (start + index as u32).to_string(),
            None => String::new(),
        };
        bindings.push(PortBinding {
            container_port: format!("{container_port}/{protocol}"),
            host_ip: host_ip.clone(),
            host_port,
        });
    }
    Ok(bindings)
}

fn port_range(text: &str) -> Option<(u32, u32)> {
    let (start, end) = text.split_once('-').unwrap_or((text, text));
    let start: u32 = start.parse().ok()?;
    let end: u32 = end.parse().ok()?;
    (start <= end && end <= 65535).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_long_short_and_dashed_names() {
        assert_eq!(lookup("memory").map(|f| f.name), Some("memory"));
        assert_eq!(lookup("m").map(|f| f.name), Some("memory"));
        assert_eq!(lookup("--cap-add").map(|f| f.name), Some("cap-add"));
        assert_eq!(lookup("restart"), None);
        assert_eq!(lookup("network"), None);
        assert_eq!(lookup("x"), None);
    }

    fn options(pairs: &[(&str, DockerOptionValue)]) -> DockerOptions {
        DockerOptions(
            pairs
                .iter()
                .map(|(key, value)| (key.to_string(), value.clone()))
                .collect(),
        )
    }

    fn value(text: &str) -> DockerOptionValue {
        DockerOptionValue::Value(text.to_string())
    }

    #[test]
    fn translates_resource_limits() {
        let translated = translate(&options(&[
            ("memory", value("2g")),
            ("cpus", value("1.5")),
            ("shm-size", value("64m")),
            ("memory-swap", value("-1")),
            ("pids-limit", value("100")),
        ]))
        .unwrap();
        let opts = translated.options;
        assert_eq!(opts.memory, Some(2 * 1024 * 1024 * 1024));
        assert_eq!(opts.nano_cpus, Some(1_500_000_000));
        assert_eq!(opts.shm_size, Some(64 * 1024 * 1024));
        assert_eq!(opts.memory_swap, Some(-1));
        assert_eq!(opts.pids_limit, Some(100));
    }

    /// Issue 15: values whose nanoseconds or bytes do not fit Docker's 64-bit fields are
    /// refused, not wrapped or saturated; the largest that fit pass.
    #[test]
    fn values_beyond_dockers_64_bit_fields_are_refused() {
        let one = |key: &str, text: &str| translate(&options(&[(key, value(text))]));
        assert_eq!(
            one("cpus", "9223372036").unwrap().options.nano_cpus,
            Some(9_223_372_036_000_000_000)
        );
        assert!(one("cpus", "9223372037").is_err());
        assert!(one("cpus", "99999999999999999999").is_err());
        assert!(one("memory", "8191p").is_ok());
        assert!(one("memory", "8192p").is_err());
        assert!(one("health-interval", "2562047h").is_ok());
        assert!(one("health-interval", "2562048h").is_err());
    }

    #[test]
    fn repeated_flags_take_lists_and_single_values() {
        let translated = translate(&options(&[
            (
                "cap-add",
                DockerOptionValue::Values(vec!["NET_ADMIN".into(), "SYS_TIME".into()]),
            ),
            ("add-host", value("db:10.0.0.5")),
            ("ulimit", value("nofile=1024:2048")),
            ("sysctl", value("net.core.somaxconn=1024")),
            ("tmpfs", value("/run:rw,size=64m")),
        ]))
        .unwrap();
        let opts = translated.options;
        assert_eq!(opts.cap_add, vec!["NET_ADMIN", "SYS_TIME"]);
        assert_eq!(opts.extra_hosts, vec!["db:10.0.0.5"]);
        assert_eq!(
            opts.ulimits,
            vec![Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048
            }]
        );
        assert_eq!(
            opts.sysctls.get("net.core.somaxconn").map(String::as_str),
            Some("1024")
        );
        assert_eq!(
            opts.tmpfs.get("/run").map(String::as_str),
            Some("rw,size=64m")
        );
    }

    #[test]
    fn switches_accept_true_and_skip_false() {
        let translated = translate(&options(&[
            ("init", DockerOptionValue::Flag(true)),
            ("privileged", DockerOptionValue::Flag(false)),
            ("read-only", value("true")),
        ]))
        .unwrap();
        assert_eq!(translated.options.init, Some(true));
        assert!(!translated.options.privileged);
        assert!(translated.options.read_only);
    }

    #[test]
    fn flags_that_gantry_sets_itself_are_kept_apart() {
        let translated = translate(&options(&[
            ("env", value("A=1")),
            ("label", value("team=web")),
            ("publish", value("127.0.0.1:8080:80")),
            ("volume", value("/data:/data:ro")),
            ("log-opt", value("max-file=3")),
        ]))
        .unwrap();
        assert_eq!(translated.env, vec![("A".to_string(), "1".to_string())]);
        assert_eq!(
            translated.labels,
            vec![("team".to_string(), "web".to_string())]
        );
        assert_eq!(
            translated.ports,
            vec![PortBinding {
                container_port: "80/tcp".into(),
                host_ip: "127.0.0.1".into(),
                host_port: "8080".into()
            }]
        );
        assert_eq!(translated.binds, vec!["/data:/data:ro"]);
        assert_eq!(
            translated.log_options,
            vec![("max-file".to_string(), "3".to_string())]
        );
    }

    #[test]
    fn health_flags_build_one_healthcheck() {
        let translated = translate(&options(&[
            ("health-cmd", value("curl -f localhost/up")),
            ("health-interval", value("1m30s")),
            ("health-retries", value("3")),
        ]))
        .unwrap();
        let check = translated.options.healthcheck.unwrap();
        assert_eq!(check.test, vec!["CMD-SHELL", "curl -f localhost/up"]);
        assert_eq!(check.interval, Some(90_000_000_000));
        assert_eq!(check.retries, Some(3));
    }

    #[test]
    fn publish_forms() {
        let flag = lookup("publish").unwrap();
        let one = |text: &str| parse_publish(flag, text).unwrap();
        assert_eq!(one("3306")[0].host_port, "");
        assert_eq!(one("3306:3306")[0].container_port, "3306/tcp");
        assert_eq!(one("53:53/udp")[0].container_port, "53/udp");
        assert_eq!(one("[::1]:80:80")[0].host_ip, "::1");
        let range = one("8000-8001:9000-9001");
        assert_eq!(range.len(), 2);
        assert_eq!(range[1].host_port, "8001");
        assert_eq!(range[1].container_port, "9001/tcp");
        assert!(parse_publish(flag, "a:b:c:d").is_err());
        assert!(parse_publish(flag, "99999").is_err());
    }

    #[test]
    fn bad_values_name_the_flag() {
        let error = translate(&options(&[("memory", value("lots"))])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "docker option `memory`: `lots` is not a size like 512m or 2g"
        );
        let error = translate(&options(&[("network", value("host"))])).unwrap_err();
        assert_eq!(error, DockerArgError::Unsupported("network".into()));
        assert!(translate(&options(&[("cpus", value("1.2.3"))])).is_err());
        assert!(translate(&options(&[("memory", DockerOptionValue::Flag(true))])).is_err());
    }

    #[test]
    fn devices_with_and_without_container_path() {
        assert_eq!(parse_device("/dev/fuse").path_in_container, "/dev/fuse");
        assert_eq!(parse_device("/dev/fuse:r").permissions, "r");
        let full = parse_device("/dev/sda:/dev/xvda:rw");
        assert_eq!(full.path_in_container, "/dev/xvda");
        assert_eq!(full.permissions, "rw");
    }

    #[test]
    fn flags_are_sorted_and_unique() {
        let names: Vec<&str> = flag_names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
