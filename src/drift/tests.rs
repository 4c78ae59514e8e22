//! Drift classes, the running version and the report, on worlds built in code.

use super::*;
use crate::diff::{DiffOptions, diff};
use crate::host::ContainerStatus;
use crate::observe::{HostState, ObservedHost};
use crate::testing::{self, observed_of, state_mut};

fn drift(config: &crate::config::Config, observed: &Observed, ignore: &[String]) -> Vec<DriftItem> {
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

fn report(items: Vec<DriftItem>) -> DriftReport {
    DriftReport {
        format_version: FORMAT_VERSION.into(),
        service: "app".into(),
        version: "v1".into(),
        items,
        ..DriftReport::default()
    }
}

#[test]
fn a_converged_world_has_no_drift_and_prints_nothing() {
    let config = testing::config(&["h1", "h2"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let items = drift(&config, &observed, &[]);
    assert!(items.is_empty());
    assert_eq!(report(items).to_text(), "");
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
fn a_host_rolled_to_another_version_beside_a_stopped_current_one_is_skew() {
    let config = testing::config(&["h1", "h2", "h3"]);
    let mut observed = observed_of(&testing::desired(&config, "v1"));
    let mut stopped = state_mut(&mut observed, "h3").app_containers[0].clone();
    stopped.details.status = ContainerStatus::Exited;
    let v2 = observed_of(&testing::desired(&config, "v2"));
    observed.hosts.insert("h3".into(), v2.hosts["h3"].clone());
    state_mut(&mut observed, "h3").app_containers.push(stopped);
    let items = drift(&config, &observed, &[]);
    assert_eq!(
        classes(&items),
        vec![("h3/app/web".to_string(), DriftClass::VersionSkew)]
    );
    assert_eq!(
        items[0].summary,
        "app web: app-web-v2 runs instead of app-web-v1 (exited, should be running)"
    );
}

#[test]
fn a_stopped_host_still_counts_for_its_version_and_ties_go_to_the_newest() {
    let config = testing::config(&["h1", "h2", "h3"]);
    let names = ServiceNames::for_config(&config);
    let mut observed = observed_of(&testing::desired(&config, "v1"));
    let v2 = observed_of(&testing::desired(&config, "v2"));
    observed.hosts.insert("h3".into(), v2.hosts["h3"].clone());
    // h1's only container is stopped: h1 still runs v1 as far as the majority goes.
    state_mut(&mut observed, "h1").app_containers[0]
        .details
        .status = ContainerStatus::Exited;
    assert_eq!(running_version(&observed, &names).as_deref(), Some("v1"));
    // One host each: the newest container's version wins, not the name's order.
    let mut tie = observed_of(&testing::desired(&config, "v1"));
    tie.hosts.remove("h3");
    let v0 = observed_of(&testing::desired(&config, "v0"));
    tie.hosts.insert("h2".into(), v0.hosts["h2"].clone());
    state_mut(&mut tie, "h2").app_containers[0].details.created = "2026-02-01T00:00:00Z".into();
    assert_eq!(running_version(&tie, &names).as_deref(), Some("v0"));
    let mut empty = observed.clone();
    for host in ["h1", "h2", "h3"] {
        state_mut(&mut empty, host).app_containers.clear();
    }
    assert_eq!(running_version(&empty, &names), None);
}

#[test]
fn the_version_comes_from_the_flag_the_hosts_the_last_run_or_the_checkout() {
    let config = testing::config(&["h1"]);
    let names = ServiceNames::for_config(&config);
    let mut observed = observed_of(&testing::desired(&config, "v1"));
    assert_eq!(
        choose_version(Some("v9"), &observed, &names, "git"),
        ("v9".to_string(), VersionSource::Flag)
    );
    assert_eq!(
        choose_version(None, &observed, &names, "git"),
        ("v1".to_string(), VersionSource::Running)
    );
    let state: &mut HostState = state_mut(&mut observed, "h1");
    state.app_containers.clear();
    assert_eq!(
        choose_version(None, &observed, &names, "git"),
        ("git".to_string(), VersionSource::Local)
    );
    state_mut(&mut observed, "h1").journal = Some(
        serde_json::json!({
            "run": "r1", "command": "apply", "by": "jane", "version": "v7",
            "started_at": "2026-11-26T10:00:00Z", "status": "converged", "actions": [],
            "finished_at": null,
        })
        .to_string(),
    );
    assert_eq!(
        choose_version(None, &observed, &names, "git"),
        ("v7".to_string(), VersionSource::LastRun)
    );
}

#[test]
fn stopped_changed_missing_and_misrouted_things_are_classified() {
    let config = testing::config(&["h1", "h2", "h3", "h4"]);
    let mut observed = observed_of(&testing::desired(&config, "v1"));
    state_mut(&mut observed, "h1").app_containers[0]
        .details
        .status = ContainerStatus::Exited;
    state_mut(&mut observed, "h2").app_containers[0]
        .details
        .env
        .push("DEBUG=1".into());
    state_mut(&mut observed, "h3").routes = Some(Vec::new());
    let h4 = state_mut(&mut observed, "h4");
    h4.proxy = None;
    h4.networks.clear();
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
            ("h4/network/kamal".to_string(), DriftClass::NetworkMissing),
            ("h4/proxy".to_string(), DriftClass::ProxyContainerMissing),
        ]
    );
    assert_eq!(items[1].details, vec!["- env.DEBUG"]);
    let ignored = drift(
        &config,
        &observed,
        &[
            "*/route/*".to_string(),
            "h1/*".to_string(),
            "h4/*".to_string(),
        ],
    );
    assert_eq!(
        classes(&ignored),
        vec![("h2/app/web".to_string(), DriftClass::ConfigMismatch)]
    );
}

#[test]
fn a_changed_secret_is_env_drift_without_its_values() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let container = &mut state_mut(&mut observed, "h1").app_containers[0].details;
    let secret = container
        .env
        .iter_mut()
        .find(|entry| entry.starts_with("DB_PASSWORD="))
        .expect("the test config has a DB_PASSWORD secret");
    *secret = "DB_PASSWORD=old-hunter2".into();
    let file = &desired.hosts[0].apps[0].env_file.path;
    state_mut(&mut observed, "h1")
        .file_fingerprints
        .insert(file.clone(), Some("sha256:old".into()));
    let items = drift(&config, &observed, &[]);
    assert_eq!(
        classes(&items)
            .into_iter()
            .map(|(_, class)| class)
            .collect::<Vec<_>>(),
        vec![DriftClass::ConfigMismatch, DriftClass::ConfigMismatch]
    );
    let text = report(items.clone()).to_text();
    let json = serde_json::to_string(&items).unwrap();
    assert!(
        text.contains("~ env.DB_PASSWORD: (sensitive value changed)"),
        "{text}"
    );
    for secret in ["old-hunter2", "s3cret-db"] {
        assert!(!text.contains(secret), "{text}");
        assert!(!json.contains(secret), "{json}");
    }
}

#[test]
fn unreachable_hosts_are_reported_and_the_fingerprint_ignores_order_and_reason() {
    let config = testing::config(&["h1", "h2"]);
    let mut observed = observed_of(&testing::desired(&config, "v1"));
    observed.hosts.insert(
        "h2".into(),
        ObservedHost::Unreachable {
            reason: "timed out".into(),
        },
    );
    state_mut(&mut observed, "h1").app_containers[0]
        .details
        .status = ContainerStatus::Exited;
    let items = drift(&config, &observed, &[]);
    let report = report(items);
    assert!(report.has_unreachable());
    let mut reversed = report.clone();
    reversed.items.reverse();
    assert_eq!(report.fingerprint(), reversed.fingerprint());
    let mut refused = report.clone();
    refused.items[1].summary = "unreachable, not checked: connection refused".into();
    assert_eq!(report.fingerprint(), refused.fingerprint());
    let mut other = report.clone();
    other.items.pop();
    assert_ne!(report.fingerprint(), other.fingerprint());
    assert_eq!(
        report.to_text(),
        "h1:\n  stopped_container app/web: app web: app-web-v1 (exited, should be running)\n\
         h2:\n  unreachable_host: unreachable, not checked: timed out\n\
         Drift: 2 resources on 2 hosts (against version v1).\n"
    );
}

#[test]
fn class_names_are_the_json_names() {
    for class in [
        DriftClass::MissingContainer,
        DriftClass::ProxyRoutePointsElsewhere,
        DriftClass::OrphanedHost,
        DriftClass::UnreachableHost,
    ] {
        assert_eq!(
            serde_json::to_value(class).unwrap(),
            serde_json::Value::from(class.name())
        );
    }
}

#[test]
fn ignore_patterns_match_whole_addresses_with_star_wildcards() {
    assert!(ignore_matches("h1/app/web", "h1/app/web"));
    assert!(!ignore_matches("h1/app/web", "h1/app/web2"));
    assert!(ignore_matches("h1/*", "h1/app/web"));
    assert!(!ignore_matches("h1/*", "h1"));
    assert!(ignore_matches("*/route/*", "10.0.0.1/route/app-web"));
    assert!(ignore_matches("*", "anything/at/all"));
    assert!(ignore_matches("h*/app/*", "h2/app/web"));
    assert!(!ignore_matches("h?/app/web", "h1/app/web"));
}

#[test]
fn notes_and_route_settings_have_their_classes_and_a_held_lock_is_reported() {
    use crate::diff::{
        Change, ChangeKind, FieldChange, FileOwner, HostChanges, Reach, Reason, Resource, Work,
    };
    let change = |resource: Resource, kind: ChangeKind, reason: Reason| Change {
        resource,
        kind,
        reason,
        fields: Vec::new(),
        work: Work::RemoveRoute {
            service: "app-web".into(),
        },
    };
    let lock = LockInfo {
        holder: Some("jane".into()),
        ..LockInfo::default()
    };
    let changes = Changes {
        hosts: vec![HostChanges {
            host: "h1".into(),
            reach: Reach::Reachable,
            changes: vec![
                change(
                    Resource::Route {
                        service: "app-web".into(),
                    },
                    ChangeKind::Update,
                    Reason::RouteSettings,
                ),
                change(
                    Resource::File {
                        path: ".kamal/apps/app/env/accessories/db.env".into(),
                        owner: FileOwner::AccessoryEnv("db".into()),
                    },
                    ChangeKind::Update,
                    Reason::ContentChanged,
                ),
                change(
                    Resource::Image {
                        reference: "registry.test/app:v0".into(),
                    },
                    ChangeKind::Remove,
                    Reason::Unused,
                ),
            ],
            notes: vec![
                Note::ProxyOutdated {
                    fields: vec![FieldChange::changed("restart", "no", "unless-stopped")],
                },
                Note::AccessoryChanged {
                    name: "db".into(),
                    fields: vec![FieldChange::changed("image", "mysql:8.0", "mysql:8.4")],
                },
                Note::AccessoryNotInConfig {
                    container: "app-cache".into(),
                },
                Note::Interrupted {
                    run: "20261126T100000-abcdef".into(),
                    detail: "never finished".into(),
                },
                Note::Locked(lock.clone()),
            ],
        }],
    };
    let items = classify(&changes, &[]);
    assert_eq!(
        classes(&items),
        vec![
            (
                "h1/route/app-web".to_string(),
                DriftClass::ProxyRouteChanged
            ),
            (
                "h1/file/.kamal/apps/app/env/accessories/db.env".to_string(),
                DriftClass::AccessoryChanged
            ),
            ("h1/proxy".to_string(), DriftClass::ProxyContainerOutdated),
            ("h1/accessory/db".to_string(), DriftClass::AccessoryChanged),
            (
                "h1/container/app-cache".to_string(),
                DriftClass::OrphanedAccessory
            ),
            (
                "h1/run/20261126T100000-abcdef".to_string(),
                DriftClass::InterruptedRun
            ),
        ]
    );
    assert_eq!(
        items[2].details,
        vec!["~ restart: \"no\" → \"unless-stopped\""]
    );
    assert_eq!(deploy_lock(&changes), Some(lock.clone()));
    let text = DriftReport {
        deploy_lock: Some(lock),
        ..report(items)
    }
    .to_text();
    assert!(
        text.starts_with("note: the deploy lock is held (jane); "),
        "{text}"
    );
}

#[test]
fn a_route_in_maintenance_is_listed_but_is_not_drift() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let route = &mut testing::state_mut(&mut observed, "h1")
        .routes
        .as_mut()
        .unwrap()[0];
    route.state = crate::kamal_proxy::RouteState::Stopped;
    route.stop_message = "Back at 3pm".into();
    let changes = crate::diff::diff(&desired, &observed, crate::diff::DiffOptions::default());
    let report = DriftReport {
        maintenance: maintenance(&changes),
        ..report(classify(&changes, &[]))
    };
    assert!(report.is_clean(), "{:?}", report.items);
    assert_eq!(
        report.to_text(),
        "note: h1: route app-web is in maintenance (kamal-proxy answers 503 with \"Back at 3pm\"); \
         an apply deploys behind it and keeps it there; `gantry app live` serves it again\n"
    );
}
