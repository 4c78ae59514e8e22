//! Faults at every point of a deploy, on fake hosts (specs/reliability.md, "Faults on fake hosts").
//!
//! A deploy of v2 over v1 on three hosts (a proxied `web` role everywhere, a `workers` role
//! without the proxy on h3, a `db` accessory with a data directory on h1) is first run clean,
//! recording every `Host` call. Then, for every one of those calls on every host, a fresh world
//! deploys v1, gets that one call faulted (it fails, it times out, or the connection drops there
//! and stays down), and runs the v2 deploy the way `gantry apply` does: lock, plan, journal,
//! execute, audit, release. After each run:
//!
//! - every host still serves: its `web` route targets a running container (v1 or v2);
//! - the accessory is untouched: same container, still running, its data directory still there;
//! - the deploy lock is released, unless the lock host's connection was down at release time;
//! - no host is left with two running containers of one role unless the run reported it failed
//!   without a full rollback;
//! - once healed (and, if the lock host was down at release, the lock released by hand), one
//!   rerun converges and a new plan is empty.
//!
//! The tally printed at the end (run with `--nocapture`) is the source of the fake-host table in
//! specs/reliability.md.

mod fake_world;

use std::collections::BTreeMap;

use fake_world::{FakeWorld, Run};
use gantry::apply::HostOutcome;
use gantry::host::{ContainerStatus, Host};
use gantry::records::lock;
use gantry::testkit::fake_host::{Fault, FaultRule, Operation};

const HOSTS: [&str; 3] = ["h1", "h2", "h3"];

fn deploy_yml(secrets_path: &str) -> String {
    format!(
        r#"service: app
image: app
servers:
  web:
    hosts: [h1, h2, h3]
  workers:
    hosts: [h3]
    cmd: bin/jobs
proxy:
  app_port: 80
registry:
  server: registry.test
  username: deployer
  password: [REGISTRY_PASSWORD]
builder:
  arch: amd64
env:
  clear:
    RAILS_ENV: production
  secret: [DB_PASSWORD]
accessories:
  db:
    image: registry.test/db:16
    host: h1
    directories:
      - data:/var/lib/db
    env:
      secret: [DB_PASSWORD]
secrets_path: {secrets_path}
"#
    )
}

fn world() -> FakeWorld {
    let secrets = format!(
        "DB_PASSWORD=fault-db-s3cret\nREGISTRY_PASSWORD={}\n",
        fake_world::REGISTRY_PASSWORD
    );
    FakeWorld::new(&HOSTS, &deploy_yml, &secrets).expect("the test config loads")
}

fn serving(world: &FakeWorld, host: &str) -> Option<String> {
    world.serving(host, "app-web")
}

/// Running containers per role prefix (`app-web`, `app-workers`) on `host`.
fn running_per_role(world: &FakeWorld, host: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for container in world.host(host).containers().values() {
        if container.status != ContainerStatus::Running {
            continue;
        }
        for role in ["app-web-", "app-workers-"] {
            if container.name.starts_with(role) {
                *counts
                    .entry(role.trim_end_matches('-').to_string())
                    .or_default() += 1;
            }
        }
    }
    counts
}

/// The accessory's container id, if it runs, and whether its data directory exists.
async fn accessory(world: &FakeWorld) -> (Option<String>, bool) {
    let h1 = world.host("h1");
    let id = h1
        .containers()
        .get("app-db")
        .filter(|c| c.status == ContainerStatus::Running)
        .map(|c| c.id.clone());
    let data = h1
        .run_command("if [ -d app-db/data ]; then echo y; else echo n; fi; ")
        .await
        .map(|output| output.stdout.trim() == "y")
        .unwrap_or(false);
    (id, data)
}

/// One point of the deploy: a call of `operation` on `host` with `argument`, after
/// `occurrence` earlier calls of that operation whose argument contains it (the way a
/// [`FaultRule`] with `matching(argument).after(occurrence)` counts).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Point {
    host: String,
    operation: Operation,
    occurrence: usize,
    argument: String,
}

/// Every call a clean v2 deploy makes, per host.
async fn points_of_a_clean_deploy() -> Vec<Point> {
    let world = world();
    assert!(world.apply("v1").await.succeeded());
    let before: BTreeMap<String, usize> = world
        .hosts
        .iter()
        .map(|(name, host)| (name.clone(), host.calls().len()))
        .collect();
    let Run::Ran { outcome, .. } = world.apply("v2").await else {
        panic!("the clean deploy was refused");
    };
    assert!(outcome.succeeded(), "{outcome:#?}");
    let mut points = Vec::new();
    for (name, host) in &world.hosts {
        let calls: Vec<(Operation, String)> = host.calls().into_iter().skip(before[name]).collect();
        for (index, (operation, argument)) in calls.iter().enumerate() {
            let occurrence = calls[..index]
                .iter()
                .filter(|(earlier, text)| earlier == operation && text.contains(argument.as_str()))
                .count();
            points.push(Point {
                host: name.clone(),
                operation: *operation,
                occurrence,
                argument: argument.clone(),
            });
        }
    }
    points
}

/// What one faulted run led to, for the tally.
fn classify(run: &Run) -> String {
    match run {
        Run::Refused => "refused before planning (lock)".to_string(),
        Run::Ran {
            outcome,
            unreachable,
            ..
        } => {
            let mut kinds: Vec<&str> = outcome
                .hosts
                .values()
                .map(|result| match result {
                    HostOutcome::Converged | HostOutcome::Unchanged => "ok",
                    HostOutcome::RolledBack { .. } => "rolled back",
                    HostOutcome::Failed { .. } => "failed, not fully rolled back",
                    HostOutcome::Skipped { .. } => "skipped",
                    HostOutcome::Cancelled => "cancelled",
                    HostOutcome::Unreachable { .. } => "unreachable",
                })
                .filter(|kind| *kind != "ok")
                .collect();
            if !unreachable.is_empty() {
                kinds.push("left out of the plan (unobservable)");
            }
            kinds.sort_unstable();
            kinds.dedup();
            if kinds.is_empty() {
                "converged (fault absorbed)".to_string()
            } else {
                kinds.join(" + ")
            }
        }
    }
}

/// Runs one faulted deploy and checks every invariant; returns the outcome's class.
async fn faulted_round(point: &Point, fault: &Fault) -> String {
    let label = format!(
        "{fault:?} at {} {:?} #{} ({})",
        point.host, point.operation, point.occurrence, point.argument
    );
    let world = world();
    assert!(world.apply("v1").await.succeeded(), "{label}: v1");
    let (db_before, data_before) = accessory(&world).await;
    assert!(db_before.is_some() && data_before, "{label}: accessory");

    world.host(&point.host).inject(
        FaultRule::once(point.operation, fault.clone())
            .matching(point.argument.clone())
            .after(point.occurrence),
    );
    let run = world.apply("v2").await;
    assert_eq!(
        world.host(&point.host).faults_pending(),
        0,
        "{label}: the fault never struck (the run took another path)"
    );
    let class = classify(&run);
    let connection_lost = matches!(fault, Fault::Disconnect);

    // Serving and never two versions at once, read before healing (a disconnected fake host
    // still shows its state to the test).
    for host in HOSTS {
        let serving = serving(&world, host);
        assert!(
            matches!(serving.as_deref(), Some("v1" | "v2")),
            "{label}: {host} serves {serving:?}"
        );
        let failed_here = matches!(
            &run,
            Run::Ran { outcome, .. } if matches!(outcome.hosts.get(host), Some(HostOutcome::Failed { .. }))
        );
        for (role, running) in running_per_role(&world, host) {
            assert!(
                running == 1 || failed_here,
                "{label}: {host} runs {running} containers of {role} and was not reported failed"
            );
        }
    }
    if let Run::Ran {
        outcome, released, ..
    } = &run
    {
        for (host, result) in &outcome.hosts {
            if let HostOutcome::Failed { .. } = result {
                assert!(
                    connection_lost || matches!(fault, Fault::Timeout),
                    "{label}: {host} left unrolled-back by a plain failure: {result:?}"
                );
            }
        }
        // The lock stays only when the release itself was hit: one of its calls (reading the
        // details, removing the directory) failed, or the lock host's connection was gone.
        if !released {
            assert!(
                point.host == "h1"
                    && (connection_lost || point.argument.starts_with(&world.names().lock_dir())),
                "{label}: the lock was not released"
            );
        }
    }
    for host in world.hosts.values() {
        host.heal();
    }
    if world.lock_held().await {
        assert!(
            point.host == "h1"
                && (connection_lost || point.argument.starts_with(&world.names().lock_dir())),
            "{label}: the lock is still held"
        );
        // What `gantry lock release` does, as the warning of such a run asks.
        lock::force_release(world.host("h1"), &world.names())
            .await
            .expect("release after healing");
    }
    let (db_after, data_after) = accessory(&world).await;
    assert_eq!(db_after, db_before, "{label}: the accessory was replaced");
    assert!(
        data_after,
        "{label}: the accessory's data directory is gone"
    );

    let Run::Ran { outcome, .. } = world.apply("v2").await else {
        panic!("{label}: the rerun was refused");
    };
    assert!(
        outcome.succeeded(),
        "{label}: the rerun failed: {outcome:#?}"
    );
    let again = world.plan("v2").await;
    assert!(
        again.plan.is_empty(),
        "{label}: not converged:\n{}",
        again.plan
    );
    for host in HOSTS {
        assert_eq!(
            serving(&world, host).as_deref(),
            Some("v2"),
            "{label}: {host}"
        );
    }
    class
}

/// Every point of the deploy, with each kind of fault; invariants checked per round.
#[tokio::test]
async fn every_call_of_a_deploy_can_fail_time_out_or_lose_its_connection() {
    let points = points_of_a_clean_deploy().await;
    assert!(points.len() > 40, "a deploy makes {} calls", points.len());
    let faults = [
        Fault::Fail("injected failure".into()),
        Fault::Timeout,
        Fault::Disconnect,
    ];
    // (fault, operation) -> outcome class -> points.
    let mut tally: BTreeMap<(String, String), BTreeMap<String, usize>> = BTreeMap::new();
    for fault in &faults {
        for point in &points {
            let class = faulted_round(point, fault).await;
            let fault_name = match fault {
                Fault::Fail(_) => "call fails",
                Fault::Timeout => "call times out",
                Fault::Disconnect => "connection drops",
                Fault::CutShort => "read cut short",
                Fault::Panic(_) => "gantry panics",
            };
            *tally
                .entry((fault_name.to_string(), format!("{:?}", point.operation)))
                .or_default()
                .entry(class)
                .or_default() += 1;
        }
    }
    eprintln!("| fault | call | points | outcomes |");
    eprintln!("|---|---|---|---|");
    for ((fault, operation), classes) in &tally {
        let total: usize = classes.values().sum();
        let outcomes: Vec<String> = classes
            .iter()
            .map(|(class, count)| format!("{class} ({count})"))
            .collect();
        eprintln!(
            "| {fault} | {operation} | {total} | {} |",
            outcomes.join(", ")
        );
    }
    eprintln!(
        "{} faulted deploys, {} points per fault kind",
        points.len() * faults.len(),
        points.len()
    );
}
