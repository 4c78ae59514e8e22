//! Observe: read each host's live state once, in as few round trips as possible.
//!
//! Per host, one parallel burst asks for everything that carries this service's labels (and the
//! proxy, networks, images, the few files gantry compares), then a second burst inspects the
//! containers and images found. The result is a snapshot, [`Observed`]: the diff and the planner
//! make no further calls, so a plan is a function of what was seen.
//!
//! An unreachable host is a value ([`ObservedHost::Unreachable`]), never an error that stops the
//! others. A host whose state cannot be read in full is unreachable too: a partial snapshot
//! would make the plan lie.
//!
//! [`retained_versions`] reads a snapshot back for `rollback` and `drift`: which versions every
//! host could run again.

mod host_state;
mod lock;
pub mod retained_versions;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::desired::{Desired, DesiredHost, ProxyBootFiles};
use crate::host::{ContainerDetails, Host, ImageDetails, ImageSummary};
use crate::kamal_proxy::ObservedRoute;

pub use host_state::observe_host;
pub use lock::{LockInfo, encode_lock_details, parse_lock_details};
pub use retained_versions::Versions;

/// What every host looked like when gantry looked.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub hosts: BTreeMap<String, ObservedHost>,
}

/// One host's snapshot, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ObservedHost {
    Reachable(Box<HostState>),
    Unreachable { reason: String },
}

/// Everything gantry compares on one host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    /// The SSH user's home directory (`$PWD` in Kamal's volume arguments).
    pub home: String,
    /// This service's app containers for this destination, every role and state, newest first.
    pub app_containers: Vec<ObservedContainer>,
    /// Containers of this service outside `app_containers`: without a `role` label, or
    /// labelled for another destination (made by hand). Not this deploy's, but one may hold
    /// the name of a container the deploy creates.
    #[serde(default)]
    pub other_app_containers: Vec<crate::host::ContainerSummary>,
    /// Containers of this service under other destinations: only their images matter (prune).
    pub other_destination_images: Vec<String>,
    /// Accessory containers: the configured ones, and containers that look like this service's
    /// accessories but are no longer configured.
    pub accessories: Vec<ObservedContainer>,
    /// The kamal-proxy container.
    pub proxy: Option<ObservedContainer>,
    /// Routes from kamal-proxy's state file; `None` when there is no proxy to ask.
    pub routes: Option<Vec<ObservedRoute>>,
    pub networks: Vec<String>,
    /// Images labelled with this service (what prune works on).
    pub service_images: Vec<ImageSummary>,
    /// Which of the images gantry may need are already on the host, by reference.
    pub present_images: BTreeMap<String, Option<String>>,
    /// The registry digests (`<repository>@sha256:...`) of the images in `present_images` that
    /// the host has, as pulled.
    #[serde(default)]
    pub present_image_digests: BTreeMap<String, Vec<String>>,
    /// The digest the registry gives now for the app's image, when the host has the image
    /// and the registry answered: a tag pushed again since the pull differs from
    /// `present_image_digests`.
    #[serde(default)]
    pub registry_digests: BTreeMap<String, String>,
    /// SHA-256 of files gantry writes (env files, accessory files), `None` when missing.
    pub file_fingerprints: BTreeMap<String, Option<String>>,
    /// Directories gantry creates for accessories, and whether they exist.
    pub directories: BTreeMap<String, bool>,
    /// The deploy lock, when held.
    pub lock: Option<LockInfo>,
    /// Whether this observation took the deploy lock ([`ObserveRequest::take_lock`]): `None`
    /// when it was not asked to. The run's own business, never saved or compared.
    #[serde(skip)]
    pub lock_taken: Option<bool>,
    /// gantry's journal of the last run on this host, raw JSON.
    pub journal: Option<String>,
    /// The containers of other services on the host (every container with a `service` label
    /// that is neither this service's nor kamal-proxy): what shares the host with this service,
    /// the host ports they publish included.
    #[serde(default)]
    pub other_services: Vec<crate::host::ContainerSummary>,
    /// Kamal's proxy boot files, when the request asked for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_boot: Option<ProxyBootFiles>,
}

/// A container and the image it was created from (the defaults it inherited).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservedContainer {
    pub details: ContainerDetails,
    /// `None` when the image is gone from the host.
    pub image: Option<ImageDetails>,
}

impl ObservedContainer {
    /// True when this stopped container was started while `serving` already ran, and
    /// `serving` still runs: it never took over, so it is a new version that failed to boot
    /// and was stopped for inspection (Kamal's `boot.rb` stops it and keeps it). A retained
    /// version, stopped because a later one took over, started before the one serving now.
    /// Start times that do not parse prove nothing.
    pub fn failed_to_take_over(&self, serving: &ObservedContainer) -> bool {
        use time::OffsetDateTime;
        use time::format_description::well_known::Rfc3339;
        if self.details.status.is_live() || !serving.details.status.is_live() {
            return false;
        }
        let started = |container: &ObservedContainer| {
            OffsetDateTime::parse(&container.details.started_at, &Rfc3339).ok()
        };
        matches!(
            (started(self), started(serving)),
            (Some(mine), Some(theirs)) if mine > theirs
        )
    }
}

impl ObservedHost {
    /// The snapshot, when the host answered.
    pub fn state(&self) -> Option<&HostState> {
        match self {
            ObservedHost::Reachable(state) => Some(state),
            ObservedHost::Unreachable { .. } => None,
        }
    }
}

/// What to look for on one host, derived from the desired state so observe reads exactly the
/// files and images the diff will compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObserveRequest {
    /// `service=<svc>`.
    pub service: String,
    /// `<svc>-` prefix of default accessory names, to find unconfigured ones.
    pub accessory_prefix: String,
    /// The destination label value (empty without a destination).
    pub destination: String,
    /// Service labels of the configured accessories on this host.
    pub accessory_services: Vec<String>,
    /// Images whose presence matters (app image, proxy image, accessory images, latest tag).
    pub images: Vec<String>,
    /// The app's image, to ask its registry for the tag's current digest (hosts with roles).
    pub registry_check: Option<RegistryCheck>,
    /// Files to fingerprint.
    pub files: Vec<String>,
    /// Directories to check.
    pub directories: Vec<String>,
    /// The lock's details file (read on every host; only the primary's matters).
    pub lock_details: String,
    /// gantry's journal.
    pub journal: String,
    /// Read Kamal's proxy boot files (no `proxy.run` in deploy.yml and a proxy on this host).
    pub proxy_boot_files: bool,
    /// The app containers the deploy creates, looked up by name too: Kamal renames whatever
    /// holds one of these names, a container without any label included.
    pub app_container_names: Vec<String>,
    /// Take the deploy lock before reading, in the same round trip (the lock host of an
    /// `apply` with no `pre-deploy` hook between the lock and the look at the hosts).
    pub take_lock: Option<LockTake>,
}

/// The deploy lock to take while observing: its directory and the details to write in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockTake {
    pub dir: String,
    pub details: String,
}

/// One image whose registry digest observe asks for, with the credentials a pull would send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryCheck {
    pub image: String,
    pub auth: Option<crate::host::RegistryAuth>,
}

impl ObserveRequest {
    /// The request for one desired host.
    pub fn for_host(desired: &Desired, host: &DesiredHost) -> Self {
        let names = &desired.names;
        let mut images = vec![desired.image.clone(), desired.latest_image.clone()];
        let mut files = Vec::new();
        let mut directories = Vec::new();
        for app in &host.apps {
            files.push(app.env_file.path.clone());
            files.extend(app.tls_files.iter().map(|file| file.path.clone()));
        }
        files.extend(host.error_pages.iter().map(|page| page.path.clone()));
        for accessory in &host.accessories {
            images.push(accessory.container.image.clone());
            files.push(accessory.env_file.path.clone());
            files.extend(accessory.files.iter().map(|file| file.path.clone()));
            directories.extend(
                accessory
                    .directories
                    .iter()
                    .map(|directory| directory.path.clone()),
            );
        }
        if let Some(proxy) = &host.proxy {
            images.push(proxy.container.image.clone());
        }
        images.sort();
        images.dedup();
        ObserveRequest {
            service: names.service().to_string(),
            accessory_prefix: format!("{}-", names.service()),
            destination: names.destination().unwrap_or("").to_string(),
            accessory_services: host
                .accessories
                .iter()
                .map(|accessory| accessory.container.name.clone())
                .collect(),
            images,
            registry_check: (!host.apps.is_empty()).then(|| RegistryCheck {
                image: desired.image.clone(),
                auth: desired.registry_auth.clone(),
            }),
            files,
            directories,
            lock_details: names.lock_details(),
            journal: names.journal(),
            proxy_boot_files: host
                .proxy
                .as_ref()
                .is_some_and(|proxy| proxy.from_boot_files),
            app_container_names: host
                .apps
                .iter()
                .map(|app| app.container.name.clone())
                .collect(),
            take_lock: None,
        }
    }
}

/// Observes every desired host in parallel, at most `parallelism` at a time. `hosts` maps host
/// names to connected hosts, or to the reason the connection failed.
pub async fn observe_all(
    desired: &Desired,
    hosts: &BTreeMap<String, Result<Arc<dyn Host>, String>>,
    parallelism: usize,
) -> Observed {
    observe_all_telling(desired, hosts, parallelism, &|_| {}).await
}

/// [`observe_all`], calling `host_read` with each host's name as soon as that host is read (or
/// found unreachable): progress can name the hosts still being read.
pub async fn observe_all_telling(
    desired: &Desired,
    hosts: &BTreeMap<String, Result<Arc<dyn Host>, String>>,
    parallelism: usize,
    host_read: &(dyn Fn(&str) + Send + Sync),
) -> Observed {
    observe_all_with(desired, hosts, parallelism, &BTreeMap::new(), host_read).await
}

/// [`observe_all_telling`], taking the deploy lock on the hosts `locks` names while reading
/// them (see [`HostState::lock_taken`]).
pub async fn observe_all_with(
    desired: &Desired,
    hosts: &BTreeMap<String, Result<Arc<dyn Host>, String>>,
    parallelism: usize,
    locks: &BTreeMap<String, LockTake>,
    host_read: &(dyn Fn(&str) + Send + Sync),
) -> Observed {
    let requests: Vec<(String, ObserveRequest)> = desired
        .hosts
        .iter()
        .map(|host| {
            let request = ObserveRequest {
                take_lock: locks.get(&host.name).cloned(),
                ..ObserveRequest::for_host(desired, host)
            };
            (host.name.clone(), request)
        })
        .collect();
    let results: Vec<(String, ObservedHost)> = stream::iter(requests)
        .map(|(name, request)| {
            let connection = hosts.get(&name).cloned();
            async move {
                let observed = match connection {
                    Some(Ok(host)) => match observe_host(host.as_ref(), &request).await {
                        Ok(state) => ObservedHost::Reachable(Box::new(state)),
                        Err(error) => ObservedHost::Unreachable {
                            reason: error.to_string(),
                        },
                    },
                    Some(Err(reason)) => ObservedHost::Unreachable { reason },
                    None => ObservedHost::Unreachable {
                        reason: "not connected".to_string(),
                    },
                };
                host_read(&name);
                (name, observed)
            }
        })
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    Observed {
        hosts: results.into_iter().collect(),
    }
}
