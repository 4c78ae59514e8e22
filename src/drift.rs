//! Drift: what on the hosts no longer matches deploy.yml, in classes a cron job can act on.
//!
//! Drift is the diff against the version that runs (not a new one): `running_version` picks the
//! version most app hosts run, so a host on another version is itself drift ("version skew").
//! `classify` maps every change and note of that diff to a stable [`DriftClass`]; housekeeping
//! that a deploy would do anyway (retention, unused images, the `latest` tag) is not drift.
//! Resources listed under `x-gantry: {drift: {ignore: [...]}}` are left out. Pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diff::{Change, ChangeKind, Changes, Note, Reach, Reason, Resource};
use crate::naming::{LABEL_ROLE, ServiceNames};
use crate::observe::{Observed, ObservedHost};
use crate::plan::render::{field_text, note_text, reason_text, resource_text};

/// The version of JSON drift reports (`specs/drift.md`).
pub const FORMAT_VERSION: &str = "1";

/// What kind of drift, with a stable name in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftClass {
    MissingContainer,
    UnexpectedContainer,
    StoppedContainer,
    ImageMismatch,
    ConfigMismatch,
    VersionSkew,
    ProxyRouteMissing,
    ProxyRoutePointsElsewhere,
    ProxyRouteStale,
    ProxyRouteChanged,
    ProxyContainerMissing,
    ProxyContainerOutdated,
    AccessoryMissing,
    AccessoryChanged,
    OrphanedRole,
    OrphanedAccessory,
    NetworkMissing,
    UnreachableHost,
    InterruptedRun,
}

/// One drifted resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftItem {
    pub host: String,
    /// `<host>/<type>/<name>`, as in plan JSON.
    pub address: String,
    pub class: DriftClass,
    /// One line for people.
    pub summary: String,
    /// Field differences, secret values redacted.
    pub details: Vec<String>,
}

/// Everything that drifted, in host order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    pub format_version: String,
    pub service: String,
    pub destination: Option<String>,
    /// The version the report compares against.
    pub version: String,
    pub items: Vec<DriftItem>,
}

impl DriftReport {
    /// True when nothing drifted and every host answered.
    pub fn is_clean(&self) -> bool {
        self.items.is_empty()
    }

    /// True when a host could not be checked.
    pub fn has_unreachable(&self) -> bool {
        self.items
            .iter()
            .any(|item| item.class == DriftClass::UnreachableHost)
    }

    /// A fingerprint of what drifted (not of when): `--notify` fires again only when it changes.
    pub fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .items
            .iter()
            .map(|item| {
                format!(
                    "{}|{:?}|{}",
                    item.address,
                    item.class,
                    item.details.join(";")
                )
            })
            .collect();
        lines.sort();
        hex::encode(Sha256::digest(lines.join("\n").as_bytes()))
    }

    /// The short text report: one line per drifted resource, grouped by host.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let mut current_host: Option<&str> = None;
        for item in &self.items {
            if current_host != Some(item.host.as_str()) {
                out.push_str(&format!("{}:\n", item.host));
                current_host = Some(&item.host);
            }
            out.push_str(&format!("  {}: {}\n", class_name(item.class), item.summary));
            for detail in &item.details {
                out.push_str(&format!("      {detail}\n"));
            }
        }
        out
    }
}

fn class_name(class: DriftClass) -> String {
    serde_json::to_value(class)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The version most app hosts run: per host, the version of its primary-first role's running
/// container; ties go to the newest container. `None` when no app container runs anywhere.
pub fn running_version(observed: &Observed, names: &ServiceNames) -> Option<String> {
    let mut counts: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for host in observed.hosts.values() {
        let ObservedHost::Reachable(state) = host else {
            continue;
        };
        let mut seen_on_host: Vec<String> = Vec::new();
        for container in state
            .app_containers
            .iter()
            .filter(|c| c.details.status.is_live())
        {
            let Some(role) = container.details.labels.get(LABEL_ROLE) else {
                continue;
            };
            let Some(version) = names.version_of(role, &container.details.name) else {
                continue;
            };
            if version.contains("_replaced_") || seen_on_host.iter().any(|v| v == version) {
                continue;
            }
            seen_on_host.push(version.to_string());
            let entry = counts.entry(version.to_string()).or_insert((0, 0));
            entry.0 += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.0.cmp(&a.0)))
        .map(|(version, _)| version)
}

/// The drift in `changes`, minus what `ignore` patterns match (`*` is a wildcard).
pub fn classify(changes: &Changes, ignore: &[String]) -> Vec<DriftItem> {
    let ignored = |address: &str| ignore.iter().any(|pattern| glob_match(pattern, address));
    let mut items = Vec::new();
    for host in &changes.hosts {
        if let Reach::Unreachable { reason } = &host.reach {
            items.push(DriftItem {
                host: host.host.clone(),
                address: host.host.clone(),
                class: DriftClass::UnreachableHost,
                summary: format!("unreachable: {reason}"),
                details: Vec::new(),
            });
            continue;
        }
        for change in &host.changes {
            let address = format!("{}/{}", host.host, change.resource.path());
            let Some(class) = change_class(change) else {
                continue;
            };
            if ignored(&address) {
                continue;
            }
            items.push(DriftItem {
                host: host.host.clone(),
                summary: format!(
                    "{} ({})",
                    resource_text(change),
                    reason_text(&change.reason)
                ),
                details: change.fields.iter().map(field_text).collect(),
                address,
                class,
            });
        }
        for note in &host.notes {
            let Some((class, path)) = note_class(note) else {
                continue;
            };
            let address = format!("{}/{path}", host.host);
            if ignored(&address) {
                continue;
            }
            let details = match note {
                Note::ProxyOutdated { fields } | Note::AccessoryChanged { fields, .. } => {
                    fields.iter().map(field_text).collect()
                }
                _ => Vec::new(),
            };
            items.push(DriftItem {
                host: host.host.clone(),
                address,
                class,
                summary: note_text(note),
                details,
            });
        }
    }
    items
}

fn change_class(change: &Change) -> Option<DriftClass> {
    let class = match (&change.resource, change.kind, &change.reason) {
        (Resource::App { .. }, _, Reason::Missing) => DriftClass::MissingContainer,
        (Resource::App { .. }, _, Reason::NotRunning { .. }) => DriftClass::StoppedContainer,
        (Resource::App { .. }, _, Reason::NewVersion { .. }) => DriftClass::VersionSkew,
        (Resource::App { .. }, _, _) => {
            if change.fields.iter().any(|field| field.field == "image") {
                DriftClass::ImageMismatch
            } else {
                DriftClass::ConfigMismatch
            }
        }
        (Resource::File { .. }, _, _) => DriftClass::ConfigMismatch,
        (Resource::Container { .. }, ChangeKind::Update, Reason::NotCurrent) => {
            DriftClass::UnexpectedContainer
        }
        (Resource::Container { .. }, _, Reason::NotInConfig) => DriftClass::OrphanedRole,
        (Resource::Route { .. }, _, Reason::RouteMissing) => DriftClass::ProxyRouteMissing,
        (Resource::Route { .. }, _, Reason::RouteTarget { .. }) => {
            DriftClass::ProxyRoutePointsElsewhere
        }
        (Resource::Route { .. }, _, Reason::StaleRoute | Reason::NotInConfig) => {
            DriftClass::ProxyRouteStale
        }
        (Resource::Route { .. }, _, _) => DriftClass::ProxyRouteChanged,
        (Resource::Proxy, ChangeKind::Create, _) => DriftClass::ProxyContainerMissing,
        (Resource::Proxy, _, _) => DriftClass::ProxyContainerOutdated,
        (Resource::Accessory { .. }, ChangeKind::Create, _) => DriftClass::AccessoryMissing,
        (Resource::Accessory { .. }, _, _) => DriftClass::AccessoryChanged,
        (Resource::Network { .. }, _, _) => DriftClass::NetworkMissing,
        // Housekeeping a deploy does anyway is not drift.
        (Resource::Container { .. }, _, _)
        | (Resource::Image { .. }, _, _)
        | (Resource::LatestTag { .. }, _, _)
        | (Resource::Directory { .. }, _, _) => return None,
    };
    Some(class)
}

fn note_class(note: &Note) -> Option<(DriftClass, String)> {
    match note {
        Note::ProxyOutdated { .. } => Some((DriftClass::ProxyContainerOutdated, "proxy".into())),
        Note::AccessoryChanged { name, .. } => {
            Some((DriftClass::AccessoryChanged, format!("accessory/{name}")))
        }
        Note::AccessoryNotInConfig { container } => Some((
            DriftClass::OrphanedAccessory,
            format!("container/{container}"),
        )),
        Note::Interrupted { run, .. } => Some((DriftClass::InterruptedRun, format!("run/{run}"))),
        Note::Locked(_) => None,
    }
}

/// `*` matches any run of characters (including `/`); everything else is literal.
fn glob_match(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&index| rest.is_char_boundary(index))
                .any(|index| glob_match(tail, &rest[index..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{DiffOptions, diff};
    use crate::host::ContainerStatus;
    use crate::testing::{self, observed_of, state_mut};

    fn drift(
        config: &crate::config::Config,
        observed: &Observed,
        ignore: &[String],
    ) -> Vec<DriftItem> {
        let names = ServiceNames::for_config(config);
        let version = running_version(observed, &names).unwrap();
        let desired = testing::desired(config, &version);
        classify(&diff(&desired, observed, DiffOptions::default()), ignore)
    }

    fn classes(items: &[DriftItem]) -> Vec<(String, DriftClass)> {
        items
            .iter()
            .map(|item| (item.address.clone(), item.class))
            .collect()
    }

    #[test]
    fn a_converged_world_has_no_drift() {
        let config = testing::config(&["h1", "h2"]);
        let observed = observed_of(&testing::desired(&config, "v1"));
        assert!(drift(&config, &observed, &[]).is_empty());
    }

    #[test]
    fn the_majority_version_wins_and_the_odd_host_is_skew() {
        let config = testing::config(&["h1", "h2", "h3"]);
        let mut observed = observed_of(&testing::desired(&config, "v1"));
        let odd = observed_of(&testing::desired(&config, "v2"));
        observed.hosts.insert("h3".into(), odd.hosts["h3"].clone());
        let names = ServiceNames::for_config(&config);
        assert_eq!(running_version(&observed, &names).as_deref(), Some("v1"));
        let items = drift(&config, &observed, &[]);
        assert_eq!(
            classes(&items),
            vec![("h3/app/web".to_string(), DriftClass::VersionSkew)]
        );
    }

    #[test]
    fn stopped_changed_and_missing_things_are_classified() {
        let config = testing::config(&["h1", "h2", "h3"]);
        let mut observed = observed_of(&testing::desired(&config, "v1"));
        state_mut(&mut observed, "h1").app_containers[0]
            .details
            .status = ContainerStatus::Exited;
        state_mut(&mut observed, "h2").app_containers[0]
            .details
            .env
            .push("DEBUG=1".into());
        state_mut(&mut observed, "h3").routes = Some(Vec::new());
        let items = drift(&config, &observed, &[]);
        assert_eq!(
            classes(&items),
            vec![
                ("h1/app/web".to_string(), DriftClass::StoppedContainer),
                ("h2/app/web".to_string(), DriftClass::ConfigMismatch),
                (
                    "h3/route/app-web".to_string(),
                    DriftClass::ProxyRouteMissing
                ),
            ]
        );
        assert_eq!(items[1].details, vec!["- env.DEBUG"]);
        let ignored = drift(
            &config,
            &observed,
            &["*/route/*".to_string(), "h1/*".to_string()],
        );
        assert_eq!(
            classes(&ignored),
            vec![("h2/app/web".to_string(), DriftClass::ConfigMismatch)]
        );
    }

    #[test]
    fn unreachable_hosts_are_reported_and_the_fingerprint_ignores_order() {
        let config = testing::config(&["h1", "h2"]);
        let mut observed = observed_of(&testing::desired(&config, "v1"));
        observed.hosts.insert(
            "h2".into(),
            ObservedHost::Unreachable {
                reason: "timed out".into(),
            },
        );
        let items = drift(&config, &observed, &[]);
        assert_eq!(items[0].class, DriftClass::UnreachableHost);
        let report = DriftReport {
            format_version: FORMAT_VERSION.into(),
            items: items.clone(),
            ..DriftReport::default()
        };
        assert!(report.has_unreachable());
        let mut reversed = report.clone();
        reversed.items.reverse();
        assert_eq!(report.fingerprint(), reversed.fingerprint());
        assert_eq!(
            report.to_text(),
            "h2:\n  unreachable_host: unreachable: timed out\n"
        );
    }
}
