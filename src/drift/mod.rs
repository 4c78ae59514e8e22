//! Drift: what on the hosts no longer matches deploy.yml, in classes a cron job can act on.
//!
//! Input: an [`Observed`] snapshot and the [`Changes`] of a diff against the version that runs
//! (not a new one). Output: a [`DriftReport`], one [`DriftItem`] per drifted resource with a
//! stable [`DriftClass`] and address, rendered as short text or versioned JSON
//! (`specs/drift.md`).
//!
//! - [`choose_version`] picks what to compare against: `--version`, else the version most hosts
//!   run (so a host on another version is itself drift, "version skew"), else the version of the
//!   last recorded run.
//! - [`classify`] maps every change and note of that diff to a class; housekeeping a deploy does
//!   anyway (retention, unused images, the `latest` tag) is not drift.
//! - [`orphans`] finds hosts deploy.yml no longer names that still run the app.
//!
//! Invariants: pure except [`orphans::check_former_hosts`], which only reads; no value of a
//! secret reaches an item (sensitive fields carry `[REDACTED]` from the diff); the same drift
//! gives the same [`DriftReport::fingerprint`] whatever the order or the time.

mod classify;
pub mod orphans;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diff::{Changes, Note};
use crate::model::RoundTripCounts;
use crate::naming::ServiceNames;
use crate::observe::Versions;
use crate::observe::{LockInfo, Observed};
use crate::plan::render::note_text;
use crate::records::journal::Journal;

pub use classify::{classify, ignore_matches};

/// The version of JSON drift reports (`specs/drift.md`): bumped when a field changes meaning
/// or goes away; new fields and classes may appear without a bump.
pub const FORMAT_VERSION: &str = "1";

/// What kind of drift, with a stable name in JSON and text (`specs/drift.md` lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftClass {
    /// A role's container for the running version is not on the host.
    MissingContainer,
    /// A container of this service runs beside the current one (an older version, a copy).
    UnexpectedContainer,
    /// An app, accessory or proxy container exists but does not run.
    StoppedContainer,
    /// An app container runs another image than its name and deploy.yml say.
    ImageMismatch,
    /// An app container or env file differs from deploy.yml and the secrets (env, cmd, labels,
    /// options, ports, volumes).
    ConfigMismatch,
    /// A host runs another version than most hosts.
    VersionSkew,
    /// kamal-proxy has no route for a role that should serve.
    ProxyRouteMissing,
    /// The route sends traffic to another container than the role's current one.
    ProxyRoutePointsElsewhere,
    /// A route deploy.yml no longer names still points at this service.
    ProxyRouteStale,
    /// The route's settings differ, or it is paused or stopped.
    ProxyRouteChanged,
    /// Another service's route now holds this route's host name and path prefix on the
    /// host's kamal-proxy (it took the route over): a deploy would be refused.
    RouteTakenOver,
    /// No kamal-proxy container on a host that needs one.
    ProxyContainerMissing,
    /// kamal-proxy runs another image or options than deploy.yml says.
    ProxyContainerOutdated,
    /// A configured accessory's container is not on its host.
    AccessoryMissing,
    /// An accessory's container or files differ from deploy.yml.
    AccessoryChanged,
    /// Containers of a role deploy.yml no longer has.
    OrphanedRole,
    /// A container that looks like an accessory of this service but deploy.yml does not name.
    OrphanedAccessory,
    /// A host deploy.yml no longer names still runs the app (see [`orphans`]).
    OrphanedHost,
    /// The Docker network the containers join is missing.
    NetworkMissing,
    /// A host of deploy.yml could not be observed: its drift is unknown.
    UnreachableHost,
    /// A gantry run never finished on the host and left containers behind.
    InterruptedRun,
}

impl DriftClass {
    /// The stable name (`missing_container`), as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            DriftClass::MissingContainer => "missing_container",
            DriftClass::UnexpectedContainer => "unexpected_container",
            DriftClass::StoppedContainer => "stopped_container",
            DriftClass::ImageMismatch => "image_mismatch",
            DriftClass::ConfigMismatch => "config_mismatch",
            DriftClass::VersionSkew => "version_skew",
            DriftClass::ProxyRouteMissing => "proxy_route_missing",
            DriftClass::ProxyRoutePointsElsewhere => "proxy_route_points_elsewhere",
            DriftClass::ProxyRouteStale => "proxy_route_stale",
            DriftClass::ProxyRouteChanged => "proxy_route_changed",
            DriftClass::RouteTakenOver => "route_taken_over",
            DriftClass::ProxyContainerMissing => "proxy_container_missing",
            DriftClass::ProxyContainerOutdated => "proxy_container_outdated",
            DriftClass::AccessoryMissing => "accessory_missing",
            DriftClass::AccessoryChanged => "accessory_changed",
            DriftClass::OrphanedRole => "orphaned_role",
            DriftClass::OrphanedAccessory => "orphaned_accessory",
            DriftClass::OrphanedHost => "orphaned_host",
            DriftClass::NetworkMissing => "network_missing",
            DriftClass::UnreachableHost => "unreachable_host",
            DriftClass::InterruptedRun => "interrupted_run",
        }
    }
}

/// One drifted resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftItem {
    pub host: String,
    /// `<host>/<type>/<name>` as in plan JSON (`10.0.0.1/app/web`); just `<host>` for what
    /// concerns a whole host (unreachable, orphaned). What `ignore` patterns match.
    pub address: String,
    pub class: DriftClass,
    /// One line for people.
    pub summary: String,
    /// Field differences and evidence, one line each; secret values never appear.
    pub details: Vec<String>,
}

impl DriftItem {
    /// What makes two reports "the same drift": the class, the address, and what differs. An
    /// unreachable host's reason (a timeout today, a refused connection tomorrow) is left out,
    /// so a host that stays down does not alert every night.
    fn identity(&self) -> String {
        match self.class {
            DriftClass::UnreachableHost => format!("{}|{}", self.class.name(), self.address),
            _ => format!(
                "{}|{}|{}|{}",
                self.class.name(),
                self.address,
                self.summary,
                self.details.join(";")
            ),
        }
    }
}

/// Where the compared version came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// `--version`.
    Flag,
    /// The version most app hosts run.
    #[default]
    Running,
    /// No app container anywhere: the version of the newest run in a gantry journal.
    LastRun,
    /// Nothing on the hosts says: `$VERSION` or git HEAD, as `plan` would.
    Local,
}

/// Everything that drifted, in deploy.yml's host order (hosts it no longer names last).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    pub format_version: String,
    pub service: String,
    pub destination: Option<String>,
    /// The version the report compares against.
    pub version: String,
    pub version_source: VersionSource,
    /// The hosts looked at: deploy.yml's (as selected), then former hosts checked for orphans.
    pub hosts: Vec<String>,
    /// The deploy lock, when someone holds it: drift seen during a deploy may be that deploy.
    pub deploy_lock: Option<LockInfo>,
    /// Routes in maintenance (`app maintenance`): state the user chose, shown but not drift.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<MaintenanceRoute>,
    pub items: Vec<DriftItem>,
    /// Sessions and Docker API requests sent to each host to make the report, and their waves.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub round_trips: BTreeMap<String, RoundTripCounts>,
}

impl DriftReport {
    /// True when nothing drifted and every host answered.
    pub fn is_clean(&self) -> bool {
        self.items.is_empty()
    }

    /// True when a host of deploy.yml could not be checked: the report is incomplete.
    pub fn has_unreachable(&self) -> bool {
        self.items
            .iter()
            .any(|item| item.class == DriftClass::UnreachableHost)
    }

    /// A fingerprint of what drifted (not of when, nor in which order): `--notify` fires again
    /// only when it changes.
    pub fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self.items.iter().map(DriftItem::identity).collect();
        lines.sort();
        hex::encode(Sha256::digest(lines.join("\n").as_bytes()))
    }

    /// The short text report: a note per route in maintenance, then one line per drifted
    /// resource, grouped by host; empty when clean and live.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for route in &self.maintenance {
            out.push_str(&format!(
                "note: {}: {}\n",
                route.host,
                note_text(&Note::Maintenance {
                    service: route.service.clone(),
                    message: route.message.clone(),
                })
            ));
        }
        if self.is_clean() {
            return out;
        }
        if let Some(lock) = &self.deploy_lock {
            out.push_str(&format!(
                "note: the deploy lock is held ({}); what follows may be a deploy in progress\n",
                lock.holder.as_deref().unwrap_or("holder unknown")
            ));
        }
        let mut current_host: Option<&str> = None;
        for item in &self.items {
            if current_host != Some(item.host.as_str()) {
                out.push_str(&format!("{}:\n", item.host));
                current_host = Some(&item.host);
            }
            let path = item
                .address
                .strip_prefix(item.host.as_str())
                .and_then(|rest| rest.strip_prefix('/'))
                .unwrap_or("");
            let separator = if path.is_empty() { "" } else { " " };
            out.push_str(&format!(
                "  {}{separator}{path}: {}\n",
                item.class.name(),
                item.summary
            ));
            for detail in &item.details {
                out.push_str(&format!("      {detail}\n"));
            }
        }
        let hosts = {
            let mut hosts: Vec<&str> = self.items.iter().map(|item| item.host.as_str()).collect();
            hosts.dedup();
            hosts.len()
        };
        out.push_str(&format!(
            "Drift: {} resource{} on {hosts} host{} (against version {}).\n",
            self.items.len(),
            plural(self.items.len()),
            plural(hosts),
            self.version
        ));
        out
    }
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

/// The version to compare against and where it came from: `flag`, else the version most app
/// hosts run ([`running_version`]), else the newest journal's, else `local`.
pub fn choose_version(
    flag: Option<&str>,
    observed: &Observed,
    names: &ServiceNames,
    local: &str,
) -> (String, VersionSource) {
    if let Some(version) = flag {
        return (version.to_string(), VersionSource::Flag);
    }
    if let Some(version) = running_version(observed, names) {
        return (version, VersionSource::Running);
    }
    if let Some(version) = last_run_version(observed) {
        return (version, VersionSource::LastRun);
    }
    (local.to_string(), VersionSource::Local)
}

/// The version most app hosts run. A host counts once for each version it runs (live
/// containers); a host where nothing runs counts for its newest version, so one stopped
/// container does not shift the majority. Ties go to the version with the newest container,
/// then to the greater name. `None` when no host has an app container.
pub fn running_version(observed: &Observed, names: &ServiceNames) -> Option<String> {
    let versions = Versions::from_observed(observed, names);
    let newest = |version: &str| {
        versions
            .available
            .get(version)
            .map_or("", |copies| copies.newest.as_str())
    };
    let hosts: BTreeSet<&str> = versions
        .places
        .iter()
        .map(|(host, _)| host.as_str())
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for host in hosts {
        let live: BTreeSet<&str> = versions
            .running
            .iter()
            .filter(|((running_host, _), _)| running_host == host)
            .map(|(_, version)| version.as_str())
            .collect();
        let counted = if live.is_empty() {
            versions
                .available
                .iter()
                .filter(|(_, copies)| copies.places.iter().any(|(place, _)| place == host))
                .map(|(version, _)| version.as_str())
                .max_by_key(|version| (newest(version), *version))
                .into_iter()
                .collect()
        } else {
            live
        };
        for version in counted {
            *counts.entry(version).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|(version, count)| (*count, newest(version), *version))
        .map(|(version, _)| version.to_string())
}

/// The version of the newest run recorded in a journal on any reachable host.
fn last_run_version(observed: &Observed) -> Option<String> {
    observed
        .hosts
        .values()
        .filter_map(|host| Journal::parse(host.state()?.journal.as_deref()?))
        .max_by(|a, b| a.started_at.cmp(&b.started_at))
        .map(|journal| journal.version)
}

/// A route kamal-proxy keeps in maintenance on one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceRoute {
    pub host: String,
    pub service: String,
    /// The message its 503 page shows; `""` for kamal-proxy's default page.
    pub message: String,
}

/// The routes in maintenance, host by host, from the diff's notes.
pub fn maintenance(changes: &Changes) -> Vec<MaintenanceRoute> {
    changes
        .hosts
        .iter()
        .flat_map(|host| {
            host.notes.iter().filter_map(|note| match note {
                Note::Maintenance { service, message } => Some(MaintenanceRoute {
                    host: host.host.clone(),
                    service: service.clone(),
                    message: message.clone(),
                }),
                _ => None,
            })
        })
        .collect()
}

/// The deploy lock, when a host reports it held.
pub fn deploy_lock(changes: &Changes) -> Option<LockInfo> {
    changes
        .hosts
        .iter()
        .flat_map(|host| host.notes.iter())
        .find_map(|note| match note {
            Note::Locked(lock) => Some(lock.clone()),
            _ => None,
        })
}

#[cfg(test)]
mod tests;
