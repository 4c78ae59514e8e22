use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::config::{Boot, BootLimit, Config, Env};
use crate::desired::Selection;
use crate::diff::{DiffOptions, Reason, Resource};
use crate::host::{ContainerStatus, ImageDetails};
use crate::pipeline::{self, PlanRequest, Planned};
use crate::plan::{ActionId, Plan};
use crate::testing;
use crate::testkit::fake_host::{Fault, FaultRule, Operation};
use crate::testkit::world::FakeWorld;

/// The shared fake world with versions v1..v3 of the app, and `gantry apply`'s steps on it.
struct World(FakeWorld);

impl std::ops::Deref for World {
    type Target = FakeWorld;

    fn deref(&self) -> &FakeWorld {
        &self.0
    }
}

impl World {
    fn new(names: &[&str]) -> Self {
        Self::with_latency(names, Duration::ZERO)
    }

    fn with_latency(names: &[&str], latency: Duration) -> Self {
        World(
            FakeWorld::of_service("app")
                .versions(&["v1", "v2", "v3"])
                .registry_password("s3cret-registry")
                .latency(latency)
                .hosts(names.iter().copied()),
        )
    }

    /// Runs `then` with the plan request `gantry apply` would build for `version`.
    async fn with_request<T>(
        config: &Config,
        version: &str,
        atomic: bool,
        then: impl AsyncFnOnce(&PlanRequest<'_>) -> T,
    ) -> T {
        let secrets = testing::secrets();
        let selection = Selection::default();
        let read = |_: &str| -> Result<Vec<u8>, String> { Ok(Vec::new()) };
        let request = PlanRequest {
            config,
            secrets: &secrets,
            version,
            selection: &selection,
            diff: DiffOptions::default(),
            atomic,
            read_local_file: &read,
            app_boot_hooks: Vec::new(),
            canary: None,
        };
        then(&request).await
    }

    async fn plan(&self, config: &Config, version: &str, atomic: bool) -> Planned {
        Self::with_request(config, version, atomic, async |request| {
            let desired = pipeline::desired(request).unwrap();
            pipeline::observe_and_plan(request, desired, &self.connections(), 10).await
        })
        .await
    }

    /// Runs `apply`'s image prefetch for `version` to its end.
    async fn prefetch(&self, config: &Config, version: &str) -> usize {
        Self::with_request(config, version, false, async |request| {
            let desired = pipeline::desired(request).unwrap();
            let prefetch = pipeline::prefetch_app_images(&desired, &self.connections());
            let started = prefetch.len();
            prefetch.finish().await;
            started
        })
        .await
    }

    async fn apply_with(
        &self,
        config: &Config,
        version: &str,
        options: &ExecOptions,
        atomic: bool,
    ) -> Outcome {
        let planned = self.plan(config, version, atomic).await;
        execute(
            &planned.plan,
            &self.exec_hosts(),
            options,
            &QuietReporter,
            CancellationToken::new(),
        )
        .await
    }

    async fn apply(&self, config: &Config, version: &str) -> Outcome {
        self.apply_with(config, version, &ExecOptions::default(), false)
            .await
    }

    /// Plans `version` and executes it under `cancel` (for interruptions).
    async fn apply_cancellable(
        &self,
        config: &Config,
        version: &str,
        cancel: CancellationToken,
    ) -> Outcome {
        let planned = self.plan_default(config, version).await;
        execute(
            &planned.plan,
            &self.exec_hosts(),
            &ExecOptions::default(),
            &QuietReporter,
            cancel,
        )
        .await
    }

    /// The version each host serves: what its proxy route points at.
    fn serving(&self, host: &str) -> Option<String> {
        let fake = &self.hosts[host];
        let route = fake.routes().into_iter().find(|r| r.service == "app-web")?;
        let target = route.targets.first()?.split(':').next()?.to_string();
        fake.containers()
            .values()
            .find(|c| c.id.starts_with(&target) && c.status == ContainerStatus::Running)
            .map(|c| c.name.trim_start_matches("app-web-").to_string())
    }

    fn running(&self, host: &str) -> Vec<String> {
        self.hosts[host]
            .containers()
            .values()
            .filter(|c| c.status == ContainerStatus::Running && c.name != "kamal-proxy")
            .map(|c| c.name.clone())
            .collect()
    }
}

fn config(hosts: &[&str]) -> Config {
    testing::config(hosts)
}

#[tokio::test]
async fn fresh_hosts_converge_and_a_second_plan_is_empty() {
    let world = World::new(&["h1", "h2", "h3"]);
    let config = config(&["h1", "h2", "h3"]);
    let outcome = world.apply(&config, "v1").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    for host in ["h1", "h2", "h3"] {
        assert_eq!(outcome.hosts[host], HostOutcome::Converged);
        assert_eq!(world.serving(host).as_deref(), Some("v1"));
        let (contents, mode) = world.hosts[host]
            .file(".kamal/apps/app/env/roles/web.env")
            .unwrap();
        assert_eq!(mode, 0o600);
        assert_eq!(contents, b"DB_PASSWORD=s3cret-db\n");
        assert_eq!(
            world.hosts[host]
                .image_id("registry.test/app:latest")
                .as_deref(),
            Some("sha256:app-v1")
        );
        let container = &world.hosts[host].containers()["app-web-v1"];
        assert_eq!(
            container.labels.get("gantry.run").map(String::as_str),
            Some("gantry")
        );
    }
    let again = world.plan_default(&config, "v1").await;
    assert!(again.plan.is_empty(), "{}", again.plan);
}

impl World {
    async fn plan_default(&self, config: &Config, version: &str) -> Planned {
        self.plan(config, version, false).await
    }
}

#[tokio::test]
async fn a_new_version_switches_stops_the_old_one_and_retags() {
    let world = World::new(&["h1", "h2"]);
    let config = config(&["h1", "h2"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let outcome = world.apply(&config, "v2").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    for host in ["h1", "h2"] {
        assert_eq!(world.serving(host).as_deref(), Some("v2"));
        assert_eq!(world.running(host), vec!["app-web-v2"]);
        let old = &world.hosts[host].containers()["app-web-v1"];
        assert_eq!(
            old.status,
            ContainerStatus::Exited,
            "kept, stopped, for rollback"
        );
        assert_eq!(
            world.hosts[host]
                .image_id("registry.test/app:latest")
                .as_deref(),
            Some("sha256:app-v2")
        );
    }
    assert!(world.plan_default(&config, "v2").await.plan.is_empty());
    // Rolling back to the retained version starts it again, without a pull.
    let outcome = world.apply(&config, "v1").await;
    assert!(outcome.succeeded());
    assert_eq!(world.serving("h1").as_deref(), Some("v1"));
    assert!(world.plan_default(&config, "v1").await.plan.is_empty());
}

/// Issue 15: hosts holding the service's image tagged `latest` but no container of it (after
/// `kamal app remove` or a hand cleanup) converge in one apply: the image `latest` leaves is
/// pruned by the same run, not the next.
#[tokio::test]
async fn an_image_that_loses_latest_is_pruned_by_the_same_apply() {
    use crate::host::Host;
    let world = World::new(&["h1", "h2"]);
    let config = config(&["h1", "h2"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    for host in world.hosts.values() {
        host.remove_container("app-web-v1").await.unwrap();
        assert_eq!(
            host.image_id("registry.test/app:latest").as_deref(),
            Some("sha256:app-v1")
        );
    }
    let outcome = world.apply(&config, "v2").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    for host in world.hosts.values() {
        assert_eq!(host.image_id("registry.test/app:v1"), None);
        assert_eq!(
            host.image_id("registry.test/app:latest").as_deref(),
            Some("sha256:app-v2")
        );
    }
    let again = world.plan_default(&config, "v2").await;
    assert!(again.plan.is_empty(), "{}", again.plan);
}

/// Issue 15, found by the model test: the tag of a retained version removed by hand (its
/// stopped container still there); going back to it tags `latest` from the container's image,
/// by id, instead of failing on the missing tag and rolling back on every rerun.
#[tokio::test]
async fn going_back_to_a_version_whose_tag_was_removed_tags_latest_by_image_id() {
    use crate::host::Host;
    let world = World::new(&["h1"]);
    let config = config(&["h1"]);
    assert!(world.apply(&config, "v2").await.succeeded());
    // Docker only untags: the running container still uses the image.
    world.hosts["h1"]
        .remove_image("registry.test/app:v2", false)
        .await
        .unwrap();
    assert!(world.apply(&config, "v1").await.succeeded());
    let back = world.apply(&config, "v2").await;
    assert!(back.succeeded(), "{back:#?}");
    assert_eq!(
        world.hosts["h1"]
            .image_id("registry.test/app:latest")
            .as_deref(),
        Some("sha256:app-v2")
    );
    let again = world.plan_default(&config, "v2").await;
    assert!(again.plan.is_empty(), "{}", again.plan);
}

/// Issue 15, found by the model test: a container of the service that lost its role label, or
/// was relabelled for another destination, but holds the name the deploy creates is renamed
/// aside as Kamal does, instead of the create failing on the name and rolling back on every
/// rerun.
#[tokio::test]
async fn a_container_of_another_role_or_destination_holding_the_name_is_renamed_aside() {
    let relabellings: [fn(&mut crate::host::ContainerDetails); 2] = [
        |container| {
            container.labels.remove("role");
        },
        |container| {
            container
                .labels
                .insert("destination".into(), "staging".into());
        },
    ];
    for relabel in relabellings {
        let world = World::new(&["h1"]);
        let config = config(&["h1"]);
        assert!(world.apply(&config, "v1").await.succeeded());
        world.hosts["h1"].tamper("app-web-v1", relabel);
        let outcome = world.apply(&config, "v1").await;
        assert!(outcome.succeeded(), "{outcome:#?}");
        let names: Vec<String> = world.hosts["h1"].containers().into_keys().collect();
        assert!(
            names
                .iter()
                .any(|name| name.starts_with("app-web-v1_replaced_")),
            "{names:?}"
        );
        assert_eq!(world.serving("h1").as_deref(), Some("v1"));
        let again = world.plan_default(&config, "v1").await;
        assert!(again.plan.is_empty(), "{}", again.plan);
    }
}

fn failing_on(config: &mut Config, host: &str) {
    config.roles[0]
        .hosts
        .iter_mut()
        .filter(|h| h.host == host)
        .for_each(|h| h.tags = vec!["broken".into()]);
    config.env_tags.insert(
        "broken".into(),
        Env {
            clear: [("FAIL_HEALTHCHECK".to_string(), "1".to_string())].into(),
            secrets: Vec::new(),
        },
    );
}

#[tokio::test]
async fn a_failing_health_check_rolls_back_only_that_host() {
    let world = World::new(&["h1", "h2", "h3"]);
    let config = config(&["h1", "h2", "h3"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let mut broken = config.clone();
    failing_on(&mut broken, "h2");
    let outcome = world.apply(&broken, "v2").await;
    assert!(!outcome.succeeded());
    assert_eq!(outcome.hosts["h1"], HostOutcome::Converged);
    assert_eq!(outcome.hosts["h3"], HostOutcome::Converged);
    let HostOutcome::RolledBack { cause } = &outcome.hosts["h2"] else {
        panic!("h2: {:?}", outcome.hosts["h2"]);
    };
    assert!(cause.contains("healthy"), "{cause}");
    assert_eq!(world.serving("h2").as_deref(), Some("v1"));
    assert_eq!(world.running("h2"), vec!["app-web-v1"]);
    // The new version that failed is stopped and kept for inspection, as Kamal keeps it.
    let containers = world.hosts["h2"].containers();
    let kept = containers.get("app-web-v2").expect("app-web-v2 kept");
    assert_eq!(kept.status, ContainerStatus::Exited);
    assert_eq!(
        world.hosts["h2"]
            .image_id("registry.test/app:latest")
            .as_deref(),
        Some("sha256:app-v1")
    );
    // The next plan shows only h2's pending change.
    let next = world.plan_default(&broken, "v2").await;
    let hosts: Vec<&str> = next
        .plan
        .actions()
        .map(|(_, node)| node.host.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(hosts, vec!["h2"]);

    // Once healthy, the next apply renames the kept container aside and boots a fresh one.
    let change = next
        .plan
        .changes
        .hosts
        .iter()
        .flat_map(|host| &host.changes)
        .find(|change| matches!(change.resource, Resource::App { .. }))
        .expect("the role's change");
    assert_eq!(change.reason, Reason::FailedBoot);
    assert!(world.apply(&config, "v2").await.succeeded());
    assert_eq!(world.serving("h2").as_deref(), Some("v2"));
    let names: Vec<String> = world.hosts["h2"].containers().into_keys().collect();
    assert!(
        names
            .iter()
            .any(|name| name.starts_with("app-web-v2_replaced_")),
        "{names:?}"
    );
    assert!(world.plan_default(&config, "v2").await.plan.is_empty());
}

#[tokio::test]
async fn atomic_rolls_every_host_back() {
    let world = World::new(&["h1", "h2", "h3"]);
    let config = config(&["h1", "h2", "h3"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let mut broken = config.clone();
    failing_on(&mut broken, "h3");
    let outcome = world
        .apply_with(&broken, "v2", &ExecOptions::default(), true)
        .await;
    assert!(!outcome.succeeded());
    for host in ["h1", "h2", "h3"] {
        assert!(
            matches!(outcome.hosts[host], HostOutcome::RolledBack { .. }),
            "{host}: {:?}",
            outcome.hosts[host]
        );
        assert_eq!(world.serving(host).as_deref(), Some("v1"), "{host}");
        assert_eq!(world.running(host), vec!["app-web-v1"], "{host}");
    }
}

/// Deploy v2 to two hosts with one fault injected on h1; h1 must end as it was (v1 serving)
/// and h2 on v2, and a rerun after healing must converge.
async fn fault_round(operation: Operation, fault: Fault, matching: Option<&str>) {
    let world = World::new(&["h1", "h2"]);
    let config = config(&["h1", "h2"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let mut rule = FaultRule::once(operation, fault.clone());
    if let Some(text) = matching {
        rule = rule.matching(text);
    }
    world.hosts["h1"].inject(rule);
    let outcome = world.apply(&config, "v2").await;
    let label = format!("{operation:?}/{fault:?}");
    assert_eq!(outcome.hosts["h2"], HostOutcome::Converged, "{label}");
    assert_eq!(world.serving("h2").as_deref(), Some("v2"), "{label}");
    match &outcome.hosts["h1"] {
        HostOutcome::RolledBack { .. } => {
            assert_eq!(world.serving("h1").as_deref(), Some("v1"), "{label}");
            assert_eq!(world.running("h1"), vec!["app-web-v1"], "{label}");
        }
        HostOutcome::Failed {
            rollback_errors, ..
        } => {
            assert_eq!(fault, Fault::Disconnect, "{label}: {rollback_errors:?}");
        }
        other => panic!("{label}: h1 {other:?}"),
    }
    world.hosts["h1"].heal();
    let rerun = world.apply(&config, "v2").await;
    assert!(rerun.succeeded(), "{label}: {rerun:#?}");
    assert_eq!(world.serving("h1").as_deref(), Some("v2"), "{label}");
    assert!(
        world.plan_default(&config, "v2").await.plan.is_empty(),
        "{label}"
    );
}

#[tokio::test]
async fn a_fault_at_every_step_of_a_deploy_rolls_the_host_back() {
    let steps = [
        (Operation::PullImage, None),
        (Operation::CreateContainer, None),
        (Operation::StartContainer, None),
        (Operation::ExecInContainer, Some("deploy")),
        (Operation::StopContainer, None),
        (Operation::TagImage, None),
    ];
    for (operation, matching) in steps {
        fault_round(operation, Fault::Fail("injected".into()), matching).await;
        fault_round(operation, Fault::Timeout, matching).await;
    }
}

/// Issue 15: a panic inside an action is that action's failure: its host rolls back and a
/// rerun converges, as for any other fault.
#[tokio::test]
async fn a_panicking_action_fails_and_rolls_its_host_back() {
    for (operation, matching) in [
        (Operation::PullImage, None),
        (Operation::CreateContainer, None),
        (Operation::StartContainer, None),
        (Operation::ExecInContainer, Some("deploy")),
        (Operation::StopContainer, None),
        (Operation::TagImage, None),
    ] {
        fault_round(operation, Fault::Panic("injected panic".into()), matching).await;
    }
    let world = World::new(&["h1"]);
    let config = config(&["h1"]);
    world.hosts["h1"].inject(FaultRule::once(
        Operation::StartContainer,
        Fault::Panic("injected panic".into()),
    ));
    let outcome = world.apply(&config, "v1").await;
    let errors: Vec<&String> = outcome
        .actions
        .values()
        .filter_map(|result| match result {
            ActionResult::Failed { error, .. } => Some(error),
            _ => None,
        })
        .collect();
    assert_eq!(
        errors,
        vec!["gantry failed inside this action: injected panic"],
        "{outcome:#?}"
    );
    assert!(matches!(
        outcome.hosts["h1"],
        HostOutcome::RolledBack { .. }
    ));
}

#[tokio::test]
async fn a_dropped_connection_mid_deploy_is_reported_and_a_rerun_converges() {
    for operation in [
        Operation::ExecInContainer,
        Operation::StopContainer,
        Operation::TagImage,
    ] {
        fault_round(operation, Fault::Disconnect, None).await;
    }
}

#[tokio::test]
async fn parallelism_bounds_concurrent_actions() {
    let names: Vec<String> = (1..=12).map(|i| format!("h{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let world = World::with_latency(&refs, Duration::from_millis(5));
    let config = config(&refs);
    let options = ExecOptions {
        parallelism: 3,
        ..ExecOptions::default()
    };
    let planned = world.plan_default(&config, "v1").await;
    let before = world.meter.max_concurrent_calls();
    assert!(before > 3, "observe runs hosts in parallel");
    // Fresh hosts like the observed ones, on a meter of their own for the execution.
    let world = World::with_latency(&refs, Duration::from_millis(5));
    let meter = world.meter.clone();
    let outcome = execute(
        &planned.plan,
        &world.exec_hosts(),
        &options,
        &QuietReporter,
        CancellationToken::new(),
    )
    .await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    assert!(
        meter.max_concurrent_calls() <= 3,
        "{}",
        meter.max_concurrent_calls()
    );
    assert!(meter.max_concurrent_calls() >= 2);
}

/// Records the order in which actions start and finish.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
}

impl Reporter for Recorder {
    fn action_started(&self, plan: &Plan, id: ActionId) {
        let node = plan.node(id);
        self.events
            .lock()
            .unwrap()
            .push(format!("start {} {}", node.host, node.action));
    }
    fn action_finished(&self, plan: &Plan, id: ActionId, _took: Duration) {
        let node = plan.node(id);
        self.events
            .lock()
            .unwrap()
            .push(format!("done {} {}", node.host, node.action));
    }
    fn pull_progress(&self, plan: &Plan, id: ActionId, progress: &crate::host::PullProgress) {
        let node = plan.node(id);
        self.events
            .lock()
            .unwrap()
            .push(format!("pulled {} {}: {progress}", node.host, node.action));
    }
}

/// A pull that takes a while is reported while it runs, as its host tallies it (a fake pull
/// is one layer that arrives whole), once per change rather than on every reading.
#[tokio::test(start_paused = true)]
async fn a_slow_pull_reports_how_far_it_has_come_while_it_runs() {
    let world = World::with_latency(&["h1"], Duration::from_millis(1_600));
    let planned = world.plan_default(&config(&["h1"]), "v1").await;
    let recorder = Recorder::default();
    let outcome = execute(
        &planned.plan,
        &world.exec_hosts(),
        &ExecOptions::default(),
        &recorder,
        CancellationToken::new(),
    )
    .await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    let events = recorder.events.lock().unwrap().clone();
    let position = |text: &str| {
        events
            .iter()
            .position(|event| event == text)
            .unwrap_or_else(|| panic!("no {text:?} in {events:#?}"))
    };
    let pulled = position("pulled h1 pull registry.test/app:v1: 0/1 layers");
    assert!(position("start h1 pull registry.test/app:v1") < pulled);
    assert!(pulled < position("done h1 pull registry.test/app:v1"));
    assert_eq!(
        events
            .iter()
            .filter(|event| event.starts_with("pulled h1 pull registry.test/app:v1"))
            .count(),
        1,
        "{events:#?}"
    );
}

#[tokio::test]
async fn boot_limit_deploys_one_group_after_the_other() {
    let world = World::with_latency(&["h1", "h2", "h3"], Duration::from_millis(2));
    let mut config = config(&["h1", "h2", "h3"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    config.boot = Boot {
        limit: Some(BootLimit::Hosts(1)),
        wait: None,
        parallel_roles: false,
    };
    let planned = world.plan_default(&config, "v2").await;
    let recorder = Recorder::default();
    let outcome = execute(
        &planned.plan,
        &world.exec_hosts(),
        &ExecOptions::default(),
        &recorder,
        CancellationToken::new(),
    )
    .await;
    assert!(outcome.succeeded());
    let events = recorder.events.lock().unwrap().clone();
    let position = |text: &str| events.iter().position(|e| e == text).unwrap();
    assert!(
        position("done h1 stop app-web-v1")
            < position("start h2 run app-web-v2 (registry.test/app:v2)")
    );
    assert!(
        position("done h2 stop app-web-v1")
            < position("start h3 run app-web-v2 (registry.test/app:v2)")
    );
}

#[tokio::test]
async fn cancelling_mid_run_rolls_back_hosts_caught_half_way() {
    let world = World::with_latency(&["h1", "h2", "h3"], Duration::from_millis(20));
    let config = config(&["h1", "h2", "h3"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(70)).await;
        trigger.cancel();
    });
    let outcome = world.apply_cancellable(&config, "v2", cancel).await;
    assert_eq!(outcome.cancelled.as_deref(), Some("interrupted"));
    for host in ["h1", "h2", "h3"] {
        let serving = world.serving(host);
        let running = world.running(host);
        // Never half-switched: either still on v1 (rolled back or untouched) or fully on v2.
        match &outcome.hosts[host] {
            HostOutcome::Converged => assert_eq!(serving.as_deref(), Some("v2"), "{host}"),
            HostOutcome::RolledBack { .. } | HostOutcome::Cancelled => {
                assert_eq!(serving.as_deref(), Some("v1"), "{host}");
                assert_eq!(running, vec!["app-web-v1"], "{host}");
            }
            other => panic!("{host}: {other:?}"),
        }
    }
    assert!(world.apply(&config, "v2").await.succeeded());
}

/// A signal just before execution starts: nothing runs, and the run says it was interrupted
/// (exit 128 + the signal), not that it failed (found by SIGTERM tests on the test bed: exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_before_the_walk_begins_is_an_interruption() {
    // A race between worker threads: tried enough times to lose it.
    for _ in 0..20 {
        let world = World::with_latency(&["h1", "h2"], Duration::ZERO);
        let config = config(&["h1", "h2"]);
        assert!(world.apply(&config, "v1").await.succeeded());
        let cancel = CancellationToken::new();
        cancel.cancel();
        let outcome = world.apply_cancellable(&config, "v2", cancel).await;
        assert_eq!(outcome.cancelled.as_deref(), Some("interrupted"));
        for host in ["h1", "h2"] {
            assert!(
                matches!(
                    outcome.hosts[host],
                    HostOutcome::Cancelled | HostOutcome::RolledBack { .. }
                ),
                "{host}: {:?}",
                outcome.hosts[host]
            );
            assert_eq!(world.serving(host).as_deref(), Some("v1"), "{host}");
        }
    }
}

#[tokio::test]
async fn fail_fast_stops_other_hosts_too() {
    let world = World::with_latency(&["h1", "h2"], Duration::from_millis(10));
    let config = config(&["h1", "h2"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    world.hosts["h1"].inject(FaultRule::once(
        Operation::PullImage,
        Fault::Fail("denied".into()),
    ));
    let options = ExecOptions {
        fail_fast: true,
        ..ExecOptions::default()
    };
    let outcome = world.apply_with(&config, "v2", &options, false).await;
    assert!(outcome.cancelled.is_some());
    assert_eq!(world.serving("h2").as_deref(), Some("v1"));
    assert!(!outcome.succeeded());
}

#[tokio::test]
async fn the_root_cause_is_reported_not_the_cascade() {
    let world = World::new(&["h1", "h2"]);
    let mut config = config(&["h1"]);
    config
        .roles
        .push(testing::role("workers", &["h2"], None, Env::default()));
    world.hosts["h1"].inject(
        FaultRule::once(Operation::PullImage, Fault::Fail("manifest unknown".into()))
            .matching("registry.test/app"),
    );
    let outcome = world.apply(&config, "v1").await;
    let HostOutcome::RolledBack { cause } = &outcome.hosts["h1"] else {
        panic!("{:?}", outcome.hosts["h1"]);
    };
    assert!(
        cause.contains("pull registry.test/app:v1 failed"),
        "{cause}"
    );
    let HostOutcome::Skipped { cause } = &outcome.hosts["h2"] else {
        panic!("{:?}", outcome.hosts["h2"]);
    };
    assert!(cause.contains("h1"), "{cause}");
    assert!(world.running("h2").is_empty());
}

#[tokio::test]
async fn registry_credentials_travel_with_each_pull() {
    let world = World::new(&["h1"]);
    let mut config = config(&["h1"]);
    config.registry.password = Some(crate::config::ValueOrSecret::Value("wrong".into()));
    let outcome = world.apply(&config, "v1").await;
    let HostOutcome::RolledBack { cause } = &outcome.hosts["h1"] else {
        panic!("{:?}", outcome.hosts["h1"]);
    };
    assert!(cause.contains("unauthorized"), "{cause}");
}

/// The plan's pull is what a prefetch saves: once the image is there, the plan has none, and
/// a failed prefetch leaves the pull (and its error) to the plan.
#[tokio::test]
async fn a_prefetch_pulls_ahead_and_the_plan_then_skips_the_pull() {
    let world = World::new(&["h1", "h2"]);
    let config = config(&["h1", "h2"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let pulls = |planned: &Planned| planned.plan.to_string().matches("pull").count();
    assert_eq!(pulls(&world.plan_default(&config, "v2").await), 2);
    assert_eq!(world.prefetch(&config, "v2").await, 2, "one per host");
    for host in ["h1", "h2"] {
        assert_eq!(
            world.hosts[host]
                .image_id("registry.test/app:v2")
                .as_deref(),
            Some("sha256:app-v2")
        );
    }
    let planned = world.plan_default(&config, "v2").await;
    assert_eq!(pulls(&planned), 0, "{}", planned.plan);
    assert!(world.apply(&config, "v2").await.succeeded());

    let mut wrong = config.clone();
    wrong.registry.password = Some(crate::config::ValueOrSecret::Value("wrong".into()));
    world.prefetch(&wrong, "v3").await;
    assert_eq!(world.hosts["h1"].image_id("registry.test/app:v3"), None);
    let HostOutcome::RolledBack { cause } = &world.apply(&wrong, "v3").await.hosts["h1"] else {
        panic!("v3 cannot be pulled");
    };
    assert!(cause.contains("unauthorized"), "{cause}");
}

/// A version that crash-loops is replaced by the same version with a fixed configuration:
/// dockerd cannot rename a container between two restarts, so the rename stops it first.
#[tokio::test]
async fn a_container_in_a_restart_loop_is_stopped_before_its_rename() {
    let world = World::new(&["h1"]);
    let mut config = config(&["h1"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    world.hosts["h1"].tamper("app-web-v1", |container| {
        container.status = ContainerStatus::Restarting;
    });
    config.roles[0]
        .env
        .clear
        .insert("FIXED".to_string(), "1".to_string());
    let outcome = world.apply(&config, "v1").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    assert_eq!(world.running("h1"), vec!["app-web-v1"]);
    let replaced: Vec<_> = world.hosts["h1"]
        .containers()
        .into_values()
        .filter(|c| c.name.starts_with("app-web-v1_replaced_"))
        .collect();
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].status, ContainerStatus::Exited);
}

/// The web role with `asset_path`, and error pages.
fn config_with_host_steps(hosts: &[&str]) -> Config {
    let mut config = config(hosts);
    config.roles[0].asset_path = Some("/app/public".into());
    config.error_pages_path = Some("public".into());
    config.error_pages = vec!["public/5xx.html".into()];
    config
}

#[tokio::test]
async fn assets_of_both_versions_are_in_the_new_volume_and_older_ones_are_cleaned() {
    let world = World::new(&["h1"]);
    let config = config_with_host_steps(&["h1"]);
    let host = &world.hosts["h1"];
    let asset = |dir: &str, version: &str| {
        host.file(&format!(
            ".kamal/apps/app/assets/{dir}/registry.test_app_{version}"
        ))
        .map(|(bytes, _)| String::from_utf8(bytes).unwrap())
    };

    assert!(world.apply(&config, "v1").await.succeeded());
    assert_eq!(
        asset("extracted/web-v1", "v1").as_deref(),
        Some("registry.test/app:v1")
    );
    assert!(asset("volumes/web-v1", "v1").is_some());
    let container = &host.containers()["app-web-v1"];
    assert!(
        container
            .binds
            .contains(&"/root/.kamal/apps/app/assets/volumes/web-v1:/app/public".to_string()),
        "{:?}",
        container.binds
    );
    assert!(world.plan_default(&config, "v1").await.plan.is_empty());

    let outcome = world.apply(&config, "v2").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    // Requests in flight during the switch find both versions' files in the new volume.
    assert!(asset("volumes/web-v2", "v1").is_some());
    assert!(asset("volumes/web-v2", "v2").is_some());
    // Once v1 stopped, its directories went, as Kamal cleans them.
    assert!(asset("extracted/web-v1", "v1").is_none());
    assert!(asset("volumes/web-v1", "v1").is_none());
    assert!(world.plan_default(&config, "v2").await.plan.is_empty());

    // A rollback to the retained v1 fills its volume again before it starts.
    let outcome = world.apply(&config, "v1").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    assert!(asset("volumes/web-v1", "v1").is_some());
    assert!(asset("volumes/web-v1", "v2").is_some());
    assert!(world.plan_default(&config, "v1").await.plan.is_empty());
}

#[tokio::test]
async fn a_failed_asset_extraction_stops_the_deploy_before_the_container_starts() {
    let world = World::new(&["h1"]);
    let config = config_with_host_steps(&["h1"]);
    world.hosts["h1"].inject(FaultRule::once(
        Operation::ExtractImageDirectory,
        Fault::Fail("no space left on device".into()),
    ));
    let outcome = world.apply(&config, "v1").await;
    assert!(!outcome.succeeded());
    assert!(!world.hosts["h1"].containers().contains_key("app-web-v1"));
    assert!(world.apply(&config, "v1").await.succeeded());
    assert!(world.plan_default(&config, "v1").await.plan.is_empty());
}

#[tokio::test]
async fn error_pages_are_uploaded_per_version_and_older_versions_removed() {
    let world = World::new(&["h1"]);
    let config = config_with_host_steps(&["h1"]);
    let host = &world.hosts["h1"];
    let page = |version: &str| {
        host.file(&format!(
            ".kamal/proxy/apps-config/app/error_pages/{version}/5xx.html"
        ))
    };
    assert!(world.apply(&config, "v1").await.succeeded());
    assert_eq!(page("v1").map(|(_, mode)| mode), Some(0o644));
    let route = host
        .routes()
        .into_iter()
        .find(|route| route.service == "app-web")
        .unwrap();
    assert!(
        format!("{route:?}").contains("/home/kamal-proxy/.apps-config/app/error_pages/v1"),
        "{route:?}"
    );
    assert!(world.plan_default(&config, "v1").await.plan.is_empty());

    assert!(world.apply(&config, "v2").await.succeeded());
    assert!(page("v2").is_some());
    assert!(page("v1").is_none());
    assert!(world.plan_default(&config, "v2").await.plan.is_empty());
}

/// Issue 12: `v1` pushed again with other contents is served after the next apply of `v1`, and
/// the plan after that is empty; an image labelled for another service never runs.
#[tokio::test]
async fn a_tag_pushed_again_is_pulled_and_served_and_a_stranger_image_never_runs() {
    let world = World::new(&["h1"]);
    let config = config(&["h1"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let pushed_again = ImageDetails {
        id: "sha256:app-v1-pushed-again".into(),
        labels: [("service".to_string(), "app".to_string())].into(),
        ..ImageDetails::default()
    };
    world.registry.push("registry.test/app:v1", pushed_again);
    let planned = world.plan_default(&config, "v1").await;
    assert!(
        planned
            .plan
            .to_string()
            .contains("image changed in the registry"),
        "{}",
        planned.plan
    );
    world.hosts["h1"].reconnect();
    let outcome = world.apply(&config, "v1").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    let containers = world.hosts["h1"].containers();
    assert_eq!(
        containers["app-web-v1"].image_id, "sha256:app-v1-pushed-again",
        "the container runs the image pushed again"
    );
    assert_eq!(world.serving("h1").as_deref(), Some("v1"));
    let again = world.plan_default(&config, "v1").await;
    assert!(again.plan.is_empty(), "{}", again.plan);

    world.registry.push(
        "registry.test/app:v3",
        ImageDetails {
            id: "sha256:stranger".into(),
            labels: [("service".to_string(), "other".to_string())].into(),
            ..ImageDetails::default()
        },
    );
    let outcome = world.apply(&config, "v3").await;
    assert!(!outcome.succeeded());
    assert!(
        !world.hosts["h1"].containers().contains_key("app-web-v3"),
        "nothing was created from the stranger image"
    );
    assert_eq!(world.serving("h1").as_deref(), Some("v1"));
}

/// Issue 12: an accessory's files get their mode and owner, its absolute directory is created
/// with its mode and owner, both are mounted, and the next plan is empty.
#[tokio::test]
async fn accessory_files_and_absolute_directories_get_mode_and_owner() {
    let world = World::new(&["h1"]);
    world.registry.push("mysql:8", ImageDetails::default());
    let mut config = config(&["h1"]);
    let mount =
        |local: &str, remote: &str, mode: &str, owner: &str| crate::config::AccessoryMount {
            local: local.into(),
            remote: remote.into(),
            mode: Some(mode.into()),
            owner: Some(owner.into()),
            options: None,
        };
    config.accessories.push(crate::config::Accessory {
        name: "db".into(),
        service: "app-db".into(),
        image: "mysql:8".into(),
        registry: None,
        hosts: vec!["h1".into()],
        cmd: None,
        ports: Vec::new(),
        labels: Default::default(),
        options: Default::default(),
        restart_policy: "unless-stopped".into(),
        env: Env::default(),
        files: vec![mount(
            "config/my.cnf",
            "/etc/mysql/my.cnf",
            "0640",
            "999:999",
        )],
        directories: vec![mount("/var/lib/db", "/var/lib/mysql", "0700", "mysql")],
        volumes: vec!["~/backups:/backups".into()],
        network: "kamal".into(),
        proxy: None,
    });
    let outcome = world.apply(&config, "v1").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    let h1 = &world.hosts["h1"];
    let (_, mode) = h1.file("app-db/etc/mysql/my.cnf").expect("the file");
    assert_eq!(mode, 0o640);
    assert_eq!(
        h1.attributes("app-db/etc/mysql/my.cnf"),
        Some((None, Some("999:999".to_string())))
    );
    assert!(h1.has_directory("/var/lib/db"));
    assert_eq!(
        h1.attributes("/var/lib/db"),
        Some((Some(0o700), Some("mysql".to_string())))
    );
    let home = h1.home_dir().await.unwrap();
    assert_eq!(
        h1.containers()["app-db"].binds,
        [
            format!("{home}/backups:/backups"),
            format!("{home}/app-db/etc/mysql/my.cnf:/etc/mysql/my.cnf"),
            "/var/lib/db:/var/lib/mysql".to_string(),
        ]
    );
    let again = world.plan_default(&config, "v1").await;
    assert!(again.plan.is_empty(), "{}", again.plan);
}

/// A registry that cannot name the tag's digest leaves the host observed and the app alone; a
/// host whose connection drops during that request is unreachable, as for any other request.
#[tokio::test]
async fn a_registry_that_cannot_answer_changes_nothing() {
    let world = World::new(&["h1"]);
    let config = config(&["h1"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    world.registry.push(
        "registry.test/app:v1",
        ImageDetails {
            id: "sha256:app-v1-pushed-again".into(),
            ..ImageDetails::default()
        },
    );
    world.hosts["h1"].inject(FaultRule::once(
        Operation::RegistryDigest,
        Fault::Fail("registry unavailable".into()),
    ));
    let planned = world.plan_default(&config, "v1").await;
    assert!(planned.plan.is_empty(), "{}", planned.plan);
    assert!(planned.observed.hosts["h1"].state().is_some());

    world.hosts["h1"].inject(FaultRule::once(
        Operation::RegistryDigest,
        Fault::Disconnect,
    ));
    let planned = world.plan_default(&config, "v1").await;
    assert!(planned.observed.hosts["h1"].state().is_none());
}

/// Issue 12: a role without the proxy whose health check fails at first is polled until
/// `deploy_timeout`, as Kamal's poller does (a check can pass later), and fails with the last
/// state it saw when it never passes.
#[tokio::test]
async fn an_unhealthy_container_without_the_proxy_is_polled_until_the_deploy_timeout() {
    let world = World::new(&["h1"]);
    let mut config = config(&["h1"]);
    config.deploy_timeout = 5;
    config.roles.push(testing::role(
        "workers",
        &["h1"],
        None,
        Env {
            clear: [("FAIL_HEALTHCHECK".to_string(), "1".to_string())].into(),
            secrets: Vec::new(),
        },
    ));
    let host = world.hosts["h1"].clone();
    let recovers = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if host.containers().contains_key("app-workers-v1") {
                tokio::time::sleep(Duration::from_millis(700)).await;
                host.tamper("app-workers-v1", |container| {
                    container.health = Some(crate::host::Health::Healthy);
                });
                return;
            }
        }
    });
    let outcome = world.apply(&config, "v1").await;
    recovers.await.unwrap();
    assert!(outcome.succeeded(), "{outcome:#?}");

    config.deploy_timeout = 1;
    let outcome = world.apply(&config, "v2").await;
    let HostOutcome::RolledBack { cause } = &outcome.hosts["h1"] else {
        panic!("{:?}", outcome.hosts["h1"]);
    };
    assert!(cause.contains("is unhealthy after 1s"), "{cause}");
}

/// kamal-proxy rewrites its state file in place: a read can find half of it. Read again, it is
/// whole; read half every time, the host cannot be planned. Never "no routes" (which would plan
/// every route anew).
#[tokio::test(start_paused = true)]
async fn a_state_file_read_mid_write_is_read_again_never_taken_for_no_routes() {
    let world = World::new(&["h1"]);
    let config = config(&["h1"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let state_reads = || {
        world.hosts["h1"]
            .calls()
            .iter()
            .filter(|(operation, _)| *operation == Operation::ReadContainerFile)
            .count()
    };

    let before = state_reads();
    world.hosts["h1"].inject(FaultRule {
        times: Some(2),
        ..FaultRule::always(Operation::ReadContainerFile, Fault::CutShort)
    });
    let planned = world.plan_default(&config, "v1").await;
    let state = planned.observed.hosts["h1"].state().expect("h1 observed");
    assert_eq!(
        state.routes.as_ref().map(Vec::len),
        Some(1),
        "the route read back"
    );
    assert!(planned.plan.is_empty(), "{}", planned.plan);
    assert_eq!(state_reads() - before, 3, "two halves, then the whole file");

    world.hosts["h1"].inject(FaultRule::always(
        Operation::ReadContainerFile,
        Fault::CutShort,
    ));
    let planned = world.plan_default(&config, "v1").await;
    match &planned.observed.hosts["h1"] {
        crate::observe::ObservedHost::Unreachable { reason } => assert!(
            reason.contains("kamal-proxy state file is empty or cut off"),
            "{reason}"
        ),
        other => panic!("planned from half a state file: {other:?}"),
    }
}

/// Issue 12: a private kamal-proxy image on the app's registry (`proxy.run.registry`) is pulled
/// with the app registry's credentials, as Kamal logs in to that registry before it boots the
/// proxy.
#[tokio::test]
async fn a_proxy_image_on_the_apps_registry_is_pulled_with_its_credentials() {
    let world = World::new(&["h1"]);
    world.registry.push(
        "registry.test/basecamp/kamal-proxy:v0.9.2",
        ImageDetails {
            id: "sha256:private-proxy".into(),
            cmd: vec!["kamal-proxy".into(), "run".into()],
            ..ImageDetails::default()
        },
    );
    let mut config = config(&["h1"]);
    config.proxy_run.registry = Some("registry.test".into());
    config.proxy_run.configured = true;
    let outcome = world.apply(&config, "v1").await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    assert_eq!(
        world.hosts["h1"].containers()["kamal-proxy"].image,
        "registry.test/basecamp/kamal-proxy:v0.9.2"
    );
    assert!(world.plan_default(&config, "v1").await.plan.is_empty());
}

mod canary;
mod model;

/// Hooks that record `<hook> <KAMAL_HOSTS>` and fail for one of them.
struct RecordingHooks {
    calls: Mutex<Vec<String>>,
    failing: &'static str,
}

#[async_trait::async_trait]
impl LocalHooks for RecordingHooks {
    async fn run_hook(&self, hook: &str, hosts: &[String]) -> Result<(), String> {
        let call = format!("{hook} {}", hosts.join(","));
        self.calls.lock().unwrap().push(call.clone());
        if call == self.failing {
            return Err(format!("hook `{hook}` failed (exit code 1)"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn boot_hooks_run_around_each_group_and_a_failing_one_stops_the_groups_after_it() {
    let world = World::new(&["h1", "h2", "h3"]);
    let mut config = config(&["h1", "h2", "h3"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    config.boot = Boot {
        limit: Some(BootLimit::Hosts(1)),
        wait: None,
        parallel_roles: false,
    };
    let planned = world.plan(&config, "v2", false).await;
    let plan = crate::plan::build(
        planned.plan.changes.clone(),
        &crate::plan::PlanOptions {
            atomic: false,
            boot: config.boot.clone(),
            primary_role: config.primary_role.clone(),
            app_boot_hooks: vec![
                crate::plan::PRE_APP_BOOT.into(),
                crate::plan::POST_APP_BOOT.into(),
            ],
            canary: None,
        },
    );
    let hooks = Arc::new(RecordingHooks {
        calls: Mutex::new(Vec::new()),
        failing: "pre-app-boot h2",
    });
    let options = ExecOptions {
        hooks: Some(hooks.clone()),
        ..ExecOptions::default()
    };
    let outcome = execute(
        &plan,
        &world.exec_hosts(),
        &options,
        &QuietReporter,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        *hooks.calls.lock().unwrap(),
        vec!["pre-app-boot h1", "post-app-boot h1", "pre-app-boot h2"]
    );
    assert_eq!(outcome.hosts["h1"], HostOutcome::Converged);
    assert_eq!(world.serving("h1").as_deref(), Some("v2"));
    for host in ["h2", "h3"] {
        assert_eq!(world.serving(host).as_deref(), Some("v1"), "{host}");
        assert_eq!(world.running(host), vec!["app-web-v1"], "{host}");
    }
    let HostOutcome::RolledBack { cause } = &outcome.hosts["h2"] else {
        panic!("h2: {:?}", outcome.hosts["h2"]);
    };
    assert!(cause.contains("pre-app-boot"), "{cause}");
    assert!(
        matches!(outcome.hosts["h3"], HostOutcome::Skipped { .. }),
        "h3: {:?}",
        outcome.hosts["h3"]
    );
}

#[tokio::test]
async fn the_timeline_draws_every_action_and_colours_the_failure_and_its_rollback() {
    use crate::report::timeline::{BarKind, TimelineRecorder, render_timeline_svg};
    let world = World::new(&["h1", "h2"]);
    let config = config(&["h1", "h2"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    let mut broken = config.clone();
    failing_on(&mut broken, "h2");
    let planned = world.plan_default(&broken, "v2").await;
    let (recorder, handle) = TimelineRecorder::new(Box::new(QuietReporter));
    let outcome = execute(
        &planned.plan,
        &world.exec_hosts(),
        &ExecOptions::default(),
        &recorder,
        CancellationToken::new(),
    )
    .await;
    assert!(!outcome.succeeded());
    let timeline = handle.timeline();
    let ran = outcome
        .actions
        .values()
        .filter(|result| !matches!(result, ActionResult::Skipped { .. } | ActionResult::NotRun))
        .count();
    let kinds = |kind: BarKind| timeline.bars.iter().filter(|bar| bar.kind == kind).count();
    assert_eq!(
        kinds(BarKind::Done) + kinds(BarKind::Failed) + kinds(BarKind::RolledBack),
        ran
    );
    assert_eq!(kinds(BarKind::Failed), 1);
    assert!(kinds(BarKind::RolledBack) > 0);
    assert_eq!(kinds(BarKind::Undo), kinds(BarKind::RolledBack));
    assert!(
        timeline
            .bars
            .iter()
            .filter(|bar| bar.kind != BarKind::Done)
            .all(|bar| bar.host == "h2")
    );
    assert!(timeline.bars.iter().all(|bar| bar.start <= bar.end));

    let redactor = crate::secret::Redactor::new(testing::secrets().values());
    let picture = render_timeline_svg(&planned.plan, &timeline, &redactor);
    let document = roxmltree::Document::parse(&picture).expect("well-formed SVG");
    let bars: Vec<_> = document
        .descendants()
        .filter(|element| element.attribute("class") == Some("bar"))
        .collect();
    assert_eq!(bars.len(), timeline.bars.len());
    assert_eq!(
        bars.iter()
            .filter(|bar| bar.attribute("data-kind") == Some("failed"))
            .count(),
        1
    );
    assert!(!picture.contains("s3cret"));
}
