//! What every command that talks to hosts does first: load the configuration and secrets,
//! pick the version, build the desired state (every configuration problem surfaces here,
//! before any connection), then connect to the hosts in parallel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use miette::{IntoDiagnostic, miette};

use super::GlobalArgs;
use crate::config::{Loaded, Secrets};
use crate::desired::{Desired, Selection};
use crate::diff::DiffOptions;
use crate::host::ssh::{SshSettings, connect_all};
use crate::host::{Host, HostError};
use crate::pipeline::{Connections, PlanRequest};
use crate::secret::Redactor;

/// Which hosts, roles and version a command works on, as Kamal's global flags.
#[derive(Clone, Debug, Default, Args)]
pub struct TargetArgs {
    /// The version to deploy (default: $VERSION, else git HEAD).
    #[arg(long = "version", value_name = "VERSION")]
    pub version: Option<String>,
    /// Only these hosts (comma-separated, `*` wildcards).
    #[arg(short = 'h', long = "hosts", value_delimiter = ',')]
    pub hosts: Vec<String>,
    /// Only these roles (comma-separated, `*` wildcards).
    #[arg(short = 'r', long = "roles", value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Actions at once over all hosts.
    #[arg(long, default_value_t = 10)]
    pub parallelism: usize,
}

/// Flags that change what the plan does.
#[derive(Clone, Debug, Default, Args)]
pub struct PlanFlags {
    /// Replace a kamal-proxy container whose image or options changed (interrupts traffic).
    #[arg(long)]
    pub reboot_proxy: bool,
    /// Replace accessories whose configuration changed (their data is kept).
    #[arg(long)]
    pub recreate_accessories: bool,
    /// Roll back every host when any host fails.
    #[arg(long)]
    pub atomic: bool,
}

/// Configuration, secrets and version, loaded and checked.
pub struct Prepared {
    pub loaded: Loaded,
    pub secrets: Secrets,
    pub redactor: Redactor,
    pub version: String,
    pub selection: Selection,
}

/// Whether a command deploys a version, and so must know which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionNeed {
    /// `plan`, `apply`: the version decides what changes.
    Required,
    /// `details`, `drift`, `lock`: they read what runs; without git or `--version` they still work.
    Optional,
}

/// The version placeholder of commands that only read what runs.
pub(super) const UNKNOWN_VERSION: &str = "unknown";

impl Prepared {
    /// Loads everything a plan needs, before any connection.
    pub fn load(
        global: &GlobalArgs,
        target: &TargetArgs,
        need: VersionNeed,
    ) -> Result<Prepared, miette::Report> {
        let loaded = global.load()?;
        let secrets = crate::config::load_secrets(&loaded, &global.secrets_options())?;
        let redactor = secrets.redactor();
        super::logging::redact_secrets(&redactor);
        let project_dir = std::env::current_dir().into_diagnostic()?;
        let resolved = crate::build::version::resolve(
            target.version.as_deref(),
            std::env::var("VERSION").ok().as_deref(),
            &project_dir,
            loaded.config.builder.context.is_some(),
        );
        let version = match (resolved, need) {
            (Ok(version), _) => version,
            // A version given that cannot be one is a mistake whatever the command.
            (Err(error @ crate::build::version::VersionError::Invalid { .. }), _) => {
                return Err(miette!("{error}"));
            }
            (Err(_), VersionNeed::Optional) => UNKNOWN_VERSION.to_string(),
            (Err(error), VersionNeed::Required) => return Err(miette!("{error}")),
        };
        Ok(Prepared {
            loaded,
            secrets,
            redactor,
            version,
            selection: Selection {
                hosts: target.hosts.clone(),
                roles: target.roles.clone(),
            },
        })
    }

    /// The plan request for this run.
    pub fn request<'a>(
        &'a self,
        flags: &PlanFlags,
        read_local_file: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
    ) -> PlanRequest<'a> {
        PlanRequest {
            config: &self.loaded.config,
            secrets: &self.secrets,
            version: &self.version,
            selection: &self.selection,
            diff: DiffOptions {
                reboot_proxy: flags.reboot_proxy,
                recreate_accessories: flags.recreate_accessories,
            },
            atomic: flags.atomic,
            read_local_file,
        }
    }

    /// SSH settings from deploy.yml, with `ssh.key_data` resolved.
    pub fn ssh_settings(&self) -> SshSettings {
        let config = &self.loaded.config;
        let key_data = config
            .ssh
            .key_data
            .iter()
            .filter_map(|name| self.secrets.get(name).cloned())
            .collect();
        SshSettings::from_config(&config.ssh, &config.gantry, key_data)
    }
}

/// Files named by accessories' `files:`, read relative to the current directory.
pub fn read_local_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(PathBuf::from(path)).map_err(|error| error.to_string())
}

/// Connects to every host of `desired`, in parallel. A host whose key changed stops the
/// command before anything is sent to any host: a changed key is how a man in the middle looks,
/// and going on with the other hosts would leave the fleet split between versions.
pub async fn connect(
    prepared: &Prepared,
    desired: &Desired,
) -> Result<Connections, miette::Report> {
    let hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();
    connect_hosts(prepared, &hosts).await
}

/// Connects to these hosts with deploy.yml's SSH settings, in parallel (`drift` checks hosts
/// deploy.yml no longer names); a changed host key refuses, as in [`connect`].
pub async fn connect_hosts(
    prepared: &Prepared,
    hosts: &[String],
) -> Result<Connections, miette::Report> {
    let settings = prepared.ssh_settings();
    let max = prepared.loaded.config.sshkit.max_concurrent_starts as usize;
    let results = connect_all(hosts, &settings, max).await;
    let changed: Vec<String> = results
        .iter()
        .filter_map(|(_, result)| match result {
            Err(error @ HostError::HostKeyChanged { .. }) => Some(error.to_string()),
            _ => None,
        })
        .collect();
    if !changed.is_empty() {
        return Err(miette!(
            help = "if the host was reinstalled, check its new key out of band, remove the old \
                    one (`ssh-keygen -R HOST` on the known_hosts file) and run again; otherwise \
                    someone may be intercepting the connection",
            "refusing to go on, nothing was sent to any host: {}",
            changed.join("; ")
        ));
    }
    Ok(results
        .into_iter()
        .map(|(name, result)| {
            let result = result
                .map(|host| host as Arc<dyn Host>)
                .map_err(|error| prepared.redactor.redact(&error.to_string()));
            (name, result)
        })
        .collect::<BTreeMap<_, _>>())
}

/// Connects to every host of `desired` and observes them all: what the reading commands
/// (`details`, `rollback`'s choice of version) need.
pub fn connect_and_observe(
    prepared: &Prepared,
    desired: &Desired,
) -> Result<crate::observe::Observed, miette::Report> {
    runtime()?.block_on(async {
        let connections = connect(prepared, desired).await?;
        Ok(crate::observe::observe_all(desired, &connections, observe_width(&connections)).await)
    })
}

/// How many hosts to observe at once: all of them. The connections are already open and
/// reading state costs the hosts little, so `--parallelism` bounds only the actions of `apply`.
pub fn observe_width(connections: &Connections) -> usize {
    connections.len().max(1)
}

/// Whether stdout is a terminal that wants colour (`NO_COLOR` turns it off).
pub fn color_stdout() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none()
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, miette::Report> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
}
