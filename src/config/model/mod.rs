//! The resolved configuration: what the rest of gantry reads.
//!
//! These types are the *output* of loading (ERB, YAML, destination merge, validation, Kamal's
//! defaults and inheritance rules all applied), not a mirror of the YAML. A role already carries
//! its effective env, logging, labels and proxy (root merged with the role's own), so no later
//! stage works those rules out again. Secret *values* are not here: [`Env`] and [`Registry`]
//! name secrets, and [`crate::config::secrets::Secrets`] holds the values, loaded only by the
//! commands that need them.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::model::{DockerOptionValue, DockerOptions};
pub use canary::{
    Canary, CanaryHosts, DEFAULT_CANARY_WAIT_SECONDS, parse_wait as parse_canary_wait,
};
pub use proxy::{Buffering, Proxy, ProxyHealthcheck, ProxyLogging, ProxyRun, Ssl};

mod canary;
mod proxy;

/// One deploy.yml (and destination file), loaded and checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    /// `service:`; the prefix of every container name and the `service` label.
    pub service: String,
    /// `-d/--destination`, when given.
    pub destination: Option<String>,
    /// `image:` without the registry (`user/app`).
    pub image: String,
    pub registry: Registry,
    /// Roles in Kamal's order: the primary role first, then the others by name.
    pub roles: Vec<Role>,
    pub primary_role: String,
    pub allow_empty_roles: bool,
    pub require_destination: bool,
    /// Accessories in the order deploy.yml lists them.
    pub accessories: Vec<Accessory>,
    /// The root `proxy:` section; roles hold their effective copy.
    pub proxy: Option<Proxy>,
    /// Boot-time options of the kamal-proxy container (`proxy.run`), shared by every app on a host.
    pub proxy_run: ProxyRun,
    /// The hosts whose roles (their run merged over the root one) or accessories give another
    /// `proxy.run` than the root one: [`Config::proxy_run_for`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub host_proxy_runs: BTreeMap<String, ProxyRun>,
    /// The root `logging:`; accessories use it as it is, roles merge their own over it.
    pub logging: Logging,
    /// `env.tags`: extra env for hosts that carry the tag.
    pub env_tags: BTreeMap<String, Env>,
    pub builder: Builder,
    pub ssh: Ssh,
    pub sshkit: Sshkit,
    pub boot: Boot,
    pub aliases: BTreeMap<String, String>,
    pub hooks_path: String,
    pub hooks_output: HooksOutput,
    pub secrets_path: String,
    pub error_pages_path: Option<String>,
    /// The pages in `error_pages_path` that Kamal uploads (`4??.html`, `5??.html`), as paths
    /// relative to the project, sorted; found when the configuration loads. Not part of what
    /// `gantry config` shows: it is what the directory holds, not what deploy.yml says.
    #[serde(skip)]
    pub error_pages: Vec<String>,
    /// Stopped containers (and their images) kept for rollback; at least 1.
    pub retain_containers: u32,
    pub minimum_version: Option<String>,
    /// Seconds; readiness wait for non-proxy roles without a health check.
    pub readiness_delay: u64,
    /// Seconds; kamal-proxy's `--deploy-timeout`, and the health wait for non-proxy roles.
    pub deploy_timeout: u64,
    /// Seconds; kamal-proxy's `--drain-timeout`, and `docker stop -t` for non-proxy roles.
    pub drain_timeout: u64,
    /// `output:` (Kamal 2.12): where Kamal ships its own logs. Kept for `gantry config`.
    pub output: Option<BTreeMap<String, serde_json::Value>>,
    /// gantry's own settings, from the `x-gantry:` extension key.
    pub gantry: GantrySettings,
}

/// A role (`servers.<name>`), with root settings already merged in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Role {
    pub name: String,
    pub hosts: Vec<RoleHost>,
    /// `cmd:`, as written; Docker runs it through the image's entrypoint, split like a shell would.
    pub cmd: Option<String>,
    /// Docker options (`options:`), with `restart` taken out into `restart_policy`.
    pub options: DockerOptions,
    /// `no`, `always`, `unless-stopped` (default) or `on-failure[:N]`.
    pub restart_policy: String,
    /// Root labels, then the role's own.
    pub labels: BTreeMap<String, String>,
    /// Root env, then the role's own (tags are per host: see [`Config::env_for`]).
    pub env: Env,
    /// Root logging deep-merged with the role's.
    pub logging: Logging,
    /// The effective proxy settings, or `None` when this role runs without the proxy.
    pub proxy: Option<Proxy>,
    pub asset_path: Option<String>,
    /// Root `volumes:`; Kamal has no per-role volumes.
    pub volumes: Vec<String>,
    /// Seconds for `docker stop -t`; `None` is Docker's default (10 s) for proxy roles.
    pub stop_timeout: Option<u64>,
}

/// A host of a role and its tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleHost {
    pub host: String,
    pub tags: Vec<String>,
}

/// Environment variables: clear values and the names of secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Env {
    pub clear: BTreeMap<String, String>,
    /// In the order given, without duplicates.
    pub secrets: Vec<SecretEnv>,
}

/// One `env.secret` entry: `NAME`, or `NAME:SECRET_KEY` to take the value of another secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecretEnv {
    /// The variable's name inside the container.
    pub name: String,
    /// The key to look up in `.kamal/secrets`.
    pub key: String,
}

/// `logging:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: BTreeMap<String, String>,
}

/// A value given either literally or as the name of a secret (`password: [KAMAL_REGISTRY_PASSWORD]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueOrSecret {
    Value(String),
    Secret(String),
}

/// `registry:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Registry {
    /// `None`: Docker Hub.
    pub server: Option<String>,
    pub username: Option<ValueOrSecret>,
    pub password: Option<ValueOrSecret>,
}

impl Registry {
    /// A `localhost:<port>` server: Kamal's local registry mode (Kamal's `local?` matches
    /// `^localhost:`; a bare `localhost` is an ordinary registry to it).
    pub fn is_local(&self) -> bool {
        self.server
            .as_deref()
            .is_some_and(|server| server.starts_with("localhost:"))
    }

    /// The port of the local registry on the deploying machine, and on the hosts while they pull
    /// through the SSH connection (`localhost:5555` → 5555).
    pub fn local_port(&self) -> Option<u16> {
        let server = self.server.as_deref().filter(|_| self.is_local())?;
        server.rsplit(':').next()?.parse().ok()
    }
}

/// `accessories.<name>`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Accessory {
    /// The key under `accessories:`.
    pub name: String,
    /// Container name and `service` label: `service:` or `<service>-<name>`.
    pub service: String,
    /// The full image reference, with the accessory's registry prefixed when it has one.
    pub image: String,
    pub registry: Option<Registry>,
    /// Resolved from `host`, `hosts`, `role`, `roles`, `tag` or `tags`.
    pub hosts: Vec<String>,
    pub cmd: Option<String>,
    /// `--publish` arguments (`3306` becomes `3306:3306`).
    pub ports: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub options: DockerOptions,
    pub restart_policy: String,
    pub env: Env,
    pub files: Vec<AccessoryMount>,
    pub directories: Vec<AccessoryMount>,
    pub volumes: Vec<String>,
    pub network: String,
    pub proxy: Option<Proxy>,
}

/// One `files:` or `directories:` entry of an accessory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessoryMount {
    /// Local path (files) or a path under `~/<accessory service>/` (directories).
    pub local: String,
    /// Path inside the container.
    pub remote: String,
    pub mode: Option<String>,
    pub owner: Option<String>,
    /// Mount options (`ro`, `z`).
    pub options: Option<String>,
}

/// `builder:` (local side only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Builder {
    pub arch: Vec<String>,
    pub remote: Option<String>,
    pub local: Option<bool>,
    pub context: Option<String>,
    pub dockerfile: Option<String>,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
    pub secrets: Vec<String>,
    pub ssh: Option<String>,
    pub driver: Option<String>,
    pub cache: Option<BuilderCache>,
    pub pack: Option<BuilderPack>,
    pub provenance: Option<String>,
    pub sbom: Option<String>,
}

/// `builder.cache`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuilderCache {
    pub kind: String,
    pub options: Option<String>,
    pub image: Option<String>,
}

/// `builder.pack`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuilderPack {
    pub builder: String,
    pub buildpacks: Vec<String>,
}

/// `ssh:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ssh {
    pub user: String,
    pub port: u16,
    /// A jump host, `host` or `user@host` (`root@` when no user is given).
    pub proxy: Option<String>,
    pub proxy_command: Option<String>,
    pub log_level: Option<String>,
    pub keys_only: bool,
    pub keys: Vec<String>,
    /// Names of secrets holding private keys.
    pub key_data: Vec<String>,
    pub config: SshConfigFiles,
    pub forward_agent: bool,
}

impl Default for Ssh {
    fn default() -> Self {
        Ssh {
            user: "root".into(),
            port: 22,
            proxy: None,
            proxy_command: None,
            log_level: None,
            keys_only: false,
            keys: Vec::new(),
            key_data: Vec::new(),
            config: SshConfigFiles::Default,
            forward_agent: false,
        }
    }
}

/// `ssh.config`: which OpenSSH config files to read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SshConfigFiles {
    /// `~/.ssh/config` and `/etc/ssh/ssh_config` (`true`, the default).
    Default,
    /// None at all (`false`).
    None,
    /// These files.
    Files(Vec<String>),
}

/// `sshkit:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sshkit {
    pub max_concurrent_starts: u32,
    pub pool_idle_timeout: u64,
    pub dns_retries: u32,
}

impl Default for Sshkit {
    fn default() -> Self {
        Sshkit {
            max_concurrent_starts: 30,
            pool_idle_timeout: 900,
            dns_retries: 3,
        }
    }
}

/// `boot:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Boot {
    pub limit: Option<BootLimit>,
    /// Seconds between boot groups.
    pub wait: Option<u64>,
    pub parallel_roles: bool,
}

/// `boot.limit`: a number of hosts, or a percentage of all hosts (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BootLimit {
    Hosts(u32),
    Percent(u32),
}

impl BootLimit {
    /// How many hosts boot at once, out of `total`.
    pub fn hosts_at_once(self, total: usize) -> usize {
        match self {
            BootLimit::Hosts(count) => (count as usize).max(1),
            BootLimit::Percent(percent) => (total.saturating_mul(percent as usize) / 100).max(1),
        }
    }
}

/// `hooks_output:`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HooksOutput {
    /// `quiet` or `verbose` for every hook; `None` follows `-v`/`-q`.
    pub default: Option<String>,
    /// Per-hook settings.
    pub per_hook: BTreeMap<String, String>,
}

/// `x-gantry:`: settings Kamal ignores.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GantrySettings {
    /// Resources `gantry drift` does not report (`host/resource` patterns).
    pub drift_ignore: Vec<String>,
    /// The Docker socket on the hosts; `/var/run/docker.sock` when not set (rootless Docker
    /// uses `/run/user/<uid>/docker.sock`).
    pub docker_socket: Option<String>,
    /// `canary:`: the canary rollout `deploy` and `apply` make by default (left out of
    /// `gantry config` when not set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
}

impl Config {
    /// The `proxy.run` kamal-proxy boots with on `host` (Kamal's `proxy_run(host)`): its roles'
    /// or accessories', else the root one (not configured: the host's boot files).
    pub fn proxy_run_for(&self, host: &str) -> &ProxyRun {
        self.host_proxy_runs.get(host).unwrap_or(&self.proxy_run)
    }

    /// `<service>` or `<service>-<destination>`: the name of the app directory, lock and audit log.
    pub fn service_with_destination(&self) -> String {
        match &self.destination {
            Some(destination) => format!("{}-{}", self.service, destination),
            None => self.service.clone(),
        }
    }

    /// The role with this name.
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.iter().find(|role| role.name == name)
    }

    /// `<registry>/<image>`, or just the image on Docker Hub.
    pub fn repository(&self) -> String {
        match &self.registry.server {
            Some(server) => format!("{}/{}", server, self.image),
            None => self.image.clone(),
        }
    }

    /// Every host that runs an app role or an accessory, each once, in first-seen order.
    pub fn all_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        let role_hosts = self
            .roles
            .iter()
            .flat_map(|role| role.hosts.iter().map(|h| &h.host));
        let accessory_hosts = self.accessories.iter().flat_map(|acc| acc.hosts.iter());
        for host in role_hosts.chain(accessory_hosts) {
            if !hosts.contains(host) {
                hosts.push(host.clone());
            }
        }
        hosts
    }

    /// The first host of the primary role: where Kamal keeps the deploy lock.
    pub fn primary_host(&self) -> Option<&str> {
        self.role(&self.primary_role)
            .and_then(|role| role.hosts.first())
            .map(|host| host.host.as_str())
    }

    /// The env a role's container gets on one host: the role's env, then each tag's, in the
    /// order the host lists its tags (clear values override, secrets accumulate).
    pub fn env_for(&self, role: &Role, host: &RoleHost) -> Env {
        let mut env = role.env.clone();
        for tag in &host.tags {
            if let Some(tag_env) = self.env_tags.get(tag) {
                env.clear.extend(tag_env.clear.clone());
                for secret in &tag_env.secrets {
                    if let Some(existing) = env.secrets.iter_mut().find(|s| s.name == secret.name) {
                        *existing = secret.clone();
                    } else {
                        env.secrets.push(secret.clone());
                    }
                }
            }
        }
        env
    }
}
