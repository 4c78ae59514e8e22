//! Where and how to connect: deploy.yml's `ssh:` first, then OpenSSH's config files, then
//! defaults, as Kamal (Net::SSH) resolves them.
//!
//! Input: deploy.yml's `ssh:` and `x-gantry:` sections ([`SshSettings`]) and a host as deploy.yml
//! writes it (`host`, `user@host`, `host:port`, `[v6]:port`). Output: a [`Target`], everything
//! needed to open that one connection. Reads OpenSSH config files; touches nothing else.
//!
//! Kamal always passes `user` (default `root`) and `port` (default 22) to Net::SSH, so those two
//! come from deploy.yml even when `~/.ssh/config` names others; a host written `user@host:port`
//! in deploy.yml overrides both. `HostName`, `IdentityFile`, `ProxyJump`, `ProxyCommand`,
//! `UserKnownHostsFile`, `GlobalKnownHostsFile`, `HostKeyAlias` and `StrictHostKeyChecking` come
//! from the config files. Jump hosts are resolved as `ssh -J` resolves
//! them, with the config's `User` and `Port`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{ParseRule, SshConfig};

use super::known_hosts::HostKeys;

use crate::config::{GantrySettings, Ssh, SshConfigFiles};
use crate::secret::Secret;

/// Connection settings shared by every host of a run: built once from the config, then
/// overridden field by field where a command line or a test needs to.
#[derive(Clone, Debug)]
pub struct SshSettings {
    /// `ssh.user`: the login, and so the home directory that holds `.kamal/`.
    pub user: String,
    /// `ssh.port`.
    pub port: u16,
    /// `ssh.keys`, `~` expanded.
    pub keys: Vec<PathBuf>,
    /// `ssh.key_data`, resolved from secrets.
    pub key_data: Vec<Secret>,
    /// Use only `keys` and `key_data`: no agent, no default identities.
    pub keys_only: bool,
    /// The SSH agent's socket (`SSH_AUTH_SOCK` when the settings were built); `None`: no agent.
    pub agent: Option<PathBuf>,
    /// `ssh.proxy`: jump hosts, `[user@]host[:port]`, comma-separated for several hops.
    pub jump: Option<String>,
    /// `ssh.proxy_command`, with `%h`, `%p`, `%r` and `%n` expanded; run through `sh -c`.
    pub proxy_command: Option<String>,
    /// OpenSSH config files to read, in order.
    pub config_files: Vec<PathBuf>,
    /// known_hosts to verify against and record new hosts in; `None`: the config's
    /// `UserKnownHostsFile`, else `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// How long opening and authenticating one connection may take (jumps included).
    pub connect_timeout: Duration,
    /// The longest any single command or API call may take.
    pub command_timeout: Duration,
    /// The Docker socket on the hosts (`/run/user/<uid>/docker.sock` for rootless Docker).
    pub docker_socket: String,
}

impl SshSettings {
    /// Settings from deploy.yml's `ssh:` and `x-gantry:`; `key_data` secrets are passed in.
    pub fn from_config(ssh: &Ssh, gantry: &GantrySettings, key_data: Vec<Secret>) -> Self {
        let home = home_dir();
        let config_files = match &ssh.config {
            SshConfigFiles::Default => vec![
                home.join(".ssh").join("config"),
                PathBuf::from("/etc/ssh/ssh_config"),
            ],
            SshConfigFiles::None => Vec::new(),
            SshConfigFiles::Files(files) => files.iter().map(expand_tilde).collect(),
        };
        SshSettings {
            user: ssh.user.clone(),
            port: ssh.port,
            keys: ssh.keys.iter().map(expand_tilde).collect(),
            key_data,
            keys_only: ssh.keys_only,
            agent: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|socket| !socket.is_empty() && !ssh.keys_only)
                .map(PathBuf::from),
            jump: ssh.proxy.clone(),
            proxy_command: ssh.proxy_command.clone(),
            config_files,
            known_hosts: None,
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(120),
            docker_socket: gantry
                .docker_socket
                .clone()
                .unwrap_or_else(|| "/var/run/docker.sock".to_string()),
        }
    }
}

/// One host's resolved connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The login.
    pub user: String,
    /// The address to connect to (`HostName`, or the host itself); also the name its key is
    /// looked up by in known_hosts, as OpenSSH does.
    pub hostname: String,
    /// The SSH port.
    pub port: u16,
    /// Key files to offer: `ssh.keys`, then the config's `IdentityFile`s.
    pub identity_files: Vec<PathBuf>,
    /// Jump hosts in the order they are crossed (`ssh -J a,b`), each `[user@]host[:port]`.
    pub jumps: Vec<String>,
    /// A command whose stdin/stdout carry the connection instead of TCP.
    pub proxy_command: Option<String>,
    /// The known_hosts files and settings the host's key is checked with.
    pub host_keys: HostKeys,
}

/// Splits `[user@]host[:port]` (IPv6 as `[addr]:port`).
pub fn split_host(entry: &str) -> (Option<&str>, &str, Option<u16>) {
    let (user, rest) = match entry.rsplit_once('@') {
        Some((user, rest)) => (Some(user), rest),
        None => (None, entry),
    };
    if let Some(bracketed) = rest.strip_prefix('[')
        && let Some((address, tail)) = bracketed.split_once(']')
    {
        let port = tail.strip_prefix(':').and_then(|port| port.parse().ok());
        return (user, address, port);
    }
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (user, host, Some(port)),
            Err(_) => (user, rest, None),
        },
        _ => (user, rest, None),
    }
}

/// `a,b` into hops; Kamal gives a jump host written without a user `root@`.
fn jump_hops(jumps: &str, default_user: Option<&str>) -> Vec<String> {
    jumps
        .split(',')
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .map(|hop| match default_user {
            Some(user) if !hop.contains('@') => format!("{user}@{hop}"),
            _ => hop.to_string(),
        })
        .collect()
}

/// Resolves how to reach `entry`, a host as deploy.yml writes it.
///
/// deploy.yml wins, then OpenSSH's config, then defaults. User and port always come from
/// deploy.yml (or the entry itself): Kamal passes both to Net::SSH, which lets them override the
/// config files, and the user decides which home directory holds `.kamal/`.
pub fn resolve(entry: &str, settings: &SshSettings) -> Target {
    let (user, host, port) = split_host(entry);
    let params = query_config(&settings.config_files, host);
    // One way through: deploy.yml's `proxy`, else its `proxy_command` (Kamal's order), else the
    // config's `ProxyJump`, else its `ProxyCommand` (OpenSSH takes whichever comes first in the
    // file; the parser does not keep that order, so a host with both jumps).
    let (jumps, proxy_command) = match (&settings.jump, &settings.proxy_command) {
        (Some(jump), _) => (jump_hops(jump, Some("root")), None),
        (None, Some(command)) => (Vec::new(), Some(command.clone())),
        (None, None) => match &params.jump {
            Some(jump) => (jump_hops(jump, None), None),
            None => (Vec::new(), params.proxy_command.clone()),
        },
    };
    Target {
        user: user.map_or_else(|| settings.user.clone(), str::to_string),
        hostname: params.host_name.clone().unwrap_or_else(|| host.to_string()),
        port: port.unwrap_or(settings.port),
        identity_files: identity_files(settings, &params),
        jumps,
        proxy_command,
        host_keys: host_keys(settings, &params),
    }
}

/// Resolves a jump host as `ssh -J` does: the hop's own user and port, else the config's, else
/// root and 22. A jump host's own `ProxyJump`/`ProxyCommand` are not followed (no nested hops).
pub fn resolve_jump(hop: &str, settings: &SshSettings) -> Target {
    let (user, host, port) = split_host(hop);
    let params = query_config(&settings.config_files, host);
    Target {
        user: user
            .map(str::to_string)
            .or_else(|| params.user.clone())
            .unwrap_or_else(|| "root".to_string()),
        hostname: params.host_name.clone().unwrap_or_else(|| host.to_string()),
        port: port.or(params.port).unwrap_or(22),
        identity_files: identity_files(settings, &params),
        jumps: Vec::new(),
        proxy_command: None,
        host_keys: host_keys(settings, &params),
    }
}

fn identity_files(settings: &SshSettings, params: &ConfigParams) -> Vec<PathBuf> {
    let mut files = settings.keys.clone();
    files.extend(params.identity_files.iter().cloned());
    files
}

/// OpenSSH's host key settings for one host. An explicit `known_hosts` (tests, the test bed)
/// is the only file consulted; otherwise every `UserKnownHostsFile` (default
/// `~/.ssh/known_hosts`) and `GlobalKnownHostsFile` (default `/etc/ssh/ssh_known_hosts{,2}`).
fn host_keys(settings: &SshSettings, params: &ConfigParams) -> HostKeys {
    let (user_files, global_files) = match &settings.known_hosts {
        Some(file) => (vec![file.clone()], Vec::new()),
        None if params.user_known_hosts.is_empty() => (
            vec![home_dir().join(".ssh").join("known_hosts")],
            params
                .global_known_hosts
                .clone()
                .unwrap_or_else(HostKeys::default_global_files),
        ),
        None => (
            params.user_known_hosts.clone(),
            params
                .global_known_hosts
                .clone()
                .unwrap_or_else(HostKeys::default_global_files),
        ),
    };
    HostKeys {
        user_files,
        global_files,
        alias: params.host_key_alias.clone(),
        strict: params.strict_host_key_checking,
    }
}

/// What OpenSSH's config files say about one host.
#[derive(Default)]
struct ConfigParams {
    host_name: Option<String>,
    user: Option<String>,
    port: Option<u16>,
    identity_files: Vec<PathBuf>,
    jump: Option<String>,
    proxy_command: Option<String>,
    /// `UserKnownHostsFile`: every file named.
    user_known_hosts: Vec<PathBuf>,
    /// `GlobalKnownHostsFile`, when set.
    global_known_hosts: Option<Vec<PathBuf>>,
    host_key_alias: Option<String>,
    /// `StrictHostKeyChecking yes` or `ask`.
    strict_host_key_checking: bool,
    strict_set: bool,
}

/// Reads each file in order; for every setting the first file that sets it wins, as in OpenSSH.
/// A file that is missing or does not parse is skipped.
fn query_config(files: &[PathBuf], host: &str) -> ConfigParams {
    let mut merged = ConfigParams::default();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
        let Ok(config) = SshConfig::default()
            .home_dir(home_dir())
            .parse(&mut text.as_bytes(), rules)
        else {
            tracing::warn!(file = %file.display(), "skipping an OpenSSH config file that does not parse");
            continue;
        };
        let params = config.query(host);
        let unsupported = |field: &str| {
            params
                .unsupported_fields
                .get(field)
                .map(|args| args.join(" "))
                .filter(|value| !value.is_empty() && !value.eq_ignore_ascii_case("none"))
        };
        merged.host_name = merged.host_name.or_else(|| params.host_name.clone());
        merged.user = merged.user.or_else(|| params.user.clone());
        merged.port = merged.port.or(params.port);
        if merged.identity_files.is_empty() {
            merged.identity_files = params
                .identity_file
                .clone()
                .unwrap_or_default()
                .iter()
                .map(expand_tilde)
                .collect();
        }
        merged.jump = merged.jump.or_else(|| {
            params
                .proxy_jump
                .as_ref()
                .map(|hops| hops.join(","))
                .filter(|hops| !hops.is_empty() && !hops.eq_ignore_ascii_case("none"))
        });
        merged.proxy_command = merged.proxy_command.or_else(|| unsupported("proxycommand"));
        let files = |field: &str| {
            unsupported(field).map(|value| {
                value
                    .split_whitespace()
                    .map(expand_tilde)
                    .collect::<Vec<_>>()
            })
        };
        if merged.user_known_hosts.is_empty() {
            merged.user_known_hosts = files("userknownhostsfile").unwrap_or_default();
        }
        merged.global_known_hosts = merged
            .global_known_hosts
            .or_else(|| files("globalknownhostsfile"));
        merged.host_key_alias = merged
            .host_key_alias
            .or_else(|| unsupported("hostkeyalias"));
        if !merged.strict_set
            && let Some(value) = params.unsupported_fields.get("stricthostkeychecking")
        {
            merged.strict_set = true;
            merged.strict_host_key_checking = value
                .first()
                .is_some_and(|value| ["yes", "ask"].contains(&value.to_ascii_lowercase().as_str()));
        }
    }
    merged
}

/// The invoking user's home directory.
pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
}

fn expand_tilde(path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    match path.to_str().and_then(|text| text.strip_prefix("~/")) {
        Some(rest) => home_dir().join(rest),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(config_files: Vec<PathBuf>) -> SshSettings {
        SshSettings {
            user: "root".into(),
            port: 22,
            keys: Vec::new(),
            key_data: Vec::new(),
            keys_only: false,
            agent: None,
            jump: None,
            proxy_command: None,
            config_files,
            known_hosts: None,
            connect_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(5),
            docker_socket: "/var/run/docker.sock".into(),
        }
    }

    #[test]
    fn host_entries_with_user_and_port() {
        assert_eq!(split_host("10.0.0.1"), (None, "10.0.0.1", None));
        assert_eq!(
            split_host("deploy@web-1:2222"),
            (Some("deploy"), "web-1", Some(2222))
        );
        assert_eq!(
            split_host("[2001:db8::1]:22"),
            (None, "2001:db8::1", Some(22))
        );
        assert_eq!(split_host("2001:db8::1"), (None, "2001:db8::1", None));
    }

    #[test]
    fn openssh_config_supplies_hostname_identity_jump_and_known_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "Host web-*\n  HostName 10.9.9.9\n  User ignored\n  Port 2200\n  IdentityFile /keys/web\n  \
             ProxyJump bastion,deploy@inner:2022\n  UserKnownHostsFile /kh/web\n\n\
             Host bastion\n  HostName 10.8.8.8\n  User jumper\n  Port 2201\n\n\
             Host *\n  IdentityFile /keys/default\n",
        )
        .unwrap();
        let settings = settings(vec![dir.path().join("missing"), config]);
        let target = resolve("web-1", &settings);
        assert_eq!(target.hostname, "10.9.9.9");
        assert_eq!(target.user, "root", "Kamal always passes its user");
        assert_eq!(target.port, 22, "Kamal always passes its port");
        assert_eq!(
            target.identity_files,
            vec![PathBuf::from("/keys/web"), PathBuf::from("/keys/default")]
        );
        assert_eq!(target.jumps, vec!["bastion", "deploy@inner:2022"]);
        assert_eq!(target.host_keys.user_files, vec![PathBuf::from("/kh/web")]);

        let jump = resolve_jump("bastion", &settings);
        assert_eq!(
            (jump.user.as_str(), jump.hostname.as_str(), jump.port),
            ("jumper", "10.8.8.8", 2201),
            "a jump host takes its user and port from the config, as ssh -J does"
        );
        assert!(jump.jumps.is_empty());
        let explicit = resolve_jump("admin@bastion:22", &settings);
        assert_eq!((explicit.user.as_str(), explicit.port), ("admin", 22));

        let plain = resolve("db@other:2022", &settings);
        assert_eq!(
            (plain.user.as_str(), plain.hostname.as_str(), plain.port),
            ("db", "other", 2022)
        );
        assert!(plain.jumps.is_empty());
        assert_eq!(plain.identity_files, vec![PathBuf::from("/keys/default")]);
    }

    /// The host key options OpenSSH reads from its config reach the check (#15).
    #[test]
    fn host_key_options_come_from_the_config_files() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "Host pinned\n  UserKnownHostsFile /kh/first /kh/second\n  \
             GlobalKnownHostsFile /kh/global\n  HostKeyAlias pinned-alias\n  \
             StrictHostKeyChecking yes\n\n\
             Host relaxed\n  StrictHostKeyChecking accept-new\n",
        )
        .unwrap();
        let settings = settings(vec![config]);
        assert_eq!(
            resolve("pinned", &settings).host_keys,
            HostKeys {
                user_files: vec![PathBuf::from("/kh/first"), PathBuf::from("/kh/second")],
                global_files: vec![PathBuf::from("/kh/global")],
                alias: Some("pinned-alias".into()),
                strict: true,
            }
        );
        let relaxed = resolve("relaxed", &settings).host_keys;
        assert!(!relaxed.strict);
        assert_eq!(relaxed.global_files, HostKeys::default_global_files());
        assert_eq!(
            relaxed.user_files,
            vec![home_dir().join(".ssh").join("known_hosts")]
        );
    }

    #[test]
    fn deploy_yml_wins_over_the_config_files() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        std::fs::write(
            &config,
            "Host h\n  ProxyCommand nc %h %p\n  UserKnownHostsFile /kh/cfg\n\n\
             Host j\n  ProxyJump cfg-jump\n  ProxyCommand nc %h %p\n",
        )
        .unwrap();
        let mut settings = settings(vec![config]);
        assert_eq!(
            resolve("h", &settings).proxy_command.as_deref(),
            Some("nc %h %p")
        );
        assert_eq!(
            resolve("h", &settings).host_keys.user_files,
            vec![PathBuf::from("/kh/cfg")]
        );
        let both = resolve("j", &settings);
        assert_eq!((both.jumps.len(), both.proxy_command), (1, None));
        settings.proxy_command = Some("connect %h %p".into());
        settings.known_hosts = Some(PathBuf::from("/kh/mine"));
        let target = resolve("h", &settings);
        assert!(
            target.jumps.is_empty(),
            "deploy.yml's proxy_command replaces ProxyJump"
        );
        assert_eq!(target.proxy_command.as_deref(), Some("connect %h %p"));
        assert_eq!(target.host_keys, HostKeys::file("/kh/mine"));
        settings.jump = Some("bastion,ops@second".into());
        let target = resolve("h", &settings);
        assert_eq!(target.jumps, vec!["root@bastion", "ops@second"]);
        assert_eq!(
            target.proxy_command, None,
            "Kamal prefers proxy to proxy_command"
        );
    }

    #[test]
    fn settings_from_deploy_yml() {
        let ssh = Ssh {
            user: "deploy".into(),
            port: 2222,
            proxy: Some("bastion".into()),
            keys: vec!["~/.ssh/deploy_key".into()],
            keys_only: true,
            config: SshConfigFiles::Files(vec!["~/custom_config".into()]),
            ..Ssh::default()
        };
        let gantry = GantrySettings {
            docker_socket: Some("/run/user/1000/docker.sock".into()),
            ..GantrySettings::default()
        };
        let settings =
            SshSettings::from_config(&ssh, &gantry, vec![Secret::new("private-key-material")]);
        let home = home_dir();
        assert_eq!((settings.user.as_str(), settings.port), ("deploy", 2222));
        assert_eq!(settings.keys, vec![home.join(".ssh/deploy_key")]);
        assert_eq!(settings.config_files, vec![home.join("custom_config")]);
        assert_eq!(settings.docker_socket, "/run/user/1000/docker.sock");
        assert!(settings.keys_only);
        assert_eq!(settings.agent, None, "keys_only: no agent");
        assert!(!format!("{settings:?}").contains("private-key-material"));
        let defaults =
            SshSettings::from_config(&Ssh::default(), &GantrySettings::default(), vec![]);
        assert_eq!(defaults.docker_socket, "/var/run/docker.sock");
        assert_eq!(defaults.config_files.len(), 2);
        assert!(
            SshSettings::from_config(
                &Ssh {
                    config: SshConfigFiles::None,
                    ..Ssh::default()
                },
                &GantrySettings::default(),
                vec![]
            )
            .config_files
            .is_empty()
        );
    }
}
