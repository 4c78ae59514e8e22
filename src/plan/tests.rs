use super::*;
use crate::config::{Boot, BootLimit, Config, Env};
use crate::diff::{DiffOptions, diff};
use crate::observe::{Observed, ObservedHost};
use crate::testing::{self, observed_of, state_mut};

fn plan_for(config: &Config, version: &str, observed: &Observed, options: &PlanOptions) -> Plan {
    let desired = testing::desired(config, version);
    build(diff(&desired, observed, DiffOptions::default()), options)
}

fn options(config: &Config) -> PlanOptions {
    PlanOptions {
        atomic: false,
        boot: config.boot.clone(),
        primary_role: config.primary_role.clone(),
        app_boot_hooks: Vec::new(),
        canary: None,
    }
}

/// Hosts with Docker and nothing else.
fn fresh(config: &Config) -> Observed {
    let desired = testing::desired(config, "v0");
    let mut observed = observed_of(&desired);
    for host in observed.hosts.values_mut() {
        if let ObservedHost::Reachable(state) = host {
            **state = crate::observe::HostState {
                home: "/root".into(),
                networks: vec!["bridge".into()],
                ..Default::default()
            };
        }
    }
    observed
}

fn two_roles() -> Config {
    let mut config = testing::config(&["h1", "h2"]);
    let workers = testing::role("workers", &["h1", "h3"], None, Env::default());
    config.roles.push(workers);
    config
}

#[test]
fn a_converged_world_has_an_empty_plan() {
    let config = testing::config(&["h1", "h2"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let plan = plan_for(&config, "v1", &observed, &options(&config));
    assert!(plan.is_empty());
    assert_eq!(plan.to_string(), "");
}

#[test]
fn new_version_on_two_hosts() {
    let config = testing::config(&["h1", "h2"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn fresh_hosts_get_network_proxy_env_file_container_and_route() {
    let config = testing::config(&["h1"]);
    let plan = plan_for(&config, "v1", &fresh(&config), &options(&config));
    insta::assert_snapshot!(plan.to_string());
}

#[test]
fn other_roles_wait_for_the_primary_roles_first_host() {
    let config = two_roles();
    let plan = plan_for(&config, "v1", &fresh(&config), &options(&config));
    let find = |host: &str, text: &str| {
        plan.actions()
            .find(|(_, node)| node.host == host && node.action.to_string().contains(text))
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("no action {text} on {host}\n{plan}"))
    };
    let primary_gate = find("h1", "switch route app-web");
    let worker_start = find("h3", "run app-workers-v1");
    assert!(
        plan.dependencies(worker_start).contains(&primary_gate),
        "{plan}"
    );
    // Roles on one host run one after the other by default.
    let worker_start_h1 = find("h1", "run app-workers-v1");
    assert!(plan.dependencies(worker_start_h1).contains(&primary_gate));
    let worker_wait = find("h3", "wait until app-workers-v1 is ready");
    assert!(plan.dependencies(worker_wait).contains(&worker_start));
}

#[test]
fn boot_limit_groups_hosts_with_a_wait_between() {
    let mut config = testing::config(&["h1", "h2", "h3"]);
    config.boot = Boot {
        limit: Some(BootLimit::Hosts(2)),
        wait: Some(5),
        parallel_roles: false,
    };
    let observed = observed_of(&testing::desired(&config, "v1"));
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    let sleep = plan
        .actions()
        .find(|(_, node)| matches!(node.action, Action::Sleep { seconds: 5 }))
        .map(|(id, _)| id)
        .expect("a sleep between the groups");
    let run_h3 = plan
        .actions()
        .find(|(_, node)| node.host == "h3" && node.action.kind() == "run_container")
        .map(|(id, _)| id)
        .unwrap();
    assert_eq!(plan.dependents(sleep), vec![run_h3]);
    let stops_before_sleep: Vec<String> = plan
        .dependencies(sleep)
        .iter()
        .map(|id| format!("{} {}", plan.node(*id).host, plan.node(*id).action))
        .collect();
    assert_eq!(
        stops_before_sleep,
        vec!["h1 stop app-web-v1", "h2 stop app-web-v1"]
    );
}

#[test]
fn app_boot_hooks_run_around_each_boot_group_told_its_hosts() {
    let mut config = testing::config(&["h1", "h2", "h3"]);
    config.boot = Boot {
        limit: Some(BootLimit::Hosts(2)),
        wait: Some(5),
        parallel_roles: false,
    };
    let observed = observed_of(&testing::desired(&config, "v1"));
    let mut hooked = options(&config);
    hooked.app_boot_hooks = vec![PRE_APP_BOOT.into(), POST_APP_BOOT.into()];
    let plan = plan_for(&config, "v2", &observed, &hooked);
    let label = |id: ActionId| format!("{} {}", plan.node(id).host, plan.node(id).action);
    let find = |text: &str| {
        plan.actions()
            .find(|(id, _)| label(*id) == text)
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("no {text:?} in\n{plan}"))
    };
    let pre_first = find("h1 run hook pre-app-boot (KAMAL_HOSTS=h1,h2)");
    let post_first = find("h1 run hook post-app-boot (KAMAL_HOSTS=h1,h2)");
    let pre_second = find("h3 run hook pre-app-boot (KAMAL_HOSTS=h3)");
    let post_second = find("h3 run hook post-app-boot (KAMAL_HOSTS=h3)");
    let sleep = find("h3 wait 5s before the next boot group");
    let mut starts: Vec<String> = plan.dependents(pre_first).into_iter().map(label).collect();
    starts.sort();
    assert_eq!(
        starts,
        vec![
            "h1 run app-web-v2 (registry.test/app:v2)",
            "h2 run app-web-v2 (registry.test/app:v2)"
        ]
    );
    let mut finals: Vec<String> = plan
        .dependencies(post_first)
        .into_iter()
        .map(label)
        .collect();
    finals.sort();
    assert_eq!(finals, vec!["h1 stop app-web-v1", "h2 stop app-web-v1"]);
    // Kamal's order: each group between its hooks, the wait, then the next group.
    assert_eq!(plan.dependencies(sleep), vec![post_first]);
    assert_eq!(plan.dependencies(pre_second), vec![sleep]);
    assert_eq!(
        plan.dependents(pre_second)
            .into_iter()
            .map(label)
            .collect::<Vec<_>>(),
        vec!["h3 run app-web-v2 (registry.test/app:v2)"]
    );
    assert_eq!(
        plan.dependencies(post_second)
            .into_iter()
            .map(label)
            .collect::<Vec<_>>(),
        vec!["h3 stop app-web-v1"]
    );

    // Without boot.limit, one group: all hosts between one pair of hooks.
    config.boot = Boot::default();
    let mut hooked = options(&config);
    hooked.app_boot_hooks = vec![PRE_APP_BOOT.into()];
    let plan = plan_for(&config, "v2", &observed, &hooked);
    let hooks: Vec<String> = plan
        .actions()
        .filter(|(_, node)| node.action.kind() == "run_hook")
        .map(|(_, node)| node.action.to_string())
        .collect();
    assert_eq!(hooks, vec!["run hook pre-app-boot (KAMAL_HOSTS=h1,h2,h3)"]);
}

#[test]
fn stale_routes_are_removed_before_new_routes_deploy() {
    let config = testing::config(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let state = state_mut(&mut observed, "h1");
    let mut stale = state.routes.as_ref().unwrap()[0].clone();
    stale.service = "app-frontend".into();
    state.routes.as_mut().unwrap().push(stale);
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    let removal = plan
        .actions()
        .find(|(_, node)| node.action.kind() == "remove_route")
        .map(|(id, _)| id)
        .unwrap();
    let deploy = plan
        .actions()
        .find(|(_, node)| node.action.kind() == "deploy_route")
        .map(|(id, _)| id)
        .unwrap();
    assert!(plan.dependencies(deploy).contains(&removal), "{plan}");
}

#[test]
fn every_mutating_action_can_be_undone_or_comes_last() {
    let mut config = two_roles();
    config.roles[0].asset_path = Some("/app/public".into());
    config.error_pages_path = Some("public".into());
    config.error_pages = vec!["public/500.html".into()];
    let scenarios: Vec<(String, Observed)> = vec![
        ("fresh".into(), fresh(&config)),
        ("v1".into(), observed_of(&testing::desired(&config, "v1"))),
    ];
    for (name, observed) in scenarios {
        let plan = plan_for(&config, "v2", &observed, &options(&config));
        for (id, node) in plan.actions() {
            let undoable = node.compensation.is_some();
            let harmless = node.action.is_read_only()
                || matches!(
                    node.action,
                    Action::CreateNetwork { .. }
                        | Action::WriteFile { .. }
                        | Action::CreateDirectory { .. }
                )
                // Copies that never overwrite, into the directories of this version (and of
                // the previous one, which its container may still be mounting).
                || matches!(
                    node.action,
                    Action::ExtractAssets { .. } | Action::MergeAssets { .. }
                );
            let cleanup = node.best_effort;
            // The proxy is left running on rollback: nothing ran on it before.
            let kept =
                matches!(&node.action, Action::RunContainer { spec } if spec.name == "kamal-proxy");
            assert!(
                undoable || harmless || cleanup || kept,
                "{name}: #{} {} has no compensation\n{plan}",
                plan.number(id),
                node.action
            );
            if cleanup {
                assert!(
                    plan.dependents(id)
                        .iter()
                        .all(|d| plan.node(*d).best_effort)
                );
            }
        }
    }
}

#[test]
fn the_graph_has_no_cycles_and_order_respects_edges() {
    let config = two_roles();
    let plan = plan_for(&config, "v2", &fresh(&config), &options(&config));
    assert!(!plan.is_empty());
    let position: std::collections::BTreeMap<ActionId, usize> = plan
        .actions()
        .enumerate()
        .map(|(index, (id, _))| (id, index))
        .collect();
    assert_eq!(position.len(), plan.len());
    for (id, _) in plan.actions() {
        for dep in plan.dependencies(id) {
            assert!(position[&dep] < position[&id]);
        }
    }
}

#[test]
fn two_plans_of_the_same_world_are_identical() {
    let config = two_roles();
    let observed = observed_of(&testing::desired(&config, "v1"));
    let first = plan_for(&config, "v2", &observed, &options(&config)).to_string();
    let second = plan_for(&config, "v2", &observed, &options(&config)).to_string();
    assert_eq!(first, second);
}

#[test]
fn atomic_plans_share_one_rollback_scope() {
    let config = testing::config(&["h1", "h2"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let mut atomic = options(&config);
    atomic.atomic = true;
    let plan = plan_for(&config, "v2", &observed, &atomic);
    assert!(plan.actions().all(|(_, node)| node.scope == "*"));
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    assert!(plan.actions().all(|(_, node)| node.scope == node.host));
}

#[test]
fn rendered_text_and_json_of_a_new_version() {
    let mut config = testing::config(&["h1"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    config.roles[0]
        .env
        .clear
        .insert("RAILS_ENV".into(), "staging".into());
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    let redactor = crate::secret::Redactor::new(testing::secrets().values());
    let text = render::render(&plan, render::RenderOptions::default(), &redactor);
    insta::assert_snapshot!("render_new_version", text);
    let header = json::PlanHeader {
        service: "app".into(),
        destination: None,
        version: "v2".into(),
        round_trips: Default::default(),
    };
    let json_text = json::render_json(&plan, &header, &redactor);
    assert!(!json_text.contains("s3cret"));
    insta::assert_snapshot!("json_new_version", json_text);
    let dot = dot::render_dot(&plan, &redactor);
    assert!(dot.starts_with("digraph gantry_plan {"));
    assert!(dot.contains("style=dashed"));
}

#[test]
fn the_svg_graph_is_well_formed_with_one_box_per_action_and_dashed_rollbacks() {
    let config = two_roles();
    let observed = observed_of(&testing::desired(&config, "v1"));
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    let redactor = crate::secret::Redactor::new(testing::secrets().values());
    let picture = svg::render_svg(&plan, &redactor);
    let document = roxmltree::Document::parse(&picture).expect("well-formed SVG");
    let with_class = |class: &str| {
        document
            .descendants()
            .filter(|element| element.attribute("class") == Some(class))
            .collect::<Vec<_>>()
    };
    assert_eq!(with_class("action").len(), plan.len());
    let undoable = plan
        .actions()
        .filter(|(_, node)| node.compensation.is_some())
        .count();
    assert!(undoable > 0, "{plan}");
    assert_eq!(with_class("compensation").len(), undoable);
    let rollbacks = with_class("rollback");
    assert_eq!(rollbacks.len(), undoable);
    assert!(
        rollbacks
            .iter()
            .all(|edge| edge.attribute("stroke-dasharray").is_some())
    );
    let edges: usize = plan
        .actions()
        .map(|(id, _)| plan.dependencies(id).len())
        .sum();
    assert_eq!(with_class("edge").len(), edges);
    assert_eq!(with_class("lane").len(), 3, "one lane per host");
    // Every edge points right: a dependency sits in an earlier column.
    for edge in with_class("edge") {
        let path = edge.attribute("d").expect("a path");
        let numbers: Vec<f64> = path
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|part| !part.is_empty())
            .map(|part| part.parse().expect("a number"))
            .collect();
        assert!(numbers[0] < numbers[numbers.len() - 2], "{path}");
    }
    assert!(!picture.contains("s3cret"));
}

#[test]
fn saved_plans_refuse_changed_hosts_and_changed_plans() {
    let config = testing::config(&["h1", "h2"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    let saved = saved::SavedPlan::new(&plan, saved_inputs(None), &observed);
    let reread = saved::SavedPlan::parse(&saved.to_text()).unwrap();
    assert_eq!(reread, saved);
    assert!(!saved.to_text().contains("s3cret"));
    assert_eq!(reread.check_observed(&observed), Ok(()));
    assert_eq!(reread.check_plan(&plan), Ok(()));

    let mut changed = observed.clone();
    state_mut(&mut changed, "h2").app_containers[0]
        .details
        .status = crate::model::ContainerStatus::Exited;
    assert_eq!(
        reread.check_observed(&changed),
        Err(saved::SavedPlanError::Stale("h2".into()))
    );
    let other = plan_for(&config, "v3", &observed, &options(&config));
    assert!(matches!(
        reread.check_plan(&other),
        Err(saved::SavedPlanError::PlanDiffers { .. })
    ));
}

/// Issue 15: a saved new-version plan replaces every container whatever its settings, so its
/// action list reads the same after an env value, a volume, an `options:` flag or a secret
/// changes; each must still refuse the saved plan, with a diff naming what changed.
#[test]
fn a_saved_new_version_plan_refuses_any_changed_field_or_secret() {
    let config = testing::config(&["h1"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let planned = |config: &Config, db_password: &str| {
        let mut secrets = testing::secrets();
        secrets.insert(
            "DB_PASSWORD".into(),
            crate::secret::Secret::new(db_password),
        );
        let desired = testing::desired_with_secrets(config, "v2", &secrets);
        build(
            diff(&desired, &observed, DiffOptions::default()),
            &options(config),
        )
    };
    // The reviewed plan rotates the secret (its env file is rewritten) and deploys v2.
    let plan = planned(&config, "r0tated-once");
    let saved = saved::SavedPlan::new(&plan, saved_inputs(None), &observed);
    assert_eq!(
        saved.check_plan(&plan),
        Ok(()),
        "the same inputs plan the same"
    );

    let mut env = config.clone();
    env.roles[0]
        .env
        .clear
        .insert("RAILS_ENV".into(), "staging".into());
    let mut volume = config.clone();
    volume.roles[0].volumes.push("/data:/data".into());
    let mut flag = config.clone();
    flag.roles[0].options.0.push((
        "read-only".into(),
        crate::config::DockerOptionValue::Flag(true),
    ));
    let mut rotated = testing::secrets();
    rotated.insert(
        "DB_PASSWORD".into(),
        crate::secret::Secret::new("r0tated-db"),
    );
    let cases = [
        ("an env value", planned(&env, "r0tated-once"), "staging"),
        ("a volume", planned(&volume, "r0tated-once"), "/data:/data"),
        (
            "an options flag",
            planned(&flag, "r0tated-once"),
            "read_only: true",
        ),
        (
            "a rotated secret",
            planned(&config, "r0tated-twice"),
            "secret values",
        ),
    ];
    for (what, changed, shown) in cases {
        assert_eq!(
            changed.to_string(),
            saved.plan_text,
            "{what}: the action list alone does not tell"
        );
        let Err(saved::SavedPlanError::PlanDiffers { diff }) = saved.check_plan(&changed) else {
            panic!("{what}: the saved plan was accepted");
        };
        let changed_lines: Vec<&str> = diff
            .lines()
            .filter(|line| line.starts_with(['-', '+']) && !line.starts_with("---"))
            .collect();
        assert!(
            changed_lines.iter().any(|line| line.contains(shown)),
            "{what}: {diff}"
        );
        assert!(
            !diff.contains("s3cret") && !diff.contains("r0tated"),
            "{diff}"
        );
    }
}

#[test]
fn a_saved_plan_refuses_another_destination_or_configuration_file() {
    let config = testing::config(&["h1"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    let saved = saved::SavedPlan::new(&plan, saved_inputs(Some("staging")), &observed);
    assert_eq!(
        saved.check_inputs("config/deploy.yml", Some("staging")),
        Ok(())
    );
    assert_eq!(
        saved
            .check_inputs("config/deploy.yml", Some("production"))
            .map_err(|error| error.to_string()),
        Err(
            "the saved plan was made for config/deploy.yml with destination staging, not \
             config/deploy.yml with destination production"
                .to_string()
        )
    );
    assert!(saved.check_inputs("config/deploy.yml", None).is_err());
    assert!(saved.check_inputs("other.yml", Some("staging")).is_err());
}

fn saved_inputs(destination: Option<&str>) -> saved::PlanInputs {
    saved::PlanInputs {
        config_file: "config/deploy.yml".into(),
        destination: destination.map(str::to_string),
        version: "v2".into(),
        hosts: Vec::new(),
        roles: Vec::new(),
        reboot_proxy: false,
        recreate_accessories: false,
        atomic: false,
    }
}

#[test]
fn assets_are_bridged_before_the_new_container_and_older_versions_cleaned_after_the_old_stops() {
    let mut config = testing::config(&["h1"]);
    config.roles[0].asset_path = Some("/app/public:ro".into());
    config.error_pages_path = Some("public".into());
    let observed = observed_of(&testing::desired(&config, "v1"));
    let plan = plan_for(&config, "v2", &observed, &options(&config));
    insta::assert_snapshot!(plan.to_string());
}

/// `testing::config` with `proxy.ssl` naming the two PEM secrets of `testing::secrets`.
fn custom_certificate(hosts: &[&str]) -> Config {
    let mut config = testing::config(hosts);
    if let Some(proxy) = config.roles[0].proxy.as_mut() {
        proxy.ssl = crate::config::Ssl::Custom {
            certificate_pem: "TLS_CERTIFICATE".into(),
            private_key_pem: "TLS_PRIVATE_KEY".into(),
        };
    }
    config
}

#[test]
fn custom_certificates_are_written_before_the_route_that_loads_them() {
    let config = custom_certificate(&["h1"]);
    let plan = plan_for(&config, "v1", &fresh(&config), &options(&config));
    let text = plan.to_string();
    let writes: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("apps-config/app/tls/web/"))
        .collect();
    assert_eq!(
        writes,
        [
            "[] -> #6 h1: write .kamal/proxy/apps-config/app/tls/web/cert.pem (0644) (missing)",
            "[] -> #7 h1: write .kamal/proxy/apps-config/app/tls/web/key.pem (0644) (missing)",
        ],
        "{text}"
    );
    let run = text
        .lines()
        .find(|line| line.contains("run app-web-v1"))
        .expect("the app container runs");
    assert!(run.starts_with("[#1,#5,#6,#7,#8,#9]"), "{text}");

    let redactor = crate::secret::Redactor::new(testing::secrets().values());
    let header = json::PlanHeader {
        service: "app".into(),
        destination: None,
        version: "v1".into(),
        round_trips: Default::default(),
    };
    let rendered = [
        render::render(&plan, render::RenderOptions::default(), &redactor),
        json::render_json(&plan, &header, &redactor),
        dot::render_dot(&plan, &redactor),
        format!("{plan:?}"),
    ];
    for output in rendered {
        assert!(output.contains("tls/web/key.pem"), "{output}");
        assert!(!output.contains("s3cret"), "{output}");
        assert!(!output.contains("BEGIN"), "{output}");
    }
}

#[test]
fn a_converged_world_with_custom_certificates_has_an_empty_plan() {
    let config = custom_certificate(&["h1", "h2"]);
    let observed = observed_of(&testing::desired(&config, "v1"));
    assert!(plan_for(&config, "v1", &observed, &options(&config)).is_empty());
}

#[test]
fn a_changed_certificate_is_written_then_the_route_deployed_again() {
    let config = custom_certificate(&["h1"]);
    let desired = testing::desired(&config, "v1");
    let mut observed = observed_of(&desired);
    let certificate = &desired.hosts[0].apps[0].tls_files[0].path;
    state_mut(&mut observed, "h1")
        .file_fingerprints
        .insert(certificate.clone(), Some("an older certificate".into()));
    let plan = plan_for(&config, "v1", &observed, &options(&config));
    insta::assert_snapshot!(plan.to_string(), @r"
    [] -> #1 h1: write .kamal/proxy/apps-config/app/tls/web/cert.pem (0644) (contents changed)
    [#1] -> #2 h1: switch route app-web to app-web-v1 (TLS certificate changed) undo: switch route app-web to app-web-v1
    ");
}
