//! Changes → drift items: which [`DriftClass`] each change and note of a diff is, and which
//! the `x-gantry.drift.ignore` patterns leave out.
//!
//! Input: the [`Changes`] of a diff against the running version. Output: [`DriftItem`]s in the
//! diff's order (hosts as deploy.yml lists them). Pure. Housekeeping a deploy does anyway
//! (containers beyond retention, unused images, the `latest` tag, accessory directories) is not
//! drift; a held deploy lock is reported on the report, not as an item.

use crate::diff::{Change, ChangeKind, Changes, Note, Reach, Reason, Resource, Work};
use crate::drift::{DriftClass, DriftItem};
use crate::plan::render::{field_text, note_text, reason_text, resource_text};

/// The drift in `changes`, minus what `ignore` patterns match ([`ignore_matches`]).
pub fn classify(changes: &Changes, ignore: &[String]) -> Vec<DriftItem> {
    let ignored = |address: &str| {
        ignore
            .iter()
            .any(|pattern| ignore_matches(pattern, address))
    };
    let mut items = Vec::new();
    for host in &changes.hosts {
        if let Reach::Unreachable { reason } = &host.reach {
            if !ignored(&host.host) {
                items.push(DriftItem {
                    host: host.host.clone(),
                    address: host.host.clone(),
                    class: DriftClass::UnreachableHost,
                    summary: format!("unreachable, not checked: {reason}"),
                    details: Vec::new(),
                });
            }
            continue;
        }
        for change in &host.changes {
            let Some(class) = change_class(change) else {
                continue;
            };
            let address = format!("{}/{}", host.host, change.resource.path());
            if ignored(&address) {
                continue;
            }
            let summary = match (class, &change.work, running_instead(change)) {
                (DriftClass::VersionSkew, Work::DeployApp(deployment), Some(others)) => format!(
                    "app {}: {} runs instead of {} ({})",
                    deployment.role,
                    others.join(", "),
                    deployment.spec.name,
                    reason_text(&change.reason)
                ),
                _ => format!(
                    "{} ({})",
                    resource_text(change),
                    reason_text(&change.reason)
                ),
            };
            items.push(DriftItem {
                host: host.host.clone(),
                summary,
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

/// The class of one change; `None` for housekeeping.
fn change_class(change: &Change) -> Option<DriftClass> {
    let class = match (&change.resource, change.kind, &change.reason) {
        (Resource::App { .. }, _, Reason::Missing) => DriftClass::MissingContainer,
        // The role's container for this version is stopped and another one runs: the host was
        // deployed another version since (a rollback or a partial deploy).
        (Resource::App { .. }, _, Reason::NotRunning { .. })
            if running_instead(change).is_some() =>
        {
            DriftClass::VersionSkew
        }
        (
            Resource::App { .. } | Resource::Accessory { .. } | Resource::Proxy,
            _,
            Reason::NotRunning { .. },
        ) => DriftClass::StoppedContainer,
        (Resource::App { .. }, _, Reason::NewVersion { .. }) => DriftClass::VersionSkew,
        // The version's container failed to boot and is kept stopped while the old one runs.
        (Resource::App { .. }, _, Reason::FailedBoot) => DriftClass::VersionSkew,
        (Resource::App { .. }, _, Reason::ImageChanged) => DriftClass::ImageMismatch,
        (Resource::App { .. }, _, _) => {
            if change.fields.iter().any(|field| field.field == "image") {
                DriftClass::ImageMismatch
            } else {
                DriftClass::ConfigMismatch
            }
        }
        (Resource::File { owner, .. }, _, _) => match owner {
            crate::diff::FileOwner::RoleEnv(_)
            | crate::diff::FileOwner::ErrorPage
            | crate::diff::FileOwner::RoleTls(_) => DriftClass::ConfigMismatch,
            crate::diff::FileOwner::AccessoryEnv(_) | crate::diff::FileOwner::AccessoryFile(_) => {
                DriftClass::AccessoryChanged
            }
        },
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

/// The role's other containers that run while the one for this version is stopped (the ones
/// the deploy would retire), by name; `None` when there are none.
fn running_instead(change: &Change) -> Option<Vec<String>> {
    let (Reason::NotRunning { .. }, Work::DeployApp(deployment)) = (&change.reason, &change.work)
    else {
        return None;
    };
    let others: Vec<String> = deployment
        .retire
        .iter()
        .filter(|container| container.name != deployment.spec.name)
        .map(|container| container.name.clone())
        .collect();
    (!others.is_empty()).then_some(others)
}

/// The class of one note and the path of its resource; `None` for the deploy lock.
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
        Note::RouteConflict { service, .. } => {
            Some((DriftClass::RouteTakenOver, format!("route/{service}")))
        }
        // The container that would publish the port is not running: its drift is reported
        // as missing; the conflict is what plan and apply say.
        Note::PortConflict { .. } => None,
        // An old proxy's image differs from deploy.yml's too: `proxy_container_outdated`.
        Note::Locked(_) | Note::ProxyBootFilesIgnored { .. } | Note::ProxyTooOld { .. } => None,
        // Maintenance is state the user chose: the report lists it apart from drift.
        Note::Maintenance { .. } => None,
    }
}

/// Whether an ignore pattern matches an address: the whole address must match, `*` matches any
/// run of characters (`/` included), everything else is literal (no `?`, no classes).
/// `10.0.0.5*` matches that host and everything on it; `*/route/*` every route everywhere.
pub fn ignore_matches(pattern: &str, address: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == address,
        Some((head, tail)) => {
            let Some(rest) = address.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&index| rest.is_char_boundary(index))
                .any(|index| ignore_matches(tail, &rest[index..]))
        }
    }
}
