use std::collections::BTreeMap;

use super::*;
use crate::config::{Accessory, Config, DockerOptions, Env};
use crate::model::{ContainerStatus, ImageSummary};
use crate::testing::{self, id, observed_of, state_mut};

/// One line per change: `host kind resource reason`.
fn lines(changes: &Changes) -> Vec<String> {
    changes
        .hosts
        .iter()
        .flat_map(|host| {
            host.changes.iter().map(move |change| {
                format!(
                    "{} {:?} {:?} {:?}",
                    host.host, change.kind, change.resource, change.reason
                )
            })
        })
        .collect()
}

fn plan_of(config: &Config, version: &str, observed: &Observed) -> Changes {
    diff(
        &testing::desired(config, version),
        observed,
        DiffOptions::default(),
    )
}

#[test]
fn a_converged_world_has_no_changes() {
    let config = testing::config(&["h1", "h2"]);
    let desired = testing::desired(&config, "v1");
    let changes = diff(&desired, &observed_of(&desired), DiffOptions::default());
    assert!(changes.is_empty(), "{:#?}", lines(&changes));
    assert_eq!(changes.hosts.len(), 2);
    assert!(changes.hosts.iter().all(|host| host.notes.is_empty()));
}

#[test]
fn a_stopped_app_container_is_started() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    state_mut(&mut observed, "h1").app_containers[0]
        .details
        .status = ContainerStatus::Exited;
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(
        lines(&changes),
        vec![r#"h1 Update App { role: "web" } NotRunning { status: "exited" }"#]
    );
    let Work::DeployApp(deployment) = &changes.hosts[0].changes[0].work else {
        panic!("expected a deployment");
    };
    assert!(matches!(deployment.start, StartMode::StartExisting(_)));
    assert!(deployment.pull.is_none());
}

#[test]
fn a_removed_container_is_created_again() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    state_mut(&mut observed, "h1").app_containers.clear();
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(
        lines(&changes),
        vec![r#"h1 Create App { role: "web" } Missing"#]
    );
}

#[test]
fn a_container_started_by_hand_with_another_image_is_replaced() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    state_mut(&mut observed, "h1").app_containers[0]
        .details
        .image = "evil/app:hacked".into();
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(
        lines(&changes),
        vec![r#"h1 Replace App { role: "web" } ConfigChanged"#]
    );
    let change = &changes.hosts[0].changes[0];
    assert_eq!(
        change.fields,
        vec![FieldChange::changed(
            "image",
            "evil/app:hacked",
            "registry.test/app:v1"
        )]
    );
    let Work::DeployApp(deployment) = &change.work else {
        panic!("expected a deployment");
    };
    let StartMode::RenameAndCreate { rename_to, .. } = &deployment.start else {
        panic!("expected a rename: {:?}", deployment.start);
    };
    assert!(rename_to.starts_with("app-web-v1_replaced_"));
    assert_eq!(rename_to.len(), "app-web-v1_replaced_".len() + 16);
    assert_eq!(deployment.retire.len(), 1, "the running container retires");
}

#[test]
fn a_changed_env_var_shows_old_and_new_values() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let observed = observed_of(&desired);
    let mut changed = config.clone();
    changed.roles[0]
        .env
        .clear
        .insert("RAILS_ENV".into(), "staging".into());
    let changes = plan_of(&changed, "v1", &observed);
    assert_eq!(
        lines(&changes),
        vec![r#"h1 Replace App { role: "web" } ConfigChanged"#]
    );
    assert_eq!(
        changes.hosts[0].changes[0].fields,
        vec![FieldChange::changed(
            "env.RAILS_ENV",
            "production",
            "staging"
        )]
    );
}

#[test]
fn a_changed_secret_is_reported_without_its_values() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let state = state_mut(&mut observed, "h1");
    for pair in &mut state.app_containers[0].details.env {
        if pair.starts_with("DB_PASSWORD=") {
            *pair = "DB_PASSWORD=old-secret-value".into();
        }
    }
    state.file_fingerprints.insert(
        ".kamal/apps/app/env/roles/web.env".into(),
        Some("0ld".into()),
    );
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(
        lines(&changes),
        vec![
            r#"h1 Update File { path: ".kamal/apps/app/env/roles/web.env", owner: RoleEnv("web") } ContentChanged"#,
            r#"h1 Replace App { role: "web" } ConfigChanged"#,
        ]
    );
    let field = &changes.hosts[0].changes[1].fields[0];
    assert_eq!(field, &FieldChange::changed_sensitive("env.DB_PASSWORD"));
    let debug = format!("{:?}", changes.hosts[0].changes[1].fields);
    assert!(!debug.contains("old-secret-value") && !debug.contains("s3cret-db"));
}

#[test]
fn env_and_labels_inherited_from_the_image_are_not_differences() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let observed = observed_of(&desired);
    let state = match &observed.hosts["h1"] {
        ObservedHost::Reachable(state) => state,
        _ => unreachable!(),
    };
    let env = &state.app_containers[0].details.env;
    assert!(env.iter().any(|pair| pair == "PATH=/usr/bin:/bin"));
    assert!(plan_of(&config, "v1", &observed).is_empty());
}

#[test]
fn a_new_version_replaces_retires_pulls_and_retags() {
    let config = testing::config(&["h1"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let changes = plan_of(&config, "v2", &observed);
    assert_eq!(
        lines(&changes),
        vec![
            r#"h1 Replace App { role: "web" } NewVersion { from: Some("v1"), to: "v2" }"#,
            r#"h1 Update LatestTag { reference: "registry.test/app:latest" } LatestOutdated"#,
        ]
    );
    let change = &changes.hosts[0].changes[0];
    assert!(change.fields.iter().any(|field| field.field == "image"));
    let Work::DeployApp(deployment) = &change.work else {
        panic!("expected a deployment");
    };
    assert_eq!(deployment.start, StartMode::Create);
    assert_eq!(deployment.retire[0].name, "app-web-v1");
    assert_eq!(
        deployment.pull.as_ref().map(|pull| pull.image.as_str()),
        Some("registry.test/app:v2")
    );
    assert_eq!(deployment.spec.name, "app-web-v2");
}

#[test]
fn a_removed_role_takes_its_route_and_containers_with_it() {
    let mut config = testing::config(&["h1"]);
    let workers = testing::role("workers", &["h1"], config.proxy.clone(), Env::default());
    config.roles.push(workers);
    let observed = observed_of(&testing::desired(&config, "v1"));
    config.roles.pop();
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(
        lines(&changes),
        vec![
            r#"h1 Remove Route { service: "app-workers" } NotInConfig"#,
            r#"h1 Remove Container { name: "app-workers-v1" } NotInConfig"#,
        ]
    );
    let Work::RemoveContainers { stop_first, .. } = &changes.hosts[0].changes[1].work else {
        panic!("expected a removal");
    };
    assert!(stop_first);
}

#[test]
fn a_missing_or_misdirected_route_is_switched_back() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    state_mut(&mut observed, "h1").routes = Some(Vec::new());
    assert_eq!(
        lines(&plan_of(&config, "v1", &observed)),
        vec![r#"h1 Create Route { service: "app-web" } RouteMissing"#]
    );
    let mut observed = observed_of(&desired);
    state_mut(&mut observed, "h1").routes.as_mut().unwrap()[0].active_targets =
        vec!["deadbeef0000:80".into()];
    assert_eq!(
        lines(&plan_of(&config, "v1", &observed)),
        vec![
            r#"h1 Update Route { service: "app-web" } RouteTarget { current: ["deadbeef0000:80"] }"#
        ]
    );
}

#[test]
fn route_settings_changes_are_field_level() {
    let config = testing::config(&["h1"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let mut changed = config.clone();
    if let Some(proxy) = changed.roles[0].proxy.as_mut() {
        proxy.healthcheck.path = Some("/health".into());
    }
    let changes = plan_of(&changed, "v1", &observed);
    assert_eq!(
        lines(&changes),
        vec![r#"h1 Update Route { service: "app-web" } RouteSettings"#]
    );
    assert_eq!(
        changes.hosts[0].changes[0].fields,
        vec![FieldChange::changed(
            "route.health_check_path",
            "\"/up\"",
            "\"/health\""
        )]
    );
}

#[test]
fn a_stale_route_of_a_renamed_role_is_removed_before_it_blocks() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let state = state_mut(&mut observed, "h1");
    let mut stale = state.routes.as_ref().unwrap()[0].clone();
    stale.service = "app-frontend".into();
    state.routes.as_mut().unwrap().push(stale);
    assert_eq!(
        lines(&plan_of(&config, "v1", &observed)),
        vec![r#"h1 Remove Route { service: "app-frontend" } StaleRoute"#]
    );
}

#[test]
fn stopped_containers_beyond_retention_are_removed_counting_this_plans_stops() {
    let mut config = testing::config(&["h1"]);
    config.retain_containers = 2;
    let desired_v1 = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired_v1);
    let state = state_mut(&mut observed, "h1");
    let template = state.app_containers[0].clone();
    for (index, version) in ["v0c", "v0b", "v0a"].iter().enumerate() {
        let mut old = template.clone();
        old.details.id = id(100 + index as u32);
        old.details.name = format!("app-web-{version}");
        old.details.status = ContainerStatus::Exited;
        state.app_containers.push(old);
    }
    // Deploying v2 stops v1: stopped after the plan = v1, v0c, v0b, v0a; two are kept.
    let changes = plan_of(&config, "v2", &observed);
    let removed: Vec<String> = lines(&changes)
        .into_iter()
        .filter(|line| line.contains("BeyondRetention"))
        .collect();
    assert_eq!(
        removed,
        vec![
            r#"h1 Remove Container { name: "app-web-v0b" } BeyondRetention { retain: 2 }"#,
            r#"h1 Remove Container { name: "app-web-v0a" } BeyondRetention { retain: 2 }"#,
        ]
    );
}

#[test]
fn unused_service_images_are_pruned() {
    let config = testing::config(&["h1"]);
    let mut observed = observed_of(&testing::desired(&config, "v1"));
    state_mut(&mut observed, "h1")
        .service_images
        .push(ImageSummary {
            id: "sha256:old".into(),
            repo_tags: vec!["registry.test/app:v0".into()],
            labels: BTreeMap::new(),
            created: 0,
        });
    assert_eq!(
        lines(&plan_of(&config, "v1", &observed)),
        vec![r#"h1 Remove Image { reference: "registry.test/app:v0" } Unused"#]
    );
}

#[test]
fn missing_network_and_proxy_are_created() {
    let config = testing::config(&["h1"]);
    let mut observed = observed_of(&testing::desired(&config, "v1"));
    let state = state_mut(&mut observed, "h1");
    state.networks.retain(|network| network != "kamal");
    state.proxy = None;
    state.routes = None;
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(
        lines(&changes),
        vec![
            r#"h1 Create Network { name: "kamal" } Missing"#,
            "h1 Create Proxy Missing",
            r#"h1 Create Route { service: "app-web" } RouteMissing"#,
        ]
    );
}

#[test]
fn an_outdated_proxy_is_reported_and_rebooted_only_when_asked() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    state_mut(&mut observed, "h1")
        .proxy
        .as_mut()
        .unwrap()
        .details
        .image = "basecamp/kamal-proxy:v0.8.4".into();
    let changes = diff(&desired, &observed, DiffOptions::default());
    assert!(changes.is_empty());
    assert!(
        changes.hosts[0]
            .notes
            .iter()
            .any(|note| matches!(note, Note::ProxyOutdated { .. }))
    );
    // Older than Kamal's minimum: apply refuses, before anything changes.
    let refusals: Vec<(&str, &Note)> = changes.refusals().collect();
    assert_eq!(
        refusals,
        vec![(
            "h1",
            &Note::ProxyTooOld {
                version: "v0.8.4".into()
            }
        )]
    );
    let changes = diff(
        &desired,
        &observed,
        DiffOptions {
            reboot_proxy: true,
            ..DiffOptions::default()
        },
    );
    assert_eq!(lines(&changes), vec!["h1 Replace Proxy ConfigChanged"]);
    assert_eq!(changes.refusals().count(), 0, "the reboot updates it");
}

#[test]
fn only_a_proxy_older_than_kamals_minimum_is_refused() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    for (image, refused) in [
        ("basecamp/kamal-proxy:v0.9.1", true),
        ("registry.test:5000/basecamp/kamal-proxy:0.8", true),
        ("basecamp/kamal-proxy:v0.9.2", false),
        ("basecamp/kamal-proxy:v0.10.0", false),
        ("basecamp/kamal-proxy:latest", false),
    ] {
        let mut observed = observed_of(&desired);
        state_mut(&mut observed, "h1")
            .proxy
            .as_mut()
            .unwrap()
            .details
            .image = image.into();
        let changes = diff(&desired, &observed, DiffOptions::default());
        assert_eq!(changes.refusals().count() == 1, refused, "{image}");
    }
}

fn with_accessory(mut config: Config) -> Config {
    config.accessories.push(Accessory {
        name: "db".into(),
        service: "app-db".into(),
        image: "postgres:16".into(),
        registry: None,
        hosts: vec!["h1".into()],
        cmd: None,
        ports: Vec::new(),
        labels: BTreeMap::new(),
        options: DockerOptions::default(),
        restart_policy: "unless-stopped".into(),
        env: Env::default(),
        files: Vec::new(),
        directories: Vec::new(),
        volumes: vec!["data:/var/lib/postgresql/data".into()],
        network: "kamal".into(),
        proxy: None,
    });
    config
}

#[test]
fn accessories_are_created_reported_or_recreated() {
    let config = with_accessory(testing::config(&["h1"]));
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    assert!(diff(&desired, &observed, DiffOptions::default()).is_empty());

    state_mut(&mut observed, "h1").accessories[0].details.image = "postgres:15".into();
    let changes = diff(&desired, &observed, DiffOptions::default());
    assert!(
        changes.is_empty(),
        "a changed accessory is never replaced silently"
    );
    assert!(matches!(
        &changes.hosts[0].notes[0],
        Note::AccessoryChanged { name, .. } if name == "db"
    ));
    let changes = diff(
        &desired,
        &observed,
        DiffOptions {
            recreate_accessories: true,
            ..DiffOptions::default()
        },
    );
    assert_eq!(
        lines(&changes),
        vec![r#"h1 Replace Accessory { name: "db" } ConfigChanged"#]
    );

    state_mut(&mut observed, "h1").accessories.clear();
    assert_eq!(
        lines(&diff(&desired, &observed, DiffOptions::default())),
        vec![r#"h1 Create Accessory { name: "db" } Missing"#]
    );
}

#[test]
fn an_unreachable_host_has_no_changes_and_says_why() {
    let config = testing::config(&["h1", "h2"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    observed.hosts.insert(
        "h2".into(),
        ObservedHost::Unreachable {
            reason: "connection timed out".into(),
        },
    );
    let changes = diff(&desired, &observed, DiffOptions::default());
    assert!(changes.is_empty());
    assert_eq!(
        changes.unreachable().collect::<Vec<_>>(),
        vec![("h2", "connection timed out")]
    );
}

#[test]
fn a_held_lock_is_a_note() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    state_mut(&mut observed, "h1").lock = Some(crate::observe::LockInfo::default());
    let changes = diff(&desired, &observed, DiffOptions::default());
    assert!(matches!(changes.hosts[0].notes[0], Note::Locked(_)));
}

#[test]
fn an_unfinished_journal_names_the_interrupted_run_and_what_it_left() {
    let config = testing::config(&["h1"]);
    let observed_v1 = observed_of(&testing::desired(&config, "v1"));
    let mut observed = observed_v1.clone();
    let state = state_mut(&mut observed, "h1");
    let desired_v2 = testing::desired(&config, "v2");
    let spec = crate::desired::expand_home(&desired_v2.hosts[0].apps[0].container, "/root");
    let image = testing::image("sha256:app-v2", &["registry.test/app:v2"]);
    state
        .present_images
        .insert("registry.test/app:v2".into(), Some(image.id.clone()));
    let mut orphan = testing::running(&spec, &id(77), &image);
    orphan
        .details
        .labels
        .insert("gantry.run".into(), "run-42".into());
    state.app_containers.insert(0, orphan);
    state.journal = Some(
        serde_json::json!({
            "run": "run-42", "command": "apply", "by": "jane", "version": "v2",
            "started_at": "2026-11-26T10:00:00Z", "status": "running",
            "actions": [], "finished_at": null
        })
        .to_string(),
    );
    let changes = plan_of(&config, "v2", &observed);
    let Note::Interrupted { run, detail } = &changes.hosts[0].notes[0] else {
        panic!("{:?}", changes.hosts[0].notes);
    };
    assert_eq!(run, "run-42");
    assert!(detail.contains("app-web-v2 (running)"), "{detail}");
    // The half-deployed container is kept and the route switched to it: completion.
    assert_eq!(
        lines(&changes),
        vec![
            r#"h1 Update Route { service: "app-web" } RouteTarget { current: ["000000000001:80"] }"#,
            r#"h1 Update Container { name: "app-web-v1" } NotCurrent"#,
            r#"h1 Update LatestTag { reference: "registry.test/app:latest" } LatestOutdated"#,
        ]
    );
}

/// Issue 12: a tag pushed again (`--version staging`) is refreshed, not left as "no changes".
#[test]
fn a_tag_pushed_again_to_the_registry_replaces_the_app() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let state = state_mut(&mut observed, "h1");
    state.present_image_digests.insert(
        desired.image.clone(),
        vec!["registry.test/app@sha256:old".into()],
    );
    state
        .registry_digests
        .insert(desired.image.clone(), "sha256:old".into());
    let same = diff(&desired, &observed, DiffOptions::default());
    assert!(same.is_empty(), "{:#?}", lines(&same));

    state_mut(&mut observed, "h1")
        .registry_digests
        .insert(desired.image.clone(), "sha256:new".into());
    let changes = diff(&desired, &observed, DiffOptions::default());
    assert_eq!(
        lines(&changes),
        vec![
            r#"h1 Replace App { role: "web" } ImageChanged"#,
            r#"h1 Update LatestTag { reference: "registry.test/app:latest" } LatestOutdated"#,
        ]
    );
    let change = &changes.hosts[0].changes[0];
    assert_eq!(
        change.fields,
        [FieldChange {
            field: "image digest".into(),
            before: Some("sha256:old".into()),
            after: Some("sha256:new".into()),
            sensitive: false,
        }]
    );
    let Work::DeployApp(deployment) = &change.work else {
        panic!("{:?}", change.work);
    };
    assert_eq!(
        deployment.pull.as_ref().map(|pull| pull.image.as_str()),
        Some(desired.image.as_str()),
        "the image is pulled again"
    );
    assert!(matches!(
        deployment.start,
        StartMode::RenameAndCreate { .. }
    ));
    assert_eq!(deployment.service_label, "app");

    // A digest the host cannot name (an image loaded, not pulled) is no difference.
    state_mut(&mut observed, "h1").present_image_digests.clear();
    assert!(diff(&desired, &observed, DiffOptions::default()).is_empty());
}

/// The tag already moved on the host (pulled ahead of the plan) but the container runs the old
/// image: replaced, without another pull.
#[test]
fn a_container_older_than_its_tag_on_the_host_is_replaced() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    state_mut(&mut observed, "h1").present_images.insert(
        desired.image.clone(),
        Some("sha256:app-v1-pushed-again".into()),
    );
    let changes = diff(&desired, &observed, DiffOptions::default());
    assert_eq!(
        lines(&changes),
        vec![
            r#"h1 Replace App { role: "web" } ImageChanged"#,
            r#"h1 Update LatestTag { reference: "registry.test/app:latest" } LatestOutdated"#,
        ]
    );
    let Work::DeployApp(deployment) = &changes.hosts[0].changes[0].work else {
        panic!();
    };
    assert!(deployment.pull.is_none());
}

/// A role on `/api` of a host whose `/` belongs to another app on the same proxy: kamal-proxy
/// stores that app's TLS settings for it, and so does the comparison.
#[test]
fn a_path_prefixed_route_under_another_apps_root_takes_its_tls_settings() {
    let mut config = testing::config(&["h1"]);
    if let Some(proxy) = config.roles[0].proxy.as_mut() {
        proxy.hosts = vec!["shop.example.com".into()];
        proxy.path_prefixes = vec!["/api".into()];
    }
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let state = state_mut(&mut observed, "h1");
    let routes = state.routes.as_mut().expect("the proxy's routes");
    // What kamal-proxy stored: the other app's root is TLS without redirect, and so is ours.
    routes[0].settings.tls_enabled = true;
    routes[0].settings.tls_redirect = false;
    let mut foreign = routes[0].clone();
    foreign.service = "storefront-web".into();
    foreign.active_targets = vec!["0f0f0f0f0f0f:3000".into()];
    foreign.settings.path_prefixes = vec!["/".into()];
    routes.push(foreign.clone());
    assert_eq!(
        lines(&plan_of(&config, "v1", &observed)),
        Vec::<String>::new()
    );

    // One of this app's own stale routes is no other app's root.
    let routes = state_mut(&mut observed, "h1").routes.as_mut().unwrap();
    routes.pop();
    foreign.service = "app-old".into();
    routes.push(foreign);
    let changes = lines(&plan_of(&config, "v1", &observed));
    assert!(
        changes
            .iter()
            .any(|line| line.contains("Route { service: \"app-web\" }")
                && line.contains("RouteSettings")),
        "{changes:#?}"
    );
}

/// The notes of host `h1`.
fn notes_of(changes: &Changes) -> Vec<Note> {
    changes.hosts[0].notes.clone()
}

#[test]
fn a_route_another_service_holds_is_a_conflict_that_refuses_apply() {
    let mut config = testing::config(&["h1"]);
    if let Some(proxy) = config.roles[0].proxy.as_mut() {
        proxy.hosts = vec!["shop.example.com".into()];
    }
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let routes = state_mut(&mut observed, "h1").routes.as_mut().unwrap();
    let mut other = routes[0].clone();
    routes.clear();
    other.service = "storefront-web".into();
    other.active_targets = vec!["0f0f0f0f0f0f:3000".into()];
    routes.push(other);
    let changes = plan_of(&config, "v1", &observed);
    let conflict = Note::RouteConflict {
        service: "app-web".into(),
        other_service: "storefront-web".into(),
        host_name: "shop.example.com".into(),
        path_prefix: "/".into(),
    };
    assert_eq!(notes_of(&changes), vec![conflict.clone()]);
    assert!(conflict.refuses_apply());
    assert_eq!(changes.refusals().count(), 1);
}

#[test]
fn routes_conflict_only_on_the_same_host_string_and_path_prefix() {
    let mut config = testing::config(&["h1"]);
    if let Some(proxy) = config.roles[0].proxy.as_mut() {
        proxy.hosts = vec!["shop.example.com".into()];
    }
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let routes = state_mut(&mut observed, "h1").routes.as_mut().unwrap();
    let mut other = routes[0].clone();
    other.service = "storefront-web".into();
    other.active_targets = vec!["0f0f0f0f0f0f:3000".into()];
    // kamal-proxy compares strings: a wildcard, no host, and another prefix are other keys.
    for (hosts, prefixes) in [
        (vec!["*.example.com"], vec!["/"]),
        (vec![""], vec!["/"]),
        (vec!["shop.example.com"], vec!["/api"]),
    ] {
        let mut other = other.clone();
        other.settings.hosts = hosts.iter().map(|host| host.to_string()).collect();
        other.settings.path_prefixes = prefixes.iter().map(|p| p.to_string()).collect();
        routes.push(other);
    }
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(notes_of(&changes), Vec::<Note>::new());
}

#[test]
fn a_renamed_roles_route_on_the_same_host_is_stale_not_a_conflict() {
    let mut config = testing::config(&["h1"]);
    if let Some(proxy) = config.roles[0].proxy.as_mut() {
        proxy.hosts = vec!["shop.example.com".into()];
    }
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let routes = state_mut(&mut observed, "h1").routes.as_mut().unwrap();
    // Still pointing at this service's container: this service's own route under an old name.
    let mut stale = routes[0].clone();
    routes.clear();
    stale.service = "app-frontend".into();
    routes.push(stale);
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(notes_of(&changes), Vec::<Note>::new());
    assert!(
        lines(&changes)
            .contains(&r#"h1 Remove Route { service: "app-frontend" } StaleRoute"#.to_string())
    );
}

#[test]
fn two_services_planned_together_conflict_on_a_shared_host_name() {
    let mut first = testing::config(&["h1"]);
    if let Some(proxy) = first.roles[0].proxy.as_mut() {
        proxy.hosts = vec!["shop.example.com".into()];
    }
    let mut second = first.clone();
    second.service = "storefront".into();
    let first = testing::desired(&first, "v1");
    let second_desired = testing::desired(&second, "v1");
    assert_eq!(
        conflicts_between(&first.hosts[0], &second_desired.hosts[0]),
        vec![Note::RouteConflict {
            service: "storefront-web".into(),
            other_service: "app-web".into(),
            host_name: "shop.example.com".into(),
            path_prefix: "/".into(),
        }]
    );
    if let Some(proxy) = second.roles[0].proxy.as_mut() {
        proxy.hosts = vec!["storefront.example.com".into()];
    }
    let second_desired = testing::desired(&second, "v1");
    assert_eq!(
        conflicts_between(&first.hosts[0], &second_desired.hosts[0]),
        Vec::<Note>::new()
    );
}

#[test]
fn a_host_port_another_service_publishes_is_a_conflict_that_refuses_apply() {
    let mut config = with_accessory(testing::config(&["h1"]));
    config.accessories[0].ports = vec!["5432:5432".into()];
    let desired = testing::desired(&config, "v1");
    let wanted = desired.hosts[0].accessories[0].container.ports[0].clone();
    let mut observed = observed_of(&desired);
    let published = |host_ip: &str, container_port: &str| crate::host::ContainerSummary {
        id: "0f0f0f0f0f0f".into(),
        name: "shop-db".into(),
        image: "postgres:16".into(),
        image_id: String::new(),
        labels: BTreeMap::from([("service".to_string(), "shop-db".to_string())]),
        state: ContainerStatus::Running,
        created: 0,
        published_ports: vec![crate::model::PortBinding {
            container_port: container_port.into(),
            host_ip: host_ip.into(),
            host_port: wanted.host_port.clone(),
        }],
    };
    // Another address, or udp instead of tcp: Docker starts both.
    state_mut(&mut observed, "h1").other_services = vec![
        published("10.9.9.9", "5432/udp"),
        published("127.0.0.1", "1/udp"),
    ];
    assert_eq!(
        notes_of(&plan_of(&config, "v1", &observed)),
        Vec::<Note>::new()
    );

    state_mut(&mut observed, "h1").other_services = vec![published("0.0.0.0", "5432/tcp")];
    let changes = plan_of(&config, "v1", &observed);
    assert_eq!(
        notes_of(&changes),
        vec![Note::PortConflict {
            container: "app-db".into(),
            port: wanted.host_port.clone(),
            other_container: "shop-db".into(),
            other_service: "shop-db".into(),
        }]
    );
    assert_eq!(changes.refusals().count(), 1);
}
