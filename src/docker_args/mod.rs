//! Kamal's `options:` hashes (docker `run` flags) as Engine API fields.
//!
//! Kamal turns `options: {memory: 2g, cap-add: [NET_ADMIN]}` into `--memory 2g --cap-add
//! NET_ADMIN` on a `docker run` command line. gantry talks to the Engine API instead, so each
//! supported flag is translated here into [`ContainerOptions`]
//! (and a few into env, labels, ports or volumes), as docker's CLI reads it. A flag that is not
//! in [`FLAGS`] is refused when the configuration is loaded, with a diagnostic that says why
//! (`flags.rs`), rather than silently dropped: an option that quietly does nothing is worse than
//! an error.
//!
//! - `flags`: the table of flags, translated, inexpressible or not supported yet;
//! - `apply`: one flag occurrence onto the options, one function per family of flags;
//! - `values`, `mount`: docker's value syntaxes (sizes, durations, devices, `--publish`,
//!   `--mount`).

mod apply;
mod flags;
mod mount;
mod values;

use apply::apply;
pub use flags::{
    FLAGS, Flag, FlagArity, INEXPRESSIBLE, NOT_SUPPORTED_YET, flag_names, inexpressible, lookup,
};
pub use mount::parse_mount;
pub use values::parse_publish;
use values::*;

use crate::model::{ContainerOptions, PortBinding};
use crate::model::{DockerOptionValue, DockerOptions};

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
    // A container's networks are a set: docker reports them by name.
    out.options.networks.sort();
    out.options.cap_add = normalized_capabilities(&out.options.cap_add);
    out.options.cap_drop = normalized_capabilities(&out.options.cap_drop);
    Ok(out)
}

/// `--cap-add` or `--cap-drop` values as docker's CLI (28.x) sends them: upper case with the
/// `CAP_` prefix (`ALL` as it is), each once, sorted.
fn normalized_capabilities(caps: &[String]) -> Vec<String> {
    let mut normalized: Vec<String> = caps
        .iter()
        .map(|cap| {
            let cap = cap.trim().to_ascii_uppercase();
            if cap == "ALL" || cap.starts_with("CAP_") {
                cap
            } else {
                format!("CAP_{cap}")
            }
        })
        .collect();
    normalized.sort();
    normalized.dedup();
    normalized
}

fn invalid(flag: &Flag, message: impl Into<String>) -> DockerArgError {
    DockerArgError::Invalid {
        flag: flag.name.to_string(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DeviceRate, Ulimit};

    #[test]
    fn lookup_by_long_short_and_dashed_names() {
        assert_eq!(lookup("memory").map(|f| f.name), Some("memory"));
        assert_eq!(lookup("m").map(|f| f.name), Some("memory"));
        assert_eq!(lookup("--cap-add").map(|f| f.name), Some("cap-add"));
        assert_eq!(lookup("restart"), None);
        assert_eq!(lookup("net").map(|f| f.name), Some("net"));
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
        assert_eq!(opts.cap_add, vec!["CAP_NET_ADMIN", "CAP_SYS_TIME"]);
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
        let error = translate(&options(&[("cidfile", value("/tmp/id"))])).unwrap_err();
        assert_eq!(error, DockerArgError::Unsupported("cidfile".into()));
        assert!(translate(&options(&[("cpus", value("1.2.3"))])).is_err());
        assert!(translate(&options(&[("memory", DockerOptionValue::Flag(true))])).is_err());
    }

    /// What docker 28's CLI (the test bed hosts') sent for `--cap-add sys_time --cap-add NET_ADMIN --cap-add
    /// net_admin --cap-drop CAP_NET_ADMIN --cap-drop mknod`, read back with `docker inspect`.
    #[test]
    fn capabilities_as_docker_s_cli_sends_them() {
        let list = |items: &[&str]| {
            DockerOptionValue::Values(items.iter().map(|item| item.to_string()).collect())
        };
        let translated = translate(&options(&[
            ("cap-add", list(&["sys_time", "NET_ADMIN", "net_admin"])),
            ("cap-drop", list(&["CAP_NET_ADMIN", "mknod"])),
        ]))
        .unwrap();
        assert_eq!(
            translated.options.cap_add,
            ["CAP_NET_ADMIN", "CAP_SYS_TIME"]
        );
        assert_eq!(translated.options.cap_drop, ["CAP_MKNOD", "CAP_NET_ADMIN"]);
        let translated = translate(&options(&[
            ("cap-add", list(&["all", "NET_ADMIN"])),
            ("cap-drop", list(&["ALL"])),
        ]))
        .unwrap();
        assert_eq!(translated.options.cap_add, ["ALL", "CAP_NET_ADMIN"]);
        assert_eq!(translated.options.cap_drop, ["ALL"]);
    }

    #[test]
    fn device_rates_need_a_dev_path_and_a_value_docker_accepts() {
        let refused = |flag: &str, text: &str| translate(&options(&[(flag, value(text))])).is_err();
        assert!(refused("device-read-bps", "sda:1mb"));
        assert!(refused("device-read-bps", "/dev/sda"));
        assert!(refused("device-read-bps", "/dev/sda:fast"));
        assert!(refused("device-read-iops", "/dev/sda:1k"));
        assert!(refused("blkio-weight-device", "/dev/sda:5"));
        assert!(refused("blkio-weight-device", "/dev/sda:1001"));
        let translated = translate(&options(&[("blkio-weight-device", value("/dev/sda:0"))]));
        assert_eq!(
            translated.unwrap().options.blkio_weight_device,
            vec![DeviceRate {
                path: "/dev/sda".into(),
                rate: 0
            }]
        );
    }

    #[test]
    fn devices_with_and_without_container_path() {
        assert_eq!(parse_device("/dev/fuse").path_in_container, "/dev/fuse");
        assert_eq!(parse_device("/dev/fuse:r").permissions, "r");
        let full = parse_device("/dev/sda:/dev/xvda:rw");
        assert_eq!(full.path_in_container, "/dev/xvda");
        assert_eq!(full.permissions, "rw");
    }

    /// specs/config.md's table of `docker run` flags says what this module does with each.
    #[test]
    fn the_spec_table_matches_the_flag_lists() {
        let spec = include_str!("../../specs/config.md");
        let section = spec
            .split("### docker options")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").find(|block| block.starts_with("| flag")))
            .expect("the docker options table");
        let mut named = Vec::new();
        for row in section.lines().skip(2) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let names = cells[0].trim_start_matches("| ").trim_matches('`');
            for name in names.split(", ").map(|name| name.trim_start_matches('-')) {
                let cell = cells[1];
                // Exactly one list holds each flag.
                let lists = [
                    inexpressible(name).is_some(),
                    NOT_SUPPORTED_YET.contains(&name),
                    lookup(name).is_some() || name == "restart",
                ];
                let listed = lists.iter().filter(|listed| **listed).count() == 1
                    && if cell.starts_with("diagnostic: cannot be expressed") {
                        lists[0]
                    } else if cell.starts_with("diagnostic: not supported yet") {
                        lists[1]
                    } else {
                        lists[2]
                    };
                assert!(listed, "`{name}`: {cell}");
                named.push(name.to_string());
            }
        }
        let known = FLAGS
            .iter()
            .map(|flag| flag.name)
            .chain(INEXPRESSIBLE.iter().map(|(name, _)| *name))
            .chain(NOT_SUPPORTED_YET.iter().copied());
        for name in known {
            assert!(named.iter().any(|row| row == name), "`{name}` has no row");
        }
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
