//! The `docker run` flags an `options:` hash may name, and what becomes of each: translated
//! ([`FLAGS`]), refused because the Engine API cannot express it ([`INEXPRESSIBLE`]), or refused
//! until gantry translates it ([`NOT_SUPPORTED_YET`]). specs/config.md's table lists the same.

use FlagArity::{Repeated, Single, Switch};

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

/// Every flag an `options:` hash may use. `restart` is not here: Kamal takes it out into the
/// restart policy before building the command line, and so does the configuration loader.
pub const FLAGS: &[Flag] = &[
    flag("add-host", None, Repeated),
    flag("blkio-weight", None, Single),
    flag("blkio-weight-device", None, Repeated),
    flag("cap-add", None, Repeated),
    flag("cap-drop", None, Repeated),
    flag("cgroup-parent", None, Single),
    flag("cgroupns", None, Single),
    flag("cpu-period", None, Single),
    flag("cpu-quota", None, Single),
    flag("cpu-rt-period", None, Single),
    flag("cpu-rt-runtime", None, Single),
    flag("cpu-shares", Some('c'), Single),
    flag("cpus", None, Single),
    flag("cpuset-cpus", None, Single),
    flag("cpuset-mems", None, Single),
    flag("device", None, Repeated),
    flag("device-cgroup-rule", None, Repeated),
    flag("device-read-bps", None, Repeated),
    flag("device-read-iops", None, Repeated),
    flag("device-write-bps", None, Repeated),
    flag("device-write-iops", None, Repeated),
    flag("dns", None, Repeated),
    flag("dns-option", None, Repeated),
    flag("dns-search", None, Repeated),
    flag("domainname", None, Single),
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
    flag("ip", None, Single),
    flag("ip6", None, Single),
    flag("ipc", None, Single),
    flag("isolation", None, Single),
    flag("label", Some('l'), Repeated),
    flag("link", None, Repeated),
    flag("link-local-ip", None, Repeated),
    flag("log-driver", None, Single),
    flag("log-opt", None, Repeated),
    flag("memory", Some('m'), Single),
    flag("memory-reservation", None, Single),
    flag("memory-swap", None, Single),
    flag("memory-swappiness", None, Single),
    flag("mount", None, Repeated),
    flag("net", None, Repeated),
    flag("net-alias", None, Repeated),
    flag("network", None, Repeated),
    flag("network-alias", None, Repeated),
    flag("no-healthcheck", None, Switch),
    flag("oom-kill-disable", None, Switch),
    flag("oom-score-adj", None, Single),
    flag("pid", None, Single),
    flag("pids-limit", None, Single),
    flag("privileged", None, Switch),
    flag("publish", Some('p'), Repeated),
    flag("publish-all", Some('P'), Switch),
    flag("read-only", None, Switch),
    flag("rm", None, Switch),
    flag("runtime", None, Single),
    flag("security-opt", None, Repeated),
    flag("shm-size", None, Single),
    flag("stop-signal", None, Single),
    flag("stop-timeout", None, Single),
    flag("storage-opt", None, Repeated),
    flag("sysctl", None, Repeated),
    flag("tmpfs", None, Repeated),
    flag("tty", Some('t'), Switch),
    flag("ulimit", None, Repeated),
    flag("user", Some('u'), Single),
    flag("userns", None, Single),
    flag("uts", None, Single),
    flag("volume", Some('v'), Repeated),
    flag("volume-driver", None, Single),
    flag("volumes-from", None, Repeated),
    flag("workdir", Some('w'), Single),
];

/// `docker run` flags that the Engine API cannot express, with what to do instead: the docker
/// CLI acts on them itself (files it reads, streams it attaches, a pull policy) or gantry owns
/// what they set. A key naming one gets a diagnostic, never a silent drop.
pub const INEXPRESSIBLE: &[(&str, &str)] = &[
    (
        "attach",
        "gantry's containers run detached, as Kamal's; use `gantry logs`",
    ),
    (
        "a",
        "gantry's containers run detached, as Kamal's; use `gantry logs`",
    ),
    (
        "cidfile",
        "the docker CLI writes this file; `gantry details` shows container ids",
    ),
    (
        "detach",
        "gantry's containers always run detached, as Kamal's: remove it",
    ),
    (
        "d",
        "gantry's containers always run detached, as Kamal's: remove it",
    ),
    (
        "detach-keys",
        "the docker CLI reads these keys from a terminal; remove it",
    ),
    (
        "disable-content-trust",
        "content trust is checked by the docker CLI; remove it",
    ),
    (
        "env-file",
        "the docker CLI reads this file on the host; put the variables in `env:`",
    ),
    ("help", "not a container setting; remove it"),
    (
        "kernel-memory",
        "the Engine API has no kernel memory limit any more (docker ignores it since 20.10); remove it",
    ),
    (
        "label-file",
        "the docker CLI reads this file on the host; put the labels in `labels:`",
    ),
    (
        "name",
        "container names follow Kamal's scheme (service-role-version); remove it",
    ),
    (
        "pull",
        "gantry pulls the image itself before creating the container; remove it",
    ),
    ("quiet", "the docker CLI's output only; remove it"),
    ("q", "the docker CLI's output only; remove it"),
    (
        "sig-proxy",
        "the docker CLI forwards signals only to attached containers; remove it",
    ),
    (
        "use-api-socket",
        "the docker CLI builds this mount from its own credentials; mount /var/run/docker.sock with `volumes:` instead",
    ),
];

/// `docker run` flags the Engine API could express but gantry does not translate yet; a key
/// naming one is refused by name (specs/config.md lists where each would land).
pub const NOT_SUPPORTED_YET: &[&str] = &["mac-address", "platform"];

/// What to do instead of a flag the Engine API cannot express, if `key` names one.
pub fn inexpressible(key: &str) -> Option<&'static str> {
    let name = key.trim_start_matches('-');
    INEXPRESSIBLE
        .iter()
        .find(|(flag, _)| *flag == name)
        .map(|(_, instead)| *instead)
}

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
