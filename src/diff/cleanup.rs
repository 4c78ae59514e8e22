//! What a deploy leaves to tidy: stopped containers beyond `retain_containers`, images no
//! container uses, and the `latest` tag that must follow the deployed version.

use std::collections::BTreeSet;

use crate::desired::{Desired, DesiredHost};
use crate::diff::routes::remove_container_change;
use crate::diff::{Change, ChangeKind, Reason, Resource, Work};
use crate::naming::LABEL_ROLE;
use crate::observe::{HostState, ObservedContainer};

/// Stopped containers of each role beyond `retain_containers`, counting the ones this plan
/// stops: after the plan runs, the next plan must find nothing left to prune.
pub(super) fn retention_changes(
    desired: &Desired,
    host: &DesiredHost,
    state: &HostState,
    planned: &[Change],
) -> Vec<Change> {
    let removed: BTreeSet<&str> = removed_container_ids(planned);
    let mut stopping: BTreeSet<&str> = BTreeSet::new();
    let mut running: BTreeSet<&str> = BTreeSet::new();
    for change in planned {
        match &change.work {
            Work::DeployApp(deployment) => {
                stopping.extend(deployment.retire.iter().map(|c| c.id.as_str()));
                if let crate::diff::StartMode::StartExisting(container) = &deployment.start {
                    running.insert(container.id.as_str());
                }
            }
            Work::StopContainers { containers, .. } => {
                stopping.extend(containers.iter().map(|c| c.id.as_str()));
            }
            _ => {}
        }
    }
    let mut changes = Vec::new();
    for role in &host.configured_roles {
        let stopped_after: Vec<&ObservedContainer> = state
            .app_containers
            .iter()
            .filter(|c| c.details.labels.get(LABEL_ROLE) == Some(role))
            .filter(|c| !removed.contains(c.details.id.as_str()))
            .filter(|c| {
                let id = c.details.id.as_str();
                !running.contains(id) && (stopping.contains(id) || !c.details.status.is_live())
            })
            .collect();
        // Newest first already; keep the first `retain`.
        for container in stopped_after.iter().skip(desired.retain_containers) {
            changes.push(remove_container_change(
                container,
                Reason::BeyondRetention {
                    retain: desired.retain_containers,
                },
            ));
        }
    }
    changes
}

fn removed_container_ids(planned: &[Change]) -> BTreeSet<&str> {
    planned
        .iter()
        .filter_map(|change| match &change.work {
            Work::RemoveContainers { containers, .. } => Some(containers),
            _ => None,
        })
        .flatten()
        .map(|container| container.id.as_str())
        .collect()
}

/// `latest[-dest]` must name the desired version's image once the host runs it.
pub(super) fn latest_tag_change(
    desired: &Desired,
    state: &HostState,
    planned: &[Change],
) -> Option<Change> {
    let tagged_id = state.present_images.get(&desired.image).cloned().flatten();
    // The desired version's tag may be gone (removed by hand) while a container of it remains:
    // `latest` then follows that container's image, named by id.
    let container_image_id = state
        .app_containers
        .iter()
        .find(|container| container.details.image == desired.image)
        .map(|container| container.details.image_id.clone());
    let desired_id = tagged_id.clone().or_else(|| container_image_id.clone());
    let latest_id = state
        .present_images
        .get(&desired.latest_image)
        .cloned()
        .flatten();
    // An image about to be pulled may be the one `latest` already names; the pull decides.
    let pulls = planned.iter().any(|change| match &change.work {
        Work::DeployApp(deployment) => deployment.pull.is_some(),
        _ => false,
    });
    if !pulls && desired_id.is_some() && desired_id == latest_id {
        return None;
    }
    let source = match (tagged_id, pulls, container_image_id) {
        (None, false, Some(image_id)) => image_id,
        _ => desired.image.clone(),
    };
    Some(Change {
        resource: Resource::LatestTag {
            reference: desired.latest_image.clone(),
        },
        kind: if latest_id.is_none() {
            ChangeKind::Create
        } else {
            ChangeKind::Update
        },
        reason: Reason::LatestOutdated,
        fields: Vec::new(),
        work: Work::TagImage {
            source,
            target: desired.latest_image.clone(),
            previous: latest_id,
        },
    })
}

/// Images of this service that no container will use once the plan has run (Kamal's
/// `prune images`), except the desired version and `latest`.
///
/// Tags are judged as the plan leaves them: when the plan moves `latest` to the desired version,
/// the image that holds it today loses it, so an image kept only by that tag is pruned in the
/// same run (one apply converges). Such an image goes by its remaining tags, or by id when it
/// has none left: its old `latest` reference would by then name the new version. Should the
/// desired version's pull bring back this very image, Docker refuses to remove an image by id
/// while a container uses it or another tag names it, and the best-effort removal only warns.
pub(super) fn image_prune_changes(
    desired: &Desired,
    state: &HostState,
    planned: &[Change],
) -> Vec<Change> {
    let removed = removed_container_ids(planned);
    let mut in_use: BTreeSet<&str> = state
        .app_containers
        .iter()
        .filter(|c| !removed.contains(c.details.id.as_str()))
        .map(|c| c.details.image_id.as_str())
        .collect();
    in_use.extend(state.other_destination_images.iter().map(String::as_str));
    in_use.extend(
        state
            .other_app_containers
            .iter()
            .map(|c| c.image_id.as_str()),
    );
    in_use.extend(
        state
            .accessories
            .iter()
            .map(|c| c.details.image_id.as_str()),
    );
    if let Some(proxy) = &state.proxy {
        in_use.insert(proxy.details.image_id.as_str());
    }
    let latest_moves = planned.iter().any(|change| {
        matches!(&change.work, Work::TagImage { target, .. } if *target == desired.latest_image)
    });
    let mut changes = Vec::new();
    for image in &state.service_images {
        let tags_after: Vec<&String> = image
            .repo_tags
            .iter()
            .filter(|tag| !(latest_moves && **tag == desired.latest_image))
            .collect();
        let kept_by_tag = tags_after
            .iter()
            .any(|tag| **tag == desired.image || **tag == desired.latest_image);
        if in_use.contains(image.id.as_str()) || kept_by_tag {
            continue;
        }
        let references: Vec<String> = if tags_after.is_empty() {
            vec![image.id.clone()]
        } else {
            tags_after.into_iter().cloned().collect()
        };
        changes.push(Change {
            resource: Resource::Image {
                reference: references.join(", "),
            },
            kind: ChangeKind::Remove,
            reason: Reason::Unused,
            fields: Vec::new(),
            work: Work::RemoveImages { references },
        });
    }
    changes
}
