//! The round-trip budget (specs/apply.md, "Round trips"): what `plan`, a no-op `apply`, a
//! new-version `apply` and `drift` send to each host, counted by the connection and reported in
//! their `--json` output, against the budget that makes distance cheap: `plan` and `drift` open
//! one shell session per host (the files, the lock, the home directory and kamal-proxy's state
//! in one script) beside the Docker API channel, whose requests go in two waves (Docker's
//! version check rides with the first); a no-op `apply` the same, the lock taken by that one
//! script and released by one more session on the lock host; with a `pre-deploy` hook (which
//! runs between taking the lock and observing) the take is a session of its own. A new-version
//! `apply` opens three sessions per host, the lock host included (its release goes with the
//! last records).
//!
//! Sessions and requests are counted exactly, on every run. Waves are measured by time (what
//! overlapped what), so a machine busy enough to stall gantry between two requests it sends
//! together can see an extra wave: each budget holds for the best of up to three runs, which
//! still fails when the code sends a request after another that could have gone with it.
//!
//! Needs the test bed; meaningful at any `TESTBED_LATENCY_MS`, since counts do not depend on it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use serde_json::Value;

const SERVICE: &str = "gantry-trips";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// Per host: sessions, session waves, API requests, API waves.
type Counts = BTreeMap<String, [u64; 4]>;

fn counts_of(hosts: &Value, run: &GantryRun) -> Counts {
    let hosts = hosts.as_object().unwrap_or_else(|| {
        panic!(
            "no round trips in the output:\n{}\n{}",
            run.stdout, run.stderr
        )
    });
    hosts
        .iter()
        .map(|(host, counts)| {
            let field = |name: &str| counts[name].as_u64().unwrap();
            (
                host.clone(),
                [
                    field("sessions"),
                    field("session_waves"),
                    field("api_requests"),
                    field("api_waves"),
                ],
            )
        })
        .collect()
}

/// The `round_trips` of a plan or drift JSON document.
fn document_counts(run: &GantryRun) -> Counts {
    let document: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("{error}:\n{}\n{}", run.stdout, run.stderr));
    counts_of(&document["round_trips"], run)
}

/// The `round_trips` event of `apply --json`.
fn apply_counts(run: &GantryRun) -> Counts {
    let event = run
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|event| event["event"] == "round_trips")
        .unwrap_or_else(|| panic!("no round_trips event:\n{}\n{}", run.stdout, run.stderr));
    counts_of(&event["hosts"], run)
}

/// A budget per host: at most `sessions` sessions and `api_waves` waves of API requests.
#[derive(Clone, Copy)]
struct Budget {
    sessions: u64,
    api_waves: u64,
}

/// What breaks `budget` in `counts`, per host; empty when every host is within it.
fn over_budget(counts: &Counts, hosts: &[String], budget: Budget) -> Vec<String> {
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        hosts.iter().collect::<Vec<_>>(),
        "every host counted"
    );
    counts
        .iter()
        .filter(|(host, _)| hosts.contains(host))
        .filter(|(_, [opened, _, requests, waves])| {
            *opened > budget.sessions || *waves > budget.api_waves || *requests == 0
        })
        .map(|(host, [opened, _, requests, waves])| {
            format!(
                "{host}: {opened} sessions (at most {}), {requests} API requests in {waves} \
                 waves (at most {})",
                budget.sessions, budget.api_waves
            )
        })
        .collect()
}

/// Runs `measure` until every host is within its budget, at most three times; sessions and
/// request counts must not change between runs (they do not depend on timing).
fn assert_within(what: &str, mut measure: impl FnMut() -> Counts, budgets: &[(&[String], Budget)]) {
    let mut runs: Vec<Counts> = Vec::new();
    for _ in 0..3 {
        let counts = measure();
        eprintln!("{what}: {counts:?}");
        if let Some(first) = runs.first() {
            let exact = |counts: &Counts| -> Vec<(String, u64, u64)> {
                counts
                    .iter()
                    .map(|(host, [opened, _, requests, _])| (host.clone(), *opened, *requests))
                    .collect()
            };
            assert_eq!(
                exact(&counts),
                exact(first),
                "{what}: counts changed between runs"
            );
        }
        let problems: Vec<String> = budgets
            .iter()
            .flat_map(|(hosts, budget)| {
                let ours: Counts = counts
                    .iter()
                    .filter(|(host, _)| hosts.contains(host))
                    .map(|(host, counts)| (host.clone(), *counts))
                    .collect();
                over_budget(&ours, hosts, *budget)
            })
            .collect();
        runs.push(counts);
        if problems.is_empty() {
            return;
        }
        eprintln!("{what}: over budget: {problems:?}");
    }
    panic!("{what}: over budget in every run: {runs:?}");
}

#[test]
fn plan_drift_and_a_no_op_apply_stay_within_their_round_trip_budget() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (first, second) = (format!("trips-{stamp}-1"), format!("trips-{stamp}-2"));
    testbed.push_testapp(&first, SERVICE);
    testbed.push_testapp(&second, SERVICE);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.drain_timeout = Some(2);
    let project = KamalProject::create(&testbed, app);

    let deploy = gantry(&project, &["apply", "-y", "--json", "--version", &first]);
    deploy.assert_code(0);
    eprintln!("first deploy: {:?}", apply_counts(&deploy));

    let all: &[String] = &hosts;
    let read_only = Budget {
        sessions: 1,
        api_waves: 2,
    };
    assert_within(
        "plan",
        || {
            let plan = gantry(&project, &["plan", "--json", "--version", &first]);
            plan.assert_code(0);
            document_counts(&plan)
        },
        &[(all, read_only)],
    );
    assert_within(
        "drift",
        || {
            let drift = gantry(&project, &["drift", "--json", "--version", &first]);
            drift.assert_code(0);
            document_counts(&drift)
        },
        &[(all, read_only)],
    );

    // The lock host takes the lock in observe's script and releases it in a session of its
    // own. An apply pulls early once under the lock (prefetch) only when its plan changes
    // something: a no-op apply sends nothing after observing.
    let (lock_host, others) = hosts.split_at(1);
    let no_op_budgets = |lock_sessions, api_waves| {
        [
            (
                lock_host,
                Budget {
                    sessions: lock_sessions,
                    api_waves,
                },
            ),
            (
                others,
                Budget {
                    sessions: 1,
                    api_waves,
                },
            ),
        ]
    };
    assert_within(
        "no-op apply",
        || {
            let no_op = gantry(&project, &["apply", "-y", "--json", "--version", &first]);
            no_op.assert_code(0);
            apply_counts(&no_op)
        },
        &no_op_budgets(2, 2),
    );
    // A pre-deploy hook runs between taking the lock and observing: the take is a session of
    // its own there, and the early pull starts before observing (its registry check is a wave
    // of its own when it does not overlap observe's second one).
    let hooks = project.dir().join(".kamal/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("pre-deploy");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    assert_within(
        "no-op apply with a pre-deploy hook",
        || {
            let no_op = gantry(&project, &["apply", "-y", "--json", "--version", &first]);
            no_op.assert_code(0);
            apply_counts(&no_op)
        },
        &no_op_budgets(3, 3),
    );
    std::fs::remove_file(&hook).unwrap();

    let new_version = gantry(&project, &["apply", "-y", "--json", "--version", &second]);
    new_version.assert_code(0);
    // Sessions are counted exactly: observe (taking the lock on the lock host), the journal
    // before the first change, and the audit line with the last journal (and the lock's
    // release) after the last.
    let counts = apply_counts(&new_version);
    eprintln!("new-version apply: {counts:?}");
    for host in &hosts {
        let [sessions, ..] = counts[host];
        assert!(
            sessions <= 3,
            "{host}: {sessions} sessions for a new version, at most 3"
        );
    }

    // -v shows the same, one line per host
    let verbose = gantry(&project, &["plan", "-v", "--version", &second]);
    verbose.assert_code(0);
    for host in &hosts {
        assert!(
            verbose
                .stderr
                .lines()
                .any(|line| line.contains(&format!("{host}: "))
                    && line.contains("Docker API requests in")),
            "no round-trip line for {host}:\n{}",
            verbose.stderr
        );
    }
}
