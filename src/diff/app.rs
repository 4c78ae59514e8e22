//! One role on one host: which container should run, what must start, what must stop.
//!
//! The desired container is the one named `<svc>-<role>[-<dest>]-<version>`. If it exists with
//! the desired configuration it is kept (and started if stopped: that is how a rollback to a
//! retained version works); if it exists with another configuration it is renamed out of the
//! way as Kamal does (`_replaced_<hex>`) and a new one is created; if it does not exist it is
//! created. Every other running container of the role is retired once the new one serves.

use sha2::{Digest, Sha256};

use crate::desired::{Desired, DesiredApp, DesiredAssets, expand_home};
use crate::diff::container::container_fields;
use crate::diff::routes::{previous_route, route_change};
use crate::diff::{
    AppDeployment, AssetBridge, Change, ChangeKind, ContainerRef, FieldChange, OlderVersions,
    PreviousRoute, PullImage, Reason, Resource, StartMode, Work,
};
use crate::model::{ContainerSpec, DirectoryMerge, split_reference};
use crate::observe::{HostState, ObservedContainer};

/// The changes one role needs on one host.
pub(super) fn diff_app(desired: &Desired, app: &DesiredApp, state: &HostState) -> Vec<Change> {
    let spec = expand_home(&app.container, &state.home);
    let role_containers: Vec<&ObservedContainer> = state
        .app_containers
        .iter()
        .filter(|container| container.details.labels.get("role") == Some(&app.role))
        .collect();
    let target = role_containers
        .iter()
        .find(|container| container.details.name == spec.name)
        .copied();
    let running_others: Vec<&ObservedContainer> = role_containers
        .iter()
        .filter(|container| {
            container.details.name != spec.name && container.details.status.is_live()
        })
        .copied()
        .collect();
    let registry_moved = registry_digest_change(state, &desired.image);
    let pull = match state.present_images.get(&desired.image) {
        Some(Some(_)) if registry_moved.is_none() => None,
        _ => Some(PullImage {
            image: desired.image.clone(),
            auth: desired.registry_auth.clone(),
        }),
    };
    let role = RoleOnHost {
        desired,
        app,
        state,
        spec,
        running_others,
        pull,
    };
    let Some(target) = target else {
        return vec![role.missing()];
    };
    let mut fields = container_fields(&role.spec, target);
    let image_change = registry_moved.or_else(|| stale_image(state, &desired.image, target));
    let reason = match (fields.is_empty(), image_change) {
        (true, None) => None,
        (true, Some(change)) => {
            fields.push(change);
            Some(Reason::ImageChanged)
        }
        (false, change) => {
            fields.extend(change);
            Some(Reason::ConfigChanged)
        }
    };
    // A new version that failed to boot was stopped and kept for inspection; Kamal's next
    // deploy renames it aside and boots a fresh container, and so does this one. A retained
    // version (a rollback) is started again instead.
    let reason = reason.or_else(|| {
        role.running_others
            .iter()
            .any(|serving| target.failed_to_take_over(serving))
            .then_some(Reason::FailedBoot)
    });
    if let Some(reason) = reason {
        return vec![role.replace(target, reason, fields)];
    }
    if !target.details.status.is_live() {
        return vec![role.start_again(target)];
    }
    role.running(target)
}

/// One role on one host, as observed: what each case of [`diff_app`] builds its change from.
struct RoleOnHost<'a> {
    desired: &'a Desired,
    app: &'a DesiredApp,
    state: &'a HostState,
    /// The desired container, `$PWD` expanded to the host's home.
    spec: ContainerSpec,
    /// The role's live containers other than the desired one: retired by a deployment.
    running_others: Vec<&'a ObservedContainer>,
    /// `None` when the host has the image and the registry has not moved the tag.
    pull: Option<PullImage>,
}

impl RoleOnHost<'_> {
    fn resource(&self) -> Resource {
        Resource::App {
            role: self.app.role.clone(),
        }
    }

    fn retire(&self) -> Vec<ContainerRef> {
        self.running_others
            .iter()
            .map(|container| container_ref(container))
            .collect()
    }

    fn deployment(
        &self,
        start: StartMode,
        retire: Vec<ContainerRef>,
        pull: Option<PullImage>,
    ) -> Work {
        let (desired, app) = (self.desired, self.app);
        // Also before a retained container starts again (a rollback): Kamal's clean-up after
        // the deploy that stopped it removed its asset volume.
        let assets = asset_bridge(desired, app, &retire);
        let prune_versions = if retire.is_empty() {
            Vec::new()
        } else {
            older_versions(desired, app)
        };
        Work::DeployApp(Box::new(AppDeployment {
            assets,
            prune_versions,
            role: app.role.clone(),
            primary: app.primary,
            spec: self.spec.clone(),
            pull,
            start,
            route: app.route.clone(),
            previous_route: app.route.as_ref().map_or(PreviousRoute::Absent, |route| {
                previous_route(&route.service, self.state)
            }),
            readiness: app.readiness.clone(),
            retire,
            stop_timeout: app.stop_timeout,
            service_label: desired.names.service().to_string(),
        }))
    }

    /// No container of the desired name in this role: create it (a new version replaces the
    /// running one).
    fn missing(&self) -> Change {
        // Kamal renames whatever container holds the new one's name before creating it
        // (`boot.rb`), whatever its labels; one without a role label, or of another
        // destination, is not this role's otherwise.
        let start = match self
            .state
            .other_app_containers
            .iter()
            .find(|container| container.name == self.spec.name)
        {
            Some(holder) => StartMode::RenameAndCreate {
                existing: ContainerRef {
                    id: holder.id.clone(),
                    name: holder.name.clone(),
                },
                rename_to: format!("{}_replaced_{}", holder.name, replaced_suffix(&holder.id)),
            },
            None => StartMode::Create,
        };
        let (kind, reason, fields) = match self.running_others.first() {
            Some(current) => (
                ChangeKind::Replace,
                Reason::NewVersion {
                    from: self
                        .desired
                        .names
                        .version_of(&self.app.role, &current.details.name)
                        .map(str::to_string),
                    to: self.desired.version.clone(),
                },
                container_fields(&self.spec, current),
            ),
            None => (ChangeKind::Create, Reason::Missing, Vec::new()),
        };
        Change {
            resource: self.resource(),
            kind,
            reason,
            fields,
            work: self.deployment(start, self.retire(), self.pull.clone()),
        }
    }

    /// The desired container exists with another configuration or image: renamed out of the way,
    /// a new one created.
    fn replace(
        &self,
        target: &ObservedContainer,
        reason: Reason,
        fields: Vec<FieldChange>,
    ) -> Change {
        let mut retire = self.retire();
        if target.details.status.is_live() {
            retire.push(container_ref(target));
        }
        let existing = container_ref(target);
        let rename_to = format!(
            "{}_replaced_{}",
            existing.name,
            replaced_suffix(&existing.id)
        );
        let start = StartMode::RenameAndCreate {
            existing,
            rename_to,
        };
        Change {
            resource: self.resource(),
            kind: ChangeKind::Replace,
            reason,
            fields,
            work: self.deployment(start, retire, self.pull.clone()),
        }
    }

    /// The desired container exists as wanted but does not run (a rollback to a retained
    /// version): start it again, no pull.
    fn start_again(&self, target: &ObservedContainer) -> Change {
        Change {
            resource: self.resource(),
            kind: ChangeKind::Update,
            reason: Reason::NotRunning {
                status: target.details.status.to_string(),
            },
            fields: Vec::new(),
            work: self.deployment(
                StartMode::StartExisting(container_ref(target)),
                self.retire(),
                None,
            ),
        }
    }

    /// The right container runs: only its route and stray older containers can be off.
    fn running(&self, target: &ObservedContainer) -> Vec<Change> {
        let app = self.app;
        let mut changes = Vec::new();
        if let Some(route) = &app.route
            && let Some(change) = route_change(
                route,
                &container_ref(target),
                self.state,
                tls_files_change(app, self.state),
            )
        {
            changes.push(change);
        }
        for other in &self.running_others {
            changes.push(Change {
                resource: Resource::Container {
                    name: other.details.name.clone(),
                },
                kind: ChangeKind::Update,
                reason: Reason::NotCurrent,
                fields: Vec::new(),
                work: Work::StopContainers {
                    containers: vec![container_ref(other)],
                    timeout: app.stop_timeout,
                },
            });
        }
        changes
    }
}

/// The host's and the registry's digest of `image` when they differ: the tag was pushed again
/// since the host pulled it. Unknown digests (the registry did not answer, an image loaded
/// rather than pulled) are no difference.
fn registry_digest_change(state: &HostState, image: &str) -> Option<FieldChange> {
    let registry = state.registry_digests.get(image)?;
    let (repository, _) = split_reference(image);
    let on_host = state
        .present_image_digests
        .get(image)?
        .iter()
        .find_map(|digest| {
            digest
                .strip_prefix(repository)
                .and_then(|rest| rest.strip_prefix('@'))
        })?;
    (on_host != registry).then(|| FieldChange {
        field: "image digest".to_string(),
        before: Some(on_host.to_string()),
        after: Some(registry.clone()),
        sensitive: false,
    })
}

/// The image id the container runs and the one its tag names on the host, when they differ:
/// the tag moved (a pull of the re-pushed tag) and the container still runs the old image.
fn stale_image(
    state: &HostState,
    image: &str,
    container: &ObservedContainer,
) -> Option<FieldChange> {
    let tagged = state.present_images.get(image)?.as_ref()?;
    let running = &container.details.image_id;
    (!running.is_empty() && running != tagged).then(|| FieldChange {
        field: "image id".to_string(),
        before: Some(running.clone()),
        after: Some(tagged.clone()),
        sensitive: false,
    })
}

/// True when a TLS file of the role differs from the host's copy (or is missing there).
fn tls_files_change(app: &DesiredApp, state: &HostState) -> bool {
    app.tls_files.iter().any(|file| {
        state.file_fingerprints.get(&file.path).cloned().flatten() != Some(file.fingerprint.clone())
    })
}

/// The id and name of an observed container.
pub fn container_ref(container: &ObservedContainer) -> ContainerRef {
    ContainerRef {
        id: container.details.id.clone(),
        name: container.details.name.clone(),
    }
}

/// 16 hex digits for Kamal's `_replaced_` suffix, derived from the container id so that two
/// plans of the same world agree.
fn replaced_suffix(container_id: &str) -> String {
    hex::encode(&Sha256::digest(container_id.as_bytes())[..8])
}

/// The asset steps of a deployment of a role with assets: the previous version is the newest
/// running container the deployment retires (Kamal's `current_running_version`).
fn asset_bridge(
    desired: &Desired,
    app: &DesiredApp,
    retire: &[ContainerRef],
) -> Option<AssetBridge> {
    let assets = app.assets.as_ref()?;
    let extracted_of = |version: &str| {
        format!(
            "{}/{}",
            assets.extracted_dir,
            DesiredAssets::entry(&app.role, version)
        )
    };
    let volume_of = |version: &str| {
        format!(
            "{}/{}",
            assets.volumes_dir,
            DesiredAssets::entry(&app.role, version)
        )
    };
    let extracted = extracted_of(&desired.version);
    let volume = volume_of(&desired.version);
    let mut merges = vec![DirectoryMerge {
        source: extracted.clone(),
        destination: volume.clone(),
        required: true,
    }];
    let new_volume = volume.clone();
    let previous = retire
        .iter()
        .filter_map(|container| desired.names.version_of(&app.role, &container.name))
        .find(|version| *version != desired.version);
    if let Some(previous) = previous {
        merges.push(DirectoryMerge {
            source: extracted.clone(),
            destination: volume_of(previous),
            required: false,
        });
        merges.push(DirectoryMerge {
            source: extracted_of(previous),
            destination: volume,
            required: false,
        });
    }
    Some(AssetBridge {
        image: desired.image.clone(),
        container: assets.container.clone(),
        asset_path: assets.asset_path.clone(),
        extracted,
        volume: new_volume,
        merges,
    })
}

/// What Kamal cleans after stopping the old version: other versions' asset directories of the
/// role, and other versions' error pages.
fn older_versions(desired: &Desired, app: &DesiredApp) -> Vec<OlderVersions> {
    let mut older = Vec::new();
    if let Some(assets) = &app.assets {
        for directory in [&assets.extracted_dir, &assets.volumes_dir] {
            older.push(OlderVersions {
                directory: directory.clone(),
                prefix: format!("{}-", app.role),
                keep: DesiredAssets::entry(&app.role, &desired.version),
            });
        }
    }
    if let Some(directory) = &desired.error_pages_dir {
        older.push(OlderVersions {
            directory: directory.clone(),
            prefix: String::new(),
            keep: desired.version.clone(),
        });
    }
    older
}
