//! Accessories: booted when missing, started when stopped, and never replaced silently: a changed
//! accessory is reported (kamal#1808) and replaced only with `--recreate-accessories`, keeping
//! its data, which lives in volumes and directories the container removal leaves alone.

use crate::desired::{DesiredAccessory, expand_home};
use crate::diff::app::container_ref;
use crate::diff::container::container_fields;
use crate::diff::routes::route_change;
use crate::diff::{
    AccessoryBoot, Change, ChangeKind, ContainerRef, DiffOptions, FieldChange, Note, PullImage,
    Reason, Resource, Work,
};
use crate::observe::HostState;

/// Booting `accessory` on a host observed as `state`: its files and directories first, a pull
/// when the host lacks the image, and `replaces` removed first (its data stays: it lives in the
/// directories and volumes, which the removal leaves alone). Also `gantry accessory reboot`'s.
pub fn accessory_boot(
    accessory: &DesiredAccessory,
    state: &HostState,
    replaces: Option<ContainerRef>,
) -> Work {
    let spec = expand_home(&accessory.container, &state.home);
    let pull = match state.present_images.get(&spec.image) {
        Some(Some(_)) => None,
        _ => Some(PullImage {
            image: spec.image.clone(),
            auth: accessory.registry_auth.clone(),
        }),
    };
    let mut files = vec![accessory.env_file.clone()];
    files.extend(accessory.files.iter().cloned());
    Work::BootAccessory(Box::new(AccessoryBoot {
        name: accessory.name.clone(),
        spec,
        pull,
        files,
        directories: accessory.directories.clone(),
        replaces,
        route: accessory.route.clone(),
    }))
}

pub(super) fn diff_accessory(
    accessory: &DesiredAccessory,
    state: &HostState,
    options: DiffOptions,
    changes: &mut Vec<Change>,
    notes: &mut Vec<Note>,
) {
    let spec = expand_home(&accessory.container, &state.home);
    let mut files = vec![accessory.env_file.clone()];
    files.extend(accessory.files.iter().cloned());
    let boot = |replaces: Option<ContainerRef>| accessory_boot(accessory, state, replaces);
    let resource = Resource::Accessory {
        name: accessory.name.clone(),
    };
    let observed = state
        .accessories
        .iter()
        .find(|container| container.details.name == spec.name);
    let Some(observed) = observed else {
        changes.push(Change {
            resource,
            kind: ChangeKind::Create,
            reason: Reason::Missing,
            fields: Vec::new(),
            work: boot(None),
        });
        return;
    };

    let mut fields = container_fields(&spec, observed);
    for file in &files {
        let current = state.file_fingerprints.get(&file.path).cloned().flatten();
        if current.as_deref() != Some(file.fingerprint.as_str()) {
            let sensitive = file.path == accessory.env_file.path;
            fields.push(FieldChange {
                field: format!("file {}", file.path),
                before: None,
                after: None,
                sensitive,
            });
        }
    }
    if !fields.is_empty() {
        if options.recreate_accessories {
            changes.push(Change {
                resource,
                kind: ChangeKind::Replace,
                reason: Reason::ConfigChanged,
                fields,
                work: boot(Some(container_ref(observed))),
            });
            return;
        }
        notes.push(Note::AccessoryChanged {
            name: accessory.name.clone(),
            fields,
        });
    }
    if !observed.details.status.is_live() {
        changes.push(Change {
            resource,
            kind: ChangeKind::Update,
            reason: Reason::NotRunning {
                status: observed.details.status.to_string(),
            },
            fields: Vec::new(),
            work: Work::StartContainer {
                container: container_ref(observed),
            },
        });
    }
    if let Some(route) = &accessory.route
        && let Some(change) = route_change(route, &container_ref(observed), state, false)
    {
        changes.push(change);
    }
}
