//! Twenty `gantry apply` runs at once on the same hosts (specs/reliability.md, "Concurrency"):
//! exactly one proceeds at a time, none corrupts the hosts' state, and every run ends with a
//! clear message. Three races: twenty runs started together (one deploys, the others are refused
//! by the lock), twenty runs with `--lock-wait` and two versions (they take turns), and twenty
//! runs racing to take over the lock of a run killed with `kill -9` (one wins). And a run
//! waiting for the lock changes nothing on the hosts until it holds it.

mod deployment;

use std::time::Duration;

use deployment::{Deployment, RUN_TIMEOUT};
use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::GantryRun;

const SERVICE: &str = "gantry-conc";
const RUNS: usize = 20;

/// One run of a race: its arguments and its extra environment.
type Invocation<'a> = (Vec<String>, Vec<(&'a str, &'a str)>);

/// Starts `RUNS` copies of `gantry <args>` (each with its `env`) as close together as possible
/// and waits for them all.
fn race(deployment: &Deployment, runs: &[Invocation<'_>]) -> Vec<GantryRun> {
    let started: Vec<_> = runs
        .iter()
        .map(|(args, env)| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            deployment.background(&args, env)
        })
        .collect();
    started
        .into_iter()
        .map(|run| run.wait(RUN_TIMEOUT * 2))
        .collect()
}

fn apply_args(version: &str, extra: &[&str]) -> Vec<String> {
    ["apply", "-y", "--version", version]
        .iter()
        .chain(extra)
        .map(|arg| arg.to_string())
        .collect()
}

/// The test app on three hosts, `names` pushed as versions, the first one deployed.
fn deployed(testbed: &Testbed, names: &[&str]) -> (Deployment, Vec<String>) {
    let deployment = Deployment::new(testbed, SERVICE, 3, |_| {});
    let versions = deployment.versions(names);
    deployment
        .gantry(&["apply", "-y", "--version", &versions[0]])
        .assert_code(0);
    (deployment, versions)
}

/// Runs that executed a plan (they print the outcome).
fn executed(runs: &[GantryRun]) -> Vec<&GantryRun> {
    runs.iter()
        .filter(|run| run.stdout.contains("Apply finished in"))
        .collect()
}

/// Audit lines of this service on the primary host that record a deploy.
fn deploy_audit_lines(deployment: &Deployment) -> Vec<String> {
    deployment
        .testbed
        .run_ok(
            &deployment.hosts[0],
            &format!("cat .kamal/{SERVICE}-audit.log 2>/dev/null || true"),
        )
        .lines()
        .filter(|line| line.contains("Deployed app version"))
        .map(str::to_string)
        .collect()
}

#[test]
fn twenty_simultaneous_applies_one_deploys_the_others_are_refused_by_the_lock() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(&testbed, &["c1", "c2"]);
    // A slow start keeps the winner under the lock while the others arrive.
    deployment.set_clear_env(&[("START_DELAY", "3")]);

    let runs = race(
        &deployment,
        &vec![(apply_args(&v[1], &[]), Vec::new()); RUNS],
    );
    let winners = executed(&runs);
    let refused: Vec<&GantryRun> = runs
        .iter()
        .filter(|run| run.code == Some(1) && run.stderr.contains("the deploy lock on"))
        .collect();
    let late: Vec<&GantryRun> = runs
        .iter()
        .filter(|run| run.code == Some(0) && run.stdout.contains("No changes."))
        .collect();
    eprintln!(
        "{RUNS} simultaneous applies: {} deployed, {} refused by the lock, {} found nothing to do",
        winners.len(),
        refused.len(),
        late.len()
    );
    assert_eq!(winners.len(), 1, "exactly one run deploys");
    winners[0].assert_code(0);
    assert_eq!(
        winners.len() + refused.len() + late.len(),
        RUNS,
        "every run deployed, was refused by the lock, or had nothing left to do: {:#?}",
        runs.iter()
            .map(|run| (run.code, run.stderr.clone()))
            .collect::<Vec<_>>()
    );
    for run in &refused {
        assert!(
            run.stderr.contains("is held") && run.stderr.contains("lock"),
            "{}",
            run.stderr
        );
    }
    assert!(deployment.lock_is_free(), "the lock was released");
    assert_eq!(deploy_audit_lines(&deployment).len(), 2, "v1, then one v2");
    deployment.unset_clear_env("START_DELAY");
    deployment.assert_converges(&v[1]);
}

#[test]
fn twenty_applies_waiting_for_the_lock_take_turns_and_leave_one_consistent_state() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(&testbed, &["w1", "w2"]);
    let wait = ["--lock-wait", "--lock-wait-interval", "1"];
    let runs: Vec<Invocation<'_>> = (0..RUNS)
        .map(|index| (apply_args(&v[index % 2], &wait), Vec::new()))
        .collect();
    let results = race(&deployment, &runs);
    for run in &results {
        run.assert_code(0);
    }
    let deployed = executed(&results);
    let audit = deploy_audit_lines(&deployment);
    eprintln!(
        "{RUNS} applies with --lock-wait over two versions: {} deployed in turn, {} found nothing to do",
        deployed.len(),
        RUNS - deployed.len()
    );
    assert!(!deployed.is_empty());
    assert_eq!(
        audit.len(),
        1 + deployed.len(),
        "one audit line per deploy: {audit:#?}\nthe runs that executed a plan:\n{}",
        deployed
            .iter()
            .map(|run| run.stdout.as_str())
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
    // The last deploy decides what runs; a plan for it is empty and every host agrees.
    let last = audit.last().expect("an audit line");
    let final_version = v
        .iter()
        .find(|version| last.contains(&format!("version {version} ")))
        .expect("the last audit line names a version");
    deployment
        .gantry(&["plan", "--detailed-exitcode", "--version", final_version])
        .assert_code(0);
    for host in &deployment.hosts {
        assert_eq!(
            deployment.serving(host).as_deref(),
            Some(final_version.as_str())
        );
        assert_eq!(deployment.running_app_containers(host), 1, "{host}");
    }
    assert!(deployment.lock_is_free());
}

/// A run waiting for the lock changes nothing on the hosts, not even by pulling its image: to
/// the run holding the lock, an image it does not use is one to prune, a change of its plan.
#[test]
fn a_run_waiting_for_the_lock_pulls_nothing_until_it_holds_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(&testbed, &["p1", "p2", "p3"]);
    deployment.set_clear_env(&[("START_DELAY", "8")]);
    let holder = deployment.background(&["apply", "-y", "--version", &v[1]], &[]);
    assert!(deployment.wait_for_container(&deployment.hosts[0], &v[1]));
    deployment.unset_clear_env("START_DELAY");
    let waiter = deployment.background(
        &[
            "apply",
            "-y",
            "--version",
            &v[2],
            "--lock-wait",
            "--lock-wait-interval",
            "1",
        ],
        &[],
    );
    assert!(
        gantry_testsupport::wait::until_true(
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                waiter
                    .output_so_far()
                    .contains("Waiting for the deploy lock on")
            }
        ),
        "the waiting run says it waits: {}",
        waiter.output_so_far()
    );
    // Long enough for a pull from the test bed's registry (well under a second).
    std::thread::sleep(Duration::from_secs(2));
    let image = format!("{}:{}", testbed.testapp_image, v[2]);
    let pulled: Vec<&String> = deployment
        .hosts
        .iter()
        .filter(|host| {
            testbed
                .run_on(
                    host,
                    &format!("docker image inspect {image} >/dev/null 2>&1"),
                )
                .success
        })
        .collect();
    assert!(
        !holder.output_so_far().contains("Apply finished in"),
        "the first run still holds the lock (START_DELAY keeps it starting)"
    );
    assert!(pulled.is_empty(), "pulled while waiting on {pulled:?}");

    let first = holder.wait(RUN_TIMEOUT);
    let second = waiter.wait(RUN_TIMEOUT);
    first.assert_code(0);
    second.assert_code(0);
    let audit = deploy_audit_lines(&deployment);
    assert_eq!(audit.len(), 3, "{audit:#?}");
    for host in &deployment.hosts {
        assert_eq!(deployment.serving(host).as_deref(), Some(v[2].as_str()));
    }
    assert!(deployment.lock_is_free());
}

#[test]
fn exactly_one_of_twenty_takes_over_the_lock_of_a_killed_run() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (deployment, v) = deployed(&testbed, &["k1", "k2"]);
    deployment.set_clear_env(&[("START_DELAY", "4")]);
    let killed = deployment.background(&["apply", "-y", "--version", &v[1]], &[]);
    assert!(deployment.wait_for_container(&deployment.hosts[0], &v[1]));
    killed.signal("KILL");
    assert_eq!(killed.wait(Duration::from_secs(10)).code, None);
    std::thread::sleep(Duration::from_secs(3));

    let stale = [("GANTRY_STALE_LOCK_SECONDS", "2")];
    let runs = race(
        &deployment,
        &vec![(apply_args(&v[1], &[]), stale.to_vec()); RUNS],
    );
    let takers: Vec<&GantryRun> = runs
        .iter()
        .filter(|run| run.stderr.contains("taking it over"))
        .collect();
    let deployed = executed(&runs);
    eprintln!(
        "{RUNS} applies after a kill -9: {} took the lock over, {} deployed, exit codes {:?}",
        takers.len(),
        deployed.len(),
        runs.iter().map(|run| run.code).collect::<Vec<_>>()
    );
    assert_eq!(
        takers.len(),
        1,
        "exactly one run takes the lock over; stderr of each: {:#?}",
        runs.iter().map(|run| &run.stderr).collect::<Vec<_>>()
    );
    assert!(deployed.len() <= 1, "one run at a time");
    for run in &runs {
        assert!(
            matches!(run.code, Some(0 | 1)),
            "every run ends with a clear exit: {run:?}"
        );
        if run.code == Some(1) {
            assert!(run.stderr.contains("deploy lock"), "{}", run.stderr);
        }
    }
    assert!(deployment.lock_is_free());
    deployment.unset_clear_env("START_DELAY");
    deployment.assert_converges(&v[1]);
}
