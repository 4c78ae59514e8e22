//! Actions: one step on one host, each exactly one small [`Host`](crate::host::Host) sequence.
//!
//! Every action that changes something knows how to undo itself ([`Action::compensation`]),
//! decided here at plan time from what was observed, so the executor never has to work out what
//! "undo" means. Actions that cannot be undone (removals) are scheduled after everything that
//! could still fail on their host, and are best effort.

use std::fmt;
use std::time::Duration;

use crate::desired::{DesiredDirectory, DesiredFile};
use crate::diff::ContainerRef;
use crate::kamal_proxy::ProxyRoute;
use crate::model::{ContainerSpec, DirectoryMerge, RegistryAuth};

/// One step of a plan.
#[derive(Clone, Debug)]
pub enum Action {
    CreateNetwork {
        name: String,
    },
    PullImage {
        image: String,
        auth: Option<RegistryAuth>,
    },
    WriteFile {
        file: DesiredFile,
    },
    CreateDirectory {
        path: String,
    },
    /// `mkdir -p`, then the mode and owner deploy.yml gives (an accessory's `directories:`,
    /// which may be absolute). Kept on rollback, as the data in it is.
    MakeDirectory {
        directory: DesiredDirectory,
    },
    /// Refuse an image whose `service` label is not the service's, before a container is
    /// created from it (Kamal's `validate_image` after its pull): an unlabelled image would
    /// deploy, and `prune` would never find it.
    CheckServiceLabel {
        image: String,
        service: String,
    },
    /// Create and start a container; the container is known by name until it exists.
    RunContainer {
        spec: Box<ContainerSpec>,
    },
    StartContainer {
        container: ContainerRef,
    },
    /// `docker stop`; also the undo of an app container's run, which keeps the container that
    /// failed to boot for inspection as Kamal does.
    StopContainer {
        container: ContainerTarget,
        timeout: Option<u64>,
    },
    RenameContainer {
        container: ContainerRef,
        new_name: String,
    },
    /// Stop (when running) and remove.
    RemoveContainer {
        container: ContainerTarget,
        stop_first: bool,
    },
    /// Wait until a container without a proxy route is ready: Docker's health check, or running
    /// for `readiness_delay` seconds when it has none.
    WaitReady {
        container: String,
        timeout: u64,
        readiness_delay: u64,
    },
    /// `kamal-proxy deploy`: health-gated switch of a route to a container, then drain.
    DeployRoute {
        route: Box<ProxyRoute>,
        container: ContainerTarget,
    },
    RemoveRoute {
        service: String,
    },
    /// `kamal-proxy stop`: the route answers 503 (with `message`) after draining for
    /// `drain_timeout` seconds; its target stays.
    StopRoute {
        service: String,
        drain_timeout: u64,
        message: Option<String>,
    },
    /// `kamal-proxy resume`: the route serves again.
    ResumeRoute {
        service: String,
    },
    TagImage {
        source: String,
        target: String,
    },
    RemoveImage {
        reference: String,
    },
    /// A file or directory tree in the SSH user's home; nothing to undo it with.
    RemovePath {
        path: String,
    },
    /// Kamal's asset extraction: the image's `asset_path` copied into `directory` through
    /// the short-lived container `container`.
    ExtractAssets {
        image: String,
        container: String,
        asset_path: String,
        directory: String,
    },
    /// Asset bridging: the new version's volume gets its own assets and the previous
    /// version's, the previous volume the new ones; files already there are kept.
    MergeAssets {
        merges: Vec<DirectoryMerge>,
    },
    /// Entries of `directory` named `<prefix>...` except `keep`: older versions' assets or
    /// error pages, removed once the old containers stopped.
    RemoveOlderVersions {
        directory: String,
        prefix: String,
        keep: String,
    },
    /// `boot.wait` between boot groups.
    Sleep {
        seconds: u64,
    },
    /// A project hook (`pre-app-boot`, `post-app-boot`) run on the deploying machine around one
    /// boot group, `KAMAL_HOSTS` naming the group's hosts, as Kamal runs it. Changes nothing on
    /// a host; a failure stops what depends on it.
    RunHook {
        hook: String,
        hosts: Vec<String>,
    },
    /// A canary's new containers watched for `seconds`: each must stay up and, when it has a
    /// health check, healthy the whole time (a crash or restart loop fails it). Changes
    /// nothing; a failure rolls the canaries back.
    WatchCanary {
        containers: Vec<String>,
        seconds: u64,
    },
    /// `--canary-check`: a command run on the deploying machine once the canaries were
    /// watched, `KAMAL_HOSTS` naming them; a non-zero exit rolls the canaries back.
    CheckCanary {
        command: String,
        hosts: Vec<String>,
    },
}

/// A container an action works on: one observed, or one an earlier action creates by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerTarget {
    Existing(ContainerRef),
    Named(String),
}

impl ContainerTarget {
    /// What to hand the Docker API: the id when known, else the name.
    pub fn id_or_name(&self) -> &str {
        match self {
            ContainerTarget::Existing(container) => &container.id,
            ContainerTarget::Named(name) => name,
        }
    }

    /// The name, for people.
    pub fn name(&self) -> &str {
        match self {
            ContainerTarget::Existing(container) => &container.name,
            ContainerTarget::Named(name) => name,
        }
    }
}

impl Action {
    /// A stable word for the kind of action (JSON `kind`, DOT labels).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateNetwork { .. } => "create_network",
            Action::PullImage { .. } => "pull_image",
            Action::CheckServiceLabel { .. } => "check_service_label",
            Action::WriteFile { .. } => "write_file",
            Action::CreateDirectory { .. } => "create_directory",
            Action::MakeDirectory { .. } => "make_directory",
            Action::RunContainer { .. } => "run_container",
            Action::StartContainer { .. } => "start_container",
            Action::StopContainer { .. } => "stop_container",
            Action::RenameContainer { .. } => "rename_container",
            Action::RemoveContainer { .. } => "remove_container",
            Action::WaitReady { .. } => "wait_ready",
            Action::DeployRoute { .. } => "deploy_route",
            Action::RemoveRoute { .. } => "remove_route",
            Action::StopRoute { .. } => "stop_route",
            Action::ResumeRoute { .. } => "resume_route",
            Action::TagImage { .. } => "tag_image",
            Action::RemoveImage { .. } => "remove_image",
            Action::RemovePath { .. } => "remove_path",
            Action::ExtractAssets { .. } => "extract_assets",
            Action::MergeAssets { .. } => "merge_assets",
            Action::RemoveOlderVersions { .. } => "remove_older_versions",
            Action::Sleep { .. } => "sleep",
            Action::RunHook { .. } => "run_hook",
            Action::WatchCanary { .. } => "watch_canary",
            Action::CheckCanary { .. } => "check_canary",
        }
    }

    /// The longest this action may take before it counts as failed; a hung host never hangs a
    /// run (kamal#1587).
    pub fn timeout(&self) -> Duration {
        let seconds = match self {
            Action::PullImage { .. } => 600,
            Action::ExtractAssets { .. } | Action::MergeAssets { .. } => 300,
            Action::RunContainer { .. } | Action::StartContainer { .. } => 120,
            Action::StopContainer { timeout, .. } => timeout.unwrap_or(10) + 30,
            Action::RemoveContainer { .. } => 60,
            Action::WaitReady { timeout, .. } => timeout + 15,
            Action::DeployRoute { route, .. } => route.deploy_timeout + route.drain_timeout + 30,
            Action::Sleep { seconds } => seconds + 5,
            Action::RunHook { .. } | Action::CheckCanary { .. } => 600,
            Action::WatchCanary { seconds, .. } => seconds + 60,
            Action::StopRoute { drain_timeout, .. } => drain_timeout + 30,
            _ => 60,
        };
        Duration::from_secs(seconds)
    }

    /// True when the action changes nothing a rollback would need to restore (waits, pulls,
    /// sleeps): it needs no compensation.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Action::WaitReady { .. }
                | Action::Sleep { .. }
                | Action::RunHook { .. }
                | Action::WatchCanary { .. }
                | Action::CheckCanary { .. }
                | Action::PullImage { .. }
                | Action::CheckServiceLabel { .. }
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::CreateNetwork { name } => write!(f, "create network {name}"),
            Action::PullImage { image, .. } => write!(f, "pull {image}"),
            Action::CheckServiceLabel { image, service } => {
                write!(f, "check that {image} is labelled service={service}")
            }
            Action::WriteFile { file } => {
                write!(f, "write {} ({:04o}", file.path, file.mode)?;
                if let Some(owner) = &file.owner {
                    write!(f, ", owner {owner}")?;
                }
                f.write_str(")")
            }
            Action::CreateDirectory { path } => write!(f, "create directory {path}"),
            Action::MakeDirectory { directory } => {
                write!(f, "create directory {}", directory.path)?;
                match (directory.mode, &directory.owner) {
                    (Some(mode), Some(owner)) => write!(f, " ({mode:04o}, owner {owner})"),
                    (Some(mode), None) => write!(f, " ({mode:04o})"),
                    (None, Some(owner)) => write!(f, " (owner {owner})"),
                    (None, None) => Ok(()),
                }
            }
            Action::RunContainer { spec } => write!(f, "run {} ({})", spec.name, spec.image),
            Action::StartContainer { container } => write!(f, "start {}", container.name),
            Action::StopContainer { container, .. } => write!(f, "stop {}", container.name()),
            Action::RenameContainer {
                container,
                new_name,
            } => write!(f, "rename {} to {new_name}", container.name),
            Action::RemoveContainer {
                container,
                stop_first,
            } => {
                if *stop_first {
                    write!(f, "stop and remove {}", container.name())
                } else {
                    write!(f, "remove {}", container.name())
                }
            }
            Action::WaitReady { container, .. } => write!(f, "wait until {container} is ready"),
            Action::DeployRoute { route, container } => {
                write!(f, "switch route {} to {}", route.service, container.name())
            }
            Action::RemoveRoute { service } => write!(f, "remove route {service}"),
            Action::StopRoute {
                service, message, ..
            } => match message {
                Some(message) => write!(f, "stop route {service} (maintenance: {message:?})"),
                None => write!(f, "stop route {service} (maintenance)"),
            },
            Action::ResumeRoute { service } => write!(f, "resume route {service}"),
            Action::TagImage { source, target } => write!(f, "tag {source} as {target}"),
            Action::RemoveImage { reference } => write!(f, "remove image {reference}"),
            Action::RemovePath { path } => write!(f, "remove {path}"),
            Action::ExtractAssets {
                image,
                asset_path,
                directory,
                ..
            } => write!(f, "extract {asset_path} of {image} to {directory}"),
            Action::MergeAssets { merges } => {
                // The first merge in full; the exchanges with the previous version by the last
                // two parts of their paths (`extracted/web-v1 into volumes/web-v2`).
                let short = |path: &str| {
                    let parts: Vec<&str> = path.rsplitn(3, '/').collect();
                    match parts.as_slice() {
                        [name, parent, _] => format!("{parent}/{name}"),
                        _ => path.to_string(),
                    }
                };
                let mut merges = merges.iter();
                if let Some(first) = merges.next() {
                    write!(
                        f,
                        "merge assets {} into {}",
                        first.source, first.destination
                    )?;
                }
                let rest: Vec<String> = merges
                    .map(|merge| {
                        format!(
                            "{} into {}",
                            short(&merge.source),
                            short(&merge.destination)
                        )
                    })
                    .collect();
                if !rest.is_empty() {
                    write!(f, ", then {} when present", rest.join(", "))?;
                }
                Ok(())
            }
            Action::RemoveOlderVersions {
                directory,
                prefix,
                keep,
            } => write!(f, "remove {directory}/{prefix}* except {keep}"),
            Action::Sleep { seconds } => write!(f, "wait {seconds}s before the next boot group"),
            Action::RunHook { hook, hosts } => {
                write!(f, "run hook {hook} (KAMAL_HOSTS={})", hosts.join(","))
            }
            Action::WatchCanary {
                containers,
                seconds,
            } => write!(f, "watch canary {} for {seconds}s", containers.join(", ")),
            Action::CheckCanary { command, hosts } => write!(
                f,
                "run canary check `{command}` (KAMAL_HOSTS={})",
                hosts.join(",")
            ),
        }
    }
}
