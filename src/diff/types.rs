//! The values the diff produces.

use serde::Serialize;

use crate::desired::{DesiredDirectory, DesiredFile, Readiness};
use crate::kamal_proxy::ProxyRoute;
use crate::model::{ContainerSpec, DirectoryMerge, RegistryAuth};
use crate::observe::LockInfo;

/// Every host's changes, in the configuration's host order.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub hosts: Vec<HostChanges>,
}

impl Changes {
    /// True when no host needs anything (unreachable hosts aside).
    pub fn is_empty(&self) -> bool {
        self.hosts.iter().all(|host| host.changes.is_empty())
    }

    /// What forbids applying this plan anywhere, by host: checked before anything changes.
    pub fn refusals(&self) -> impl Iterator<Item = (&str, &Note)> {
        self.hosts.iter().flat_map(|host| {
            host.notes
                .iter()
                .filter(|note| note.refuses_apply())
                .map(|note| (host.host.as_str(), note))
        })
    }

    /// Hosts that could not be observed.
    pub fn unreachable(&self) -> impl Iterator<Item = (&str, &str)> {
        self.hosts.iter().filter_map(|host| match &host.reach {
            Reach::Unreachable { reason } => Some((host.host.as_str(), reason.as_str())),
            Reach::Reachable => None,
        })
    }
}

/// One host's changes.
#[derive(Clone, Debug)]
pub struct HostChanges {
    pub host: String,
    pub reach: Reach,
    pub changes: Vec<Change>,
    /// Differences gantry reports but leaves alone (an outdated proxy without `--reboot-proxy`,
    /// an accessory that is no longer configured, a held lock).
    pub notes: Vec<Note>,
}

/// Whether the host answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Reach {
    Reachable,
    Unreachable { reason: String },
}

/// One resource that must change.
#[derive(Clone, Debug)]
pub struct Change {
    pub resource: Resource,
    pub kind: ChangeKind,
    pub reason: Reason,
    /// Field-level differences (empty for creations and removals).
    pub fields: Vec<FieldChange>,
    pub work: Work,
}

/// What kind of change, in Terraform's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// `+`: the resource does not exist yet.
    Create,
    /// `~`: changed in place (started, stopped, re-pointed, rewritten).
    Update,
    /// `-/+`: a new resource takes over from the old one.
    Replace,
    /// `-`: removed.
    Remove,
}

/// The thing a change is about; its `Display` is the address shown in plans.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Resource {
    Network { name: String },
    Proxy,
    File { path: String, owner: FileOwner },
    Directory { path: String },
    App { role: String },
    Route { service: String },
    Container { name: String },
    Accessory { name: String },
    Image { reference: String },
    LatestTag { reference: String },
}

impl Resource {
    /// The resource's address under its host (`app/web`, `route/app-web`, `proxy`): stable, for
    /// JSON and for people to grep.
    pub fn path(&self) -> String {
        match self {
            Resource::Network { name } => format!("network/{name}"),
            Resource::Proxy => "proxy".to_string(),
            Resource::File { path, .. } => format!("file/{path}"),
            Resource::Directory { path } => format!("directory/{path}"),
            Resource::App { role } => format!("app/{role}"),
            Resource::Route { service } => format!("route/{service}"),
            Resource::Container { name } => format!("container/{name}"),
            Resource::Accessory { name } => format!("accessory/{name}"),
            Resource::Image { reference } => format!("image/{reference}"),
            Resource::LatestTag { reference } => format!("tag/{reference}"),
        }
    }
}

/// Whose file an env or accessory file is, for display.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum FileOwner {
    RoleEnv(String),
    /// A role's custom TLS certificate or key.
    RoleTls(String),
    AccessoryEnv(String),
    AccessoryFile(String),
    /// A page of `error_pages_path`, served by kamal-proxy.
    ErrorPage,
}

/// Why a change is needed: the decision that forced it, made where it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Not on the host.
    Missing,
    /// Exists, but not running.
    NotRunning { status: String },
    /// A new version replaces the running one.
    NewVersion { from: Option<String>, to: String },
    /// The configuration differs (see the fields).
    ConfigChanged,
    /// The version's container was started while the old one served and never took over: a
    /// failed boot, stopped and kept for inspection. It is renamed aside and booted afresh.
    FailedBoot,
    /// The version's tag names another image than the container runs: pushed again to the
    /// registry since the host pulled it (`--version staging`, `latest`).
    ImageChanged,
    /// The file's contents differ from the configuration.
    ContentChanged,
    /// The route is missing from kamal-proxy.
    RouteMissing,
    /// The route sends traffic to another container.
    RouteTarget { current: Vec<String> },
    /// The route's settings differ (see the fields).
    RouteSettings,
    /// The route's TLS certificate or key is rewritten; kamal-proxy loads them at deploy.
    CertificateChanged,
    /// The route is paused or stopped (maintenance) and should serve.
    RouteNotServing { state: String },
    /// A container of an older version still runs beside the current one.
    NotCurrent,
    /// deploy.yml no longer has this role or accessory.
    NotInConfig,
    /// A route that points at this service's containers under a name deploy.yml no longer uses.
    StaleRoute,
    /// More stopped containers than `retain_containers`.
    BeyondRetention { retain: usize },
    /// An image no container uses any more.
    Unused,
    /// `latest` does not point at the running version.
    LatestOutdated,
    /// A command asked for it (`gantry app stop`, `gantry accessory reboot`, ...).
    Requested { command: String },
}

impl Note {
    /// True for what Kamal refuses to deploy over, so an apply refuses it too.
    pub fn refuses_apply(&self) -> bool {
        matches!(
            self,
            Note::ProxyTooOld { .. } | Note::RouteConflict { .. } | Note::PortConflict { .. }
        )
    }
}

/// A difference worth reporting that the plan does not act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// The proxy's image or options differ; `--reboot-proxy` replaces it (a reboot drops traffic).
    ProxyOutdated { fields: Vec<FieldChange> },
    /// The running kamal-proxy is older than the oldest Kamal deploys through
    /// ([`crate::kamal_proxy::MINIMUM_VERSION`]): an apply is refused before anything changes, as
    /// Kamal refuses it, until the proxy is rebooted.
    ProxyTooOld { version: String },
    /// The host's `.kamal/proxy/` boot files cannot be read as Kamal reads them: deploy.yml's
    /// proxy settings are used instead.
    ProxyBootFilesIgnored { reason: String },
    /// An accessory's configuration differs; `--recreate-accessories` replaces it.
    AccessoryChanged {
        name: String,
        fields: Vec<FieldChange>,
    },
    /// An accessory container deploy.yml does not name; only `accessory remove` removes one.
    AccessoryNotInConfig { container: String },
    /// The deploy lock is held.
    Locked(LockInfo),
    /// A role's route is in maintenance (`app maintenance`, kamal-proxy's `stop`): kamal-proxy
    /// answers 503 with `message` until `app live`. State the user chose, not drift: an apply
    /// deploys behind it and leaves it stopped, as Kamal's deploy does.
    Maintenance { service: String, message: String },
    /// A container created by a gantry run that did not finish.
    Interrupted { run: String, detail: String },
    /// This service's route `service` claims a host name + path prefix that another service's
    /// route (`other_service`) holds on the host's kamal-proxy, which would refuse the deploy
    /// halfway ("host settings conflict with another service"): an apply is refused before
    /// anything changes. `host_name` is `""` for a route without hosts.
    RouteConflict {
        service: String,
        other_service: String,
        host_name: String,
        path_prefix: String,
    },
    /// This service's `container` publishes host `port`, which `other_container` of
    /// `other_service` publishes already: Docker would refuse to start it, so an apply is
    /// refused before anything changes.
    PortConflict {
        container: String,
        port: String,
        other_container: String,
        other_service: String,
    },
}

/// One field's difference. A sensitive field never carries values.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub sensitive: bool,
}

impl FieldChange {
    pub(crate) fn changed(field: &str, before: &str, after: &str) -> Self {
        FieldChange {
            field: field.to_string(),
            before: Some(before.to_string()),
            after: Some(after.to_string()),
            sensitive: false,
        }
    }

    pub(crate) fn added(field: &str, after: &str) -> Self {
        FieldChange {
            field: field.to_string(),
            before: None,
            after: Some(after.to_string()),
            sensitive: false,
        }
    }

    /// A field that goes away; its value is not shown (it could be a former secret).
    pub(crate) fn removed(field: &str) -> Self {
        FieldChange {
            field: field.to_string(),
            before: None,
            after: None,
            sensitive: false,
        }
    }

    /// A field that goes away, value shown (labels, volumes, ports).
    pub(crate) fn removed_value(field: &str, before: &str) -> Self {
        FieldChange {
            field: field.to_string(),
            before: Some(before.to_string()),
            after: None,
            sensitive: false,
        }
    }

    /// A secret whose value changed: both sides are `[REDACTED]`, never the values.
    pub(crate) fn changed_sensitive(field: &str) -> Self {
        FieldChange {
            field: field.to_string(),
            before: Some(crate::secret::REDACTED.to_string()),
            after: Some(crate::secret::REDACTED.to_string()),
            sensitive: true,
        }
    }

    /// A secret that is new.
    pub(crate) fn added_sensitive(field: &str) -> Self {
        FieldChange {
            field: field.to_string(),
            before: None,
            after: Some(crate::secret::REDACTED.to_string()),
            sensitive: true,
        }
    }
}

/// A container on a host, by id (for API calls) and name (for people).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
}

impl ContainerRef {
    /// The 12-character id kamal-proxy targets use.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}

/// What the planner must do about a change: exactly the data for its actions.
#[derive(Clone, Debug)]
pub enum Work {
    CreateNetwork {
        name: String,
    },
    BootProxy(Box<ProxyBoot>),
    StartContainer {
        container: ContainerRef,
    },
    WriteFile {
        file: DesiredFile,
    },
    CreateDirectory {
        path: String,
    },
    DeployApp(Box<AppDeployment>),
    SwitchRoute {
        route: Box<ProxyRoute>,
        target: ContainerRef,
        previous: PreviousRoute,
    },
    StopContainers {
        containers: Vec<ContainerRef>,
        timeout: Option<u64>,
    },
    RemoveContainers {
        containers: Vec<ContainerRef>,
        /// Stop gracefully first: the containers still run.
        stop_first: bool,
    },
    RemoveRoute {
        service: String,
    },
    /// `app maintenance`: kamal-proxy stops serving the route (503 with `message`) after
    /// draining for `drain_timeout` seconds; the route and its target stay.
    StopRoute {
        service: String,
        drain_timeout: u64,
        message: Option<String>,
    },
    /// `app live`: kamal-proxy serves the route again. `stop_message` is the message it showed,
    /// for the rollback that stops it again.
    ResumeRoute {
        service: String,
        stop_message: String,
    },
    BootAccessory(Box<AccessoryBoot>),
    TagImage {
        /// What to tag: the desired image reference.
        source: String,
        target: String,
        /// The image id the tag named before, to put it back on rollback.
        previous: Option<String>,
    },
    RemoveImages {
        references: Vec<String>,
    },
    /// Files or directory trees in the SSH user's home (`gantry remove`, `accessory remove`).
    RemovePaths {
        paths: Vec<String>,
    },
}

/// Everything that boots kamal-proxy on one host.
#[derive(Clone, Debug)]
pub struct ProxyBoot {
    pub spec: ContainerSpec,
    pub apps_config_dir: String,
    pub pull: bool,
    /// Credentials for the pull (the image is on the app's registry).
    pub auth: Option<RegistryAuth>,
    /// The outdated proxy to stop and remove first (`--reboot-proxy`).
    pub replaces: Option<ContainerRef>,
}

/// Everything that moves one role on one host to the desired container.
#[derive(Clone, Debug)]
pub struct AppDeployment {
    pub role: String,
    pub primary: bool,
    /// The container to end up with (home directory already expanded).
    pub spec: ContainerSpec,
    /// Pull this image first, when the host does not have it or the registry has a newer one.
    pub pull: Option<PullImage>,
    /// The `service` label value the image must carry before a container is created from it,
    /// checked after the pull as Kamal checks it.
    pub service_label: String,
    pub start: StartMode,
    /// Where kamal-proxy sends traffic once the new container is healthy; `None` for roles
    /// without the proxy, which wait on Docker instead.
    pub route: Option<ProxyRoute>,
    /// Where the route sent traffic before, to send it back on rollback.
    pub previous_route: PreviousRoute,
    pub readiness: Readiness,
    /// Running containers of the role to stop once the new one serves.
    pub retire: Vec<ContainerRef>,
    /// `docker stop -t` for retired containers.
    pub stop_timeout: Option<u64>,
    /// Asset bridging before the new container starts (roles with `asset_path`).
    pub assets: Option<AssetBridge>,
    /// Older versions' directories to remove once the retired containers stop (assets, error
    /// pages), as Kamal does after stopping the old version; empty when nothing retires.
    pub prune_versions: Vec<OlderVersions>,
}

/// The asset steps of one deployment: copy the image's assets out, then merge them with the
/// previous version's (Kamal's `extract_assets` and `sync_asset_volumes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetBridge {
    pub image: String,
    pub container: String,
    pub asset_path: String,
    /// This version's extracted directory.
    pub extracted: String,
    /// This version's volume, mounted over `asset_path`.
    pub volume: String,
    /// This version's volume first (required), then the exchanges with the previous version.
    pub merges: Vec<DirectoryMerge>,
}

/// Entries of `directory` named `<prefix>...`, except `keep`: older versions' leftovers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OlderVersions {
    pub directory: String,
    pub prefix: String,
    pub keep: String,
}

/// Where a route sent traffic when the host was observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PreviousRoute {
    /// kamal-proxy had no such route.
    Absent,
    /// To this container (the usual case: the version being replaced).
    Container(ContainerRef),
    /// To a target that is not one of this service's containers; it cannot be restored.
    Elsewhere(String),
}

/// An image to pull and the credentials for it.
#[derive(Clone, Debug)]
pub struct PullImage {
    pub image: String,
    pub auth: Option<RegistryAuth>,
}

/// How the desired container comes to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartMode {
    /// Create it from the spec.
    Create,
    /// It exists with the right configuration and only needs starting.
    StartExisting(ContainerRef),
    /// A container with its name exists with another configuration: rename that one out of the
    /// way (Kamal's `_replaced_` suffix), then create.
    RenameAndCreate {
        existing: ContainerRef,
        rename_to: String,
    },
}

/// Booting one accessory on one host.
#[derive(Clone, Debug)]
pub struct AccessoryBoot {
    pub name: String,
    pub spec: ContainerSpec,
    pub pull: Option<PullImage>,
    /// The env file and the uploaded `files:`, written before the container is created.
    pub files: Vec<DesiredFile>,
    /// `directories:`, created (with their mode and owner) before the container is created.
    pub directories: Vec<DesiredDirectory>,
    /// An existing container to remove first (`--recreate-accessories`).
    pub replaces: Option<ContainerRef>,
    pub route: Option<ProxyRoute>,
}
