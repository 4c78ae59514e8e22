//! Canary rollouts on fake hosts: a failing check or a canary that dies during its wait rolls
//! the canary back and never touches stage 2; a passing one lets every host converge.

use super::*;
use crate::config::{Canary, CanaryHosts};
use crate::report::canary::{CanaryVerdict, verdict};

/// A canary check that records the canaries it was told and passes or fails.
struct Check {
    told: Mutex<Vec<Vec<String>>>,
    passes: bool,
}

#[async_trait::async_trait]
impl LocalHooks for Check {
    async fn run_hook(&self, _hook: &str, _hosts: &[String]) -> Result<(), String> {
        Ok(())
    }

    async fn check_canary(&self, _command: &str, hosts: &[String]) -> Result<(), String> {
        self.told.lock().unwrap().push(hosts.to_vec());
        if self.passes {
            Ok(())
        } else {
            Err("the canary check failed (exit code 1)".into())
        }
    }
}

/// v2 over h1..h3 at v1, h1 the canary, watched for `wait_seconds`.
async fn canary_plan(world: &World, config: &Config, wait_seconds: u64) -> Plan {
    let planned = world.plan(config, "v2", false).await;
    crate::plan::build(
        planned.plan.changes.clone(),
        &crate::plan::PlanOptions {
            atomic: false,
            boot: config.boot.clone(),
            primary_role: config.primary_role.clone(),
            app_boot_hooks: Vec::new(),
            canary: Some(Canary {
                hosts: CanaryHosts::Count(1),
                wait_seconds,
                check: Some("./smoke".into()),
            }),
        },
    )
}

async fn run(world: &World, plan: &Plan, check: Arc<Check>) -> Outcome {
    let options = ExecOptions {
        hooks: Some(check),
        ..ExecOptions::default()
    };
    execute(
        plan,
        &world.exec_hosts(),
        &options,
        &QuietReporter,
        CancellationToken::new(),
    )
    .await
}

async fn world_at_v1() -> (World, Config) {
    let world = World::new(&["h1", "h2", "h3"]);
    let config = config(&["h1", "h2", "h3"]);
    assert!(world.apply(&config, "v1").await.succeeded());
    (world, config)
}

/// `host` never ran v2 and serves v1 as before.
fn untouched(world: &World, host: &str) {
    assert_eq!(world.serving(host).as_deref(), Some("v1"), "{host}");
    assert_eq!(world.running(host), vec!["app-web-v1"], "{host}");
    assert!(
        !world.hosts[host].containers().contains_key("app-web-v2"),
        "{host} got the new version"
    );
}

#[tokio::test]
async fn a_failing_check_rolls_the_canary_back_and_never_starts_stage_2() {
    let (world, config) = world_at_v1().await;
    let plan = canary_plan(&world, &config, 0).await;
    let check = Arc::new(Check {
        told: Mutex::new(Vec::new()),
        passes: false,
    });
    let outcome = run(&world, &plan, check.clone()).await;
    assert_eq!(*check.told.lock().unwrap(), vec![vec!["h1".to_string()]]);
    let HostOutcome::RolledBack { cause } = &outcome.hosts["h1"] else {
        panic!("h1: {:?}", outcome.hosts["h1"]);
    };
    assert!(cause.contains("canary check"), "{cause}");
    // The canary is back: the old container serves, the new one is stopped.
    assert_eq!(world.serving("h1").as_deref(), Some("v1"));
    assert_eq!(world.running("h1"), vec!["app-web-v1"]);
    for host in ["h2", "h3"] {
        assert!(matches!(outcome.hosts[host], HostOutcome::Skipped { .. }));
        untouched(&world, host);
    }
    assert!(matches!(
        verdict(&plan, &outcome),
        Some(CanaryVerdict::Failed { cleanly: true, .. })
    ));
    // The next plan is the whole deploy again: nothing of v2 was left half-done.
    let again = world.plan_default(&config, "v2").await;
    assert!(!again.plan.is_empty());
}

#[tokio::test]
async fn a_canary_that_stops_during_its_wait_fails_before_the_check() {
    let (world, config) = world_at_v1().await;
    let plan = canary_plan(&world, &config, 3).await;
    let check = Arc::new(Check {
        told: Mutex::new(Vec::new()),
        passes: true,
    });
    let canary = world.hosts["h1"].clone();
    let crash = tokio::spawn(async move {
        // Once v2 serves on h1, it dies (an out-of-memory kill, say).
        for _ in 0..200 {
            if canary
                .containers()
                .get("app-web-v2")
                .is_some_and(|c| c.status == ContainerStatus::Running)
                && canary
                    .routes()
                    .iter()
                    .any(|route| route.service == "app-web")
            {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = canary.stop_container("app-web-v2", None).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let outcome = run(&world, &plan, check.clone()).await;
    crash.await.expect("the crash task ends");
    assert!(check.told.lock().unwrap().is_empty(), "the check never ran");
    let HostOutcome::RolledBack { cause } = &outcome.hosts["h1"] else {
        panic!("h1: {:?}", outcome.hosts["h1"]);
    };
    assert!(cause.contains("during the canary wait"), "{cause}");
    assert_eq!(world.serving("h1").as_deref(), Some("v1"));
    for host in ["h2", "h3"] {
        untouched(&world, host);
    }
}

#[tokio::test]
async fn a_passing_canary_lets_every_host_converge() {
    let (world, config) = world_at_v1().await;
    let plan = canary_plan(&world, &config, 0).await;
    let check = Arc::new(Check {
        told: Mutex::new(Vec::new()),
        passes: true,
    });
    let outcome = run(&world, &plan, check.clone()).await;
    assert!(outcome.succeeded(), "{outcome:#?}");
    for host in ["h1", "h2", "h3"] {
        assert_eq!(world.serving(host).as_deref(), Some("v2"), "{host}");
    }
    assert_eq!(
        verdict(&plan, &outcome),
        Some(CanaryVerdict::Passed {
            hosts: vec!["h1".into()]
        })
    );
    assert!(world.plan_default(&config, "v2").await.plan.is_empty());
}
