//! What every command that talks to hosts does first: load the configuration and secrets,
//! pick the version, build the desired state (every configuration problem surfaces here,
//! before any connection), then connect to the hosts in parallel.

use clap::Args;
use miette::{IntoDiagnostic, miette};

use super::GlobalArgs;
use crate::desired::{Desired, Selection};
use crate::diff::DiffOptions;
use crate::pipeline::Connections;
use crate::session::{Connector, SshConnector};
pub use crate::session::{PlanChoices, Prepared, observe_width, read_local_file};

/// How a command that works on hosts runs them; which hosts, roles and version are the global
/// options ([`GlobalArgs`]), accepted anywhere on the line as in Kamal.
#[derive(Clone, Debug, Default, Args)]
pub struct TargetArgs {
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

impl PlanFlags {
    /// What the flags ask of the plan.
    pub fn choices(&self) -> PlanChoices {
        PlanChoices {
            diff: DiffOptions {
                reboot_proxy: self.reboot_proxy,
                recreate_accessories: self.recreate_accessories,
            },
            atomic: self.atomic,
        }
    }
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

/// Loads everything a plan needs, before any connection: once per invocation, handed on from
/// command to command.
pub fn load(global: &GlobalArgs, need: VersionNeed) -> Result<Prepared, miette::Report> {
    let loaded = global.load()?;
    let secrets = crate::config::load_secrets(&loaded, &global.secrets_options())?;
    let redactor = secrets.redactor();
    super::logging::redact_secrets(&redactor);
    let project_dir = std::env::current_dir().into_diagnostic()?;
    let resolved = crate::build::version::resolve(
        global.version.as_deref(),
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
    let selection = Selection {
        hosts: global.hosts.clone(),
        roles: global.roles.clone(),
    };
    let selection = if global.primary {
        selection.primary_only(&loaded.config)
    } else {
        selection
    };
    Ok(Prepared {
        loaded,
        secrets,
        redactor,
        version,
        selection,
        skip_hooks: global.skip_hooks,
    })
}

/// Connects to every host of `desired`, in parallel (the commands that only read: no lock).
pub async fn connect(
    prepared: &Prepared,
    desired: &Desired,
) -> Result<Connections, miette::Report> {
    let hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();
    connect_hosts(prepared, &hosts).await
}

/// Connects to these hosts with deploy.yml's SSH settings, in parallel (`drift` checks hosts
/// deploy.yml no longer names); a changed host key refuses ([`crate::session::ConnectError`]).
pub async fn connect_hosts(
    prepared: &Prepared,
    hosts: &[String],
) -> Result<Connections, miette::Report> {
    Ok(connector(prepared).connect(hosts).await?)
}

/// deploy.yml's way to reach the hosts.
pub fn connector(prepared: &Prepared) -> SshConnector {
    SshConnector {
        settings: prepared.ssh_settings(),
        max_concurrent_starts: prepared.loaded.config.sshkit.max_concurrent_starts as usize,
        redactor: prepared.redactor.clone(),
    }
}

/// Whether stdout is coloured (`--color`, a terminal, `NO_COLOR`).
pub fn color_stdout() -> bool {
    super::color::stdout()
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, miette::Report> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .into_diagnostic()
}
