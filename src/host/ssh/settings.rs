//! Where and how to connect: deploy.yml's `ssh:` first, then OpenSSH's config files, then
//! defaults, as Kamal (Net::SSH) resolves them.
//!
//! Kamal always passes `user` (default `root`) and `port` (default 22) to Net::SSH, so those two
//! come from deploy.yml even when `~/.ssh/config` names others; a host written `user@host:port`
//! in deploy.yml overrides both. `HostName`, `IdentityFile`, `ProxyJump`, `ProxyCommand` and
//! `UserKnownHostsFile` come from the config files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{ParseRule, SshConfig};

use crate::config::{GantrySettings, Ssh, SshConfigFiles};
use crate::secret::Secret;

/// Connection settings shared by every host of a run.
#[derive(Clone, Debug)]
pub struct SshSettings {
    pub user: String,
    pub port: u16,
    /// `ssh.keys`, `~` expanded.
    pub keys: Vec<PathBuf>,
    /// `ssh.key_data`, resolved from secrets.
    pub key_data: Vec<Secret>,
    /// Use only `keys` and `key_data`: no agent, no default identities.
    pub keys_only: bool,
    /// `ssh.proxy`: a jump host, `[user@]host[:port]`.
    pub jump: Option<String>,
    /// `ssh.proxy_command`, with `%h` and `%p`.
    pub proxy_command: Option<String>,
    /// OpenSSH config files to read, in order.
    pub config_files: Vec<PathBuf>,
    /// known_hosts to verify against and record new hosts in; `None`: the config's
    /// `UserKnownHostsFile`, else `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    pub connect_timeout: Duration,
    /// The longest any single command or API call may take.
    pub command_timeout: Duration,
    /// The Docker socket on the hosts.
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
    pub user: String,
    /// The address to connect to (`HostName`, or the host itself).
    pub hostname: String,
    pub port: u16,
    pub identity_files: Vec<PathBuf>,
    pub jump: Option<String>,
    pub proxy_command: Option<String>,
    pub known_hosts: PathBuf,
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

/// Resolves how to reach `entry` (a host as deploy.yml writes it).
pub fn resolve(entry: &str, settings: &SshSettings) -> Target {
    let (user, host, port) = split_host(entry);
    let params = query_config(&settings.config_files, host);
    let known_hosts = settings
        .known_hosts
        .clone()
        .or_else(|| params.as_ref().and_then(|p| p.known_hosts.clone()))
        .unwrap_or_else(|| home_dir().join(".ssh").join("known_hosts"));
    let mut identity_files = settings.keys.clone();
    if let Some(params) = &params {
        identity_files.extend(params.identity_files.iter().cloned());
    }
    Target {
        user: user.map_or_else(|| settings.user.clone(), str::to_string),
        hostname: params
            .as_ref()
            .and_then(|p| p.host_name.clone())
            .unwrap_or_else(|| host.to_string()),
        port: port.unwrap_or(settings.port),
        identity_files,
        jump: settings
            .jump
            .clone()
            .or_else(|| params.as_ref().and_then(|p| p.jump.clone())),
        proxy_command: settings
            .proxy_command
            .clone()
            .or_else(|| params.as_ref().and_then(|p| p.proxy_command.clone())),
        known_hosts,
    }
}

/// What OpenSSH's config says about one host.
struct ConfigParams {
    host_name: Option<String>,
    identity_files: Vec<PathBuf>,
    jump: Option<String>,
    proxy_command: Option<String>,
    known_hosts: Option<PathBuf>,
}

fn query_config(files: &[PathBuf], host: &str) -> Option<ConfigParams> {
    let mut merged: Option<ConfigParams> = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let rules = ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS;
        let Ok(config) = SshConfig::default().parse(&mut text.as_bytes(), rules) else {
            continue;
        };
        let params = config.query(host);
        let unsupported = |field: &str| {
            params
                .unsupported_fields
                .get(field)
                .map(|args| args.join(" "))
                .filter(|value| !value.is_empty() && value != "none")
        };
        let found = ConfigParams {
            host_name: params.host_name.clone(),
            identity_files: params.identity_file.clone().unwrap_or_default(),
            jump: params
                .proxy_jump
                .as_ref()
                .and_then(|jumps| jumps.first().cloned())
                .filter(|jump| jump != "none"),
            proxy_command: unsupported("proxycommand"),
            known_hosts: unsupported("userknownhostsfile")
                .and_then(|value| value.split_whitespace().next().map(expand_tilde)),
        };
        // The first file that sets a value wins, as in OpenSSH.
        merged = Some(match merged {
            None => found,
            Some(earlier) => ConfigParams {
                host_name: earlier.host_name.or(found.host_name),
                identity_files: if earlier.identity_files.is_empty() {
                    found.identity_files
                } else {
                    earlier.identity_files
                },
                jump: earlier.jump.or(found.jump),
                proxy_command: earlier.proxy_command.or(found.proxy_command),
                known_hosts: earlier.known_hosts.or(found.known_hosts),
            },
        });
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
             ProxyJump bastion\n  UserKnownHostsFile /kh/web\n\nHost *\n  IdentityFile /keys/default\n",
        )
        .unwrap();
        let target = resolve("web-1", &settings(vec![config]));
        assert_eq!(target.hostname, "10.9.9.9");
        assert_eq!(target.user, "root", "Kamal always passes its user");
        assert_eq!(target.port, 22, "Kamal always passes its port");
        assert!(target.identity_files.contains(&PathBuf::from("/keys/web")));
        assert_eq!(target.jump.as_deref(), Some("bastion"));
        assert_eq!(target.known_hosts, PathBuf::from("/kh/web"));
        let plain = resolve("db@other:2022", &settings(Vec::new()));
        assert_eq!(
            (plain.user.as_str(), plain.hostname.as_str(), plain.port),
            ("db", "other", 2022)
        );
    }
}
