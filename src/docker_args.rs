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

    #[test]
    fn flags_are_sorted_and_unique() {
        let names: Vec<&str> = flag_names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
