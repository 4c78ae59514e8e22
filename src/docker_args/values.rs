//! Values of `docker run` flags as docker's CLI parses them: sizes, durations, CPU counts,
//! ports, devices, addresses.

use super::{DockerArgError, Flag, invalid};
use crate::model::{DeviceMapping, DeviceRate, PortBinding, Ulimit};

pub(super) fn split_pair(flag: &Flag, value: &str) -> Result<(String, String), DockerArgError> {
    value
        .split_once('=')
        .map(|(key, val)| (key.to_string(), val.to_string()))
        .ok_or_else(|| invalid(flag, format!("`{value}` is not KEY=VALUE")))
}

/// `--label key` without a value sets an empty one, as docker does.
pub(super) fn split_label(value: &str) -> (String, String) {
    match value.split_once('=') {
        Some((key, val)) => (key.to_string(), val.to_string()),
        None => (value.to_string(), String::new()),
    }
}

pub(super) fn parse_int(flag: &Flag, value: &str) -> Result<i64, DockerArgError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(flag, format!("`{value}` is not a whole number")))
}

/// `--cpus 1.5` in units of 1e-9 CPUs, computed without floating-point rounding surprises.
pub(super) fn parse_cpus(flag: &Flag, value: &str) -> Result<i64, DockerArgError> {
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

pub(super) fn parse_bytes(flag: &Flag, value: &str) -> Result<i64, DockerArgError> {
    let bytes = ram_bytes(value)
        .ok_or_else(|| invalid(flag, format!("`{value}` is not a size like 512m or 2g")))?;
    whole_number(bytes).ok_or_else(|| {
        invalid(
            flag,
            format!("`{value}` is more bytes than Docker can take"),
        )
    })
}

/// Docker's `RAMInBytes`, `None` for a size that is not one or does not fit 64 bits.
pub(super) fn ram_in_bytes(value: &str) -> Option<i64> {
    ram_bytes(value).and_then(whole_number)
}

/// `value` as an `i64` when it is one: `as` would saturate a value out of range silently.
fn whole_number(value: f64) -> Option<i64> {
    // 2^63 is the first f64 beyond i64::MAX.
    (value.is_finite() && (0.0..9_223_372_036_854_775_808.0).contains(&value))
        .then_some(value as i64)
}

/// A number with an optional binary unit (`b k m g t p`, `kb`, `mib`...), as Docker's
/// `RAMInBytes` reads it.
fn ram_bytes(value: &str) -> Option<f64> {
    let trimmed = value.trim().to_ascii_lowercase();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0_f64.powi(4),
        "p" => 1024.0_f64.powi(5),
        _ => return None,
    };
    Some(number * multiplier)
}

/// A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds, as docker's `--health-*` flags take.
pub(super) fn parse_duration(flag: &Flag, value: &str) -> Result<i64, DockerArgError> {
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

pub(super) fn parse_ulimit(flag: &Flag, value: &str) -> Result<Ulimit, DockerArgError> {
    let (name, limits) = split_pair(flag, value)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((&limits, &limits));
    Ok(Ulimit {
        name,
        soft: parse_int(flag, soft)?,
        hard: parse_int(flag, hard)?,
    })
}

/// `/dev/sda:VALUE`, as docker's `ValidateWeightDevice` and `ValidateThrottle*Device` read it:
/// a `/dev/` path and a value `rate` accepts.
pub(super) fn parse_device_rate(
    flag: &Flag,
    value: &str,
    rate: impl Fn(&str) -> Option<i64>,
) -> Result<DeviceRate, DockerArgError> {
    let error = || invalid(flag, format!("`{value}` is not /dev/DEVICE:VALUE"));
    let (path, text) = value.split_once(':').ok_or_else(error)?;
    if !path.starts_with("/dev/") || text.contains(':') {
        return Err(error());
    }
    Ok(DeviceRate {
        path: path.to_string(),
        rate: rate(text).filter(|rate| *rate >= 0).ok_or_else(error)?,
    })
}

/// `--ip` (IPv4) or `--ip6` (IPv6), as docker's CLI checks them.
pub(super) fn parse_ip(flag: &Flag, value: &str, v4: bool) -> Result<String, DockerArgError> {
    match value.parse::<std::net::IpAddr>() {
        Ok(address) if address.is_ipv4() == v4 => Ok(address.to_string()),
        _ => Err(invalid(
            flag,
            format!(
                "`{value}` is not an {} address",
                if v4 { "IPv4" } else { "IPv6" }
            ),
        )),
    }
}

/// `--device /dev/x[:/dev/y][:rwm]`.
pub(super) fn parse_device(value: &str) -> DeviceMapping {
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
pub(super) fn with_protocol(port: &str) -> String {
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

pub(super) fn port_range(text: &str) -> Option<(u32, u32)> {
    let (start, end) = text.split_once('-').unwrap_or((text, text));
    let start: u32 = start.parse().ok()?;
    let end: u32 = end.parse().ok()?;
    (start <= end && end <= 65535).then_some((start, end))
}
