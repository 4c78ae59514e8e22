//! One host: the network, the proxy and the env files here; the apps, routes, accessories and
//! cleanup through their own modules, in the order their changes should read.

use crate::desired::{
    Desired, DesiredFile, DesiredHost, DesiredProxy, expand_home, proxy_for_host,
};
use crate::diff::accessory::diff_accessory;
use crate::diff::app::{container_ref, diff_app};
use crate::diff::cleanup::{image_prune_changes, latest_tag_change, retention_changes};
use crate::diff::conflicts::{port_conflicts, route_conflicts};
use crate::diff::container::container_fields;
use crate::diff::routes::{maintenance_notes, orphan_changes, orphan_roles, stale_routes};
use crate::diff::{
    Change, ChangeKind, ContainerRef, DiffOptions, FileOwner, HostChanges, Note, ProxyBoot, Reach,
    Reason, Resource, Work,
};
use crate::model::ContainerSpec;
use crate::observe::HostState;

/// Every change one reachable host needs.
pub(super) fn diff_host(
    desired: &Desired,
    host: &DesiredHost,
    state: &HostState,
    options: DiffOptions,
) -> HostChanges {
    let host = &with_foreign_roots(desired, host, state);
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    if let Some(lock) = &state.lock {
        notes.push(Note::Locked(lock.clone()));
    }
    if let Some(note) = interrupted_run(state) {
        notes.push(note);
    }

    if let Some(network) = &host.network
        && !state.networks.contains(network)
    {
        changes.push(Change {
            resource: Resource::Network {
                name: network.clone(),
            },
            kind: ChangeKind::Create,
            reason: Reason::Missing,
            fields: Vec::new(),
            work: Work::CreateNetwork {
                name: network.clone(),
            },
        });
    }

    diff_proxy(host, state, options, &mut changes, &mut notes);
    notes.extend(route_conflicts(host, state));
    notes.extend(port_conflicts(host, state));
    notes.extend(maintenance_notes(host, state));

    for app in &host.apps {
        if let Some(change) =
            file_change(&app.env_file, FileOwner::RoleEnv(app.role.clone()), state)
        {
            changes.push(change);
        }
        for file in &app.tls_files {
            changes.extend(file_change(
                file,
                FileOwner::RoleTls(app.role.clone()),
                state,
            ));
        }
    }
    // Kamal uploads the pages before any role boots: kamal-proxy refuses a deploy whose pages
    // directory is missing.
    for page in &host.error_pages {
        if let Some(change) = file_change(page, FileOwner::ErrorPage, state) {
            changes.push(change);
        }
    }
    let mut app_changes = Vec::new();
    for app in &host.apps {
        app_changes.extend(diff_app(desired, app, state));
    }

    let orphans = orphan_roles(host, state);
    changes.extend(orphan_changes(desired, &orphans, state));
    changes.extend(stale_routes(desired, host, state));
    changes.extend(app_changes);

    for accessory in &host.accessories {
        diff_accessory(accessory, state, options, &mut changes, &mut notes);
    }
    for container in &state.accessories {
        if !host
            .configured_accessories
            .contains(&container.details.name)
        {
            notes.push(Note::AccessoryNotInConfig {
                container: container.details.name.clone(),
            });
        }
    }

    changes.extend(retention_changes(desired, host, state, &changes));
    if !host.apps.is_empty() {
        changes.extend(latest_tag_change(desired, state, &changes));
    }
    changes.extend(image_prune_changes(desired, state, &changes));

    HostChanges {
        host: host.name.clone(),
        reach: Reach::Reachable,
        changes,
        notes,
    }
}

/// The host with its path-prefixed routes' TLS settings as kamal-proxy will store them when
/// the `/` route of their host belongs to another app on the same proxy (the desired state
/// knows only this app's routes).
fn with_foreign_roots(desired: &Desired, host: &DesiredHost, state: &HostState) -> DesiredHost {
    let mut host = host.clone();
    let own_prefix = format!("{}-", desired.names.service());
    let ours: Vec<String> = host
        .apps
        .iter()
        .filter_map(|app| app.route.as_ref())
        .chain(host.accessories.iter().filter_map(|acc| acc.route.as_ref()))
        .map(|route| route.service.clone())
        .collect();
    let others: Vec<&crate::kamal_proxy::RouteSettings> = state
        .routes
        .iter()
        .flatten()
        // This app's routes under other names (stale ones) are not another app's.
        .filter(|route| !ours.contains(&route.service) && !route.service.starts_with(&own_prefix))
        .map(|route| &route.settings)
        .collect();
    crate::kamal_proxy::inherit_foreign_root_tls(&mut host.route_settings_mut(), &others);
    host
}

/// A gantry run whose journal on this host never recorded its end, and what it left.
fn interrupted_run(state: &HostState) -> Option<Note> {
    let journal = crate::records::journal::Journal::parse(state.journal.as_deref()?)?;
    if !journal.unfinished() {
        return None;
    }
    let created: Vec<String> = state
        .app_containers
        .iter()
        .chain(state.accessories.iter())
        .filter(|c| c.details.labels.get(crate::naming::LABEL_GANTRY_RUN) == Some(&journal.run))
        .map(|c| format!("{} ({})", c.details.name, c.details.status))
        .collect();
    let mut detail = format!(
        "`gantry {}` of version {} by {} at {} never finished here (still running, or killed)",
        journal.command, journal.version, journal.by, journal.started_at
    );
    if !created.is_empty() {
        detail.push_str(&format!("; it created {}", created.join(", ")));
    }
    detail.push_str("; this plan completes or cleans up what it left");
    Some(Note::Interrupted {
        run: journal.run,
        detail,
    })
}

/// Booting the proxy on a host observed as `state`, after removing `replaces` (a reboot: the
/// routes survive in the `kamal-proxy-config` volume). Also `gantry proxy reboot`'s.
pub fn proxy_boot(proxy: &DesiredProxy, state: &HostState, replaces: Option<ContainerRef>) -> Work {
    let spec = host_proxy_spec(proxy, state).0;
    let pull = !matches!(state.present_images.get(&spec.image), Some(Some(_)));
    let auth = proxy.auth_for(&spec.image);
    Work::BootProxy(Box::new(ProxyBoot {
        spec,
        apps_config_dir: proxy.apps_config_dir.clone(),
        pull,
        auth,
        replaces,
    }))
}

fn diff_proxy(
    host: &DesiredHost,
    state: &HostState,
    options: DiffOptions,
    changes: &mut Vec<Change>,
    notes: &mut Vec<Note>,
) {
    let Some(proxy) = &host.proxy else { return };
    let (spec, unusable) = host_proxy_spec(proxy, state);
    if let Some(reason) = unusable {
        notes.push(Note::ProxyBootFilesIgnored { reason });
    }
    let boot = |replaces: Option<ContainerRef>| proxy_boot(proxy, state, replaces);
    let Some(current) = &state.proxy else {
        changes.push(Change {
            resource: Resource::Proxy,
            kind: ChangeKind::Create,
            reason: Reason::Missing,
            fields: Vec::new(),
            work: boot(None),
        });
        return;
    };
    let fields = container_fields(&spec, current);
    // A proxy too old for Kamal's deploys is refused unless this plan replaces it.
    let replaced = options.reboot_proxy && !fields.is_empty();
    if !replaced && let Some(version) = crate::kamal_proxy::too_old_version(&current.details.image)
    {
        notes.push(Note::ProxyTooOld {
            version: version.to_string(),
        });
    }
    if !fields.is_empty() {
        if options.reboot_proxy {
            changes.push(Change {
                resource: Resource::Proxy,
                kind: ChangeKind::Replace,
                reason: Reason::ConfigChanged,
                fields,
                work: boot(Some(container_ref(current))),
            });
            return;
        }
        notes.push(Note::ProxyOutdated { fields });
    }
    if !current.details.status.is_live() {
        changes.push(Change {
            resource: Resource::Proxy,
            kind: ChangeKind::Update,
            reason: Reason::NotRunning {
                status: current.details.status.to_string(),
            },
            fields: Vec::new(),
            work: Work::StartContainer {
                container: container_ref(current),
            },
        });
    }
}

/// The proxy container this host should run: deploy.yml's, or what the host's Kamal boot files
/// say when deploy.yml has no `proxy.run`; with why the files were passed over when they cannot
/// be read as Kamal reads them.
fn host_proxy_spec(proxy: &DesiredProxy, state: &HostState) -> (ContainerSpec, Option<String>) {
    let (spec, unusable) = match proxy_for_host(proxy, state.proxy_boot.as_ref()) {
        Ok(spec) => (spec, None),
        Err(error) => (proxy.container.clone(), Some(error.to_string())),
    };
    (expand_home(&spec, &state.home), unusable)
}

/// A file whose fingerprint on the host differs from the desired contents.
fn file_change(file: &DesiredFile, owner: FileOwner, state: &HostState) -> Option<Change> {
    let current = state.file_fingerprints.get(&file.path).cloned().flatten();
    let (kind, reason) = match current {
        None => (ChangeKind::Create, Reason::Missing),
        Some(fingerprint) if fingerprint != file.fingerprint => {
            (ChangeKind::Update, Reason::ContentChanged)
        }
        Some(_) => return None,
    };
    Some(Change {
        resource: Resource::File {
            path: file.path.clone(),
            owner,
        },
        kind,
        reason,
        fields: Vec::new(),
        work: Work::WriteFile { file: file.clone() },
    })
}
