//! A new version whose container fails its health check (too slow to boot) (issue 12, item 8), on the test bed
//! beside the real Kamal 2.11: both tools leave the old version serving and the new version's
//! container stopped under its own name for inspection (Kamal's `boot.rb` stops it and keeps
//! it), `gantry drift` calls neither host drifted, and with time enough to pass it the next
//! deploy of each tool renames the kept container aside and serves the new version.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Testbed, wait};

const SERVICE: &str = "gantry-failboot";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The project deploying the test app to `host`. The app listens only after a few seconds:
/// with the short `deploy_timeout` its health check fails, with the long one it passes, and the
/// container's configuration is the same either way.
fn project(testbed: &Testbed, host: &str, deploy_timeout: u32) -> KamalProject {
    let mut app = KamalApp::testapp(&[host.to_string()]);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(deploy_timeout);
    app.drain_timeout = Some(2);
    app.clear_env = vec![("START_DELAY".to_string(), "6".to_string())];
    KamalProject::create(testbed, app)
}

const PATIENT: u32 = 30;
const HASTY: u32 = 2;

/// The service's containers on `host` as `name status` lines, `_replaced_<hex>` suffixes cut
/// to `_replaced_` (Kamal's are random).
fn containers(testbed: &Testbed, host: &str) -> Vec<String> {
    let listing = testbed.run_ok(
        host,
        &format!(
            "docker ps -a --filter label=service={SERVICE} --format '{{{{.Names}}}} {{{{.State}}}}'"
        ),
    );
    let mut lines: Vec<String> = listing
        .lines()
        .map(|line| match line.split_once("_replaced_") {
            Some((name, rest)) => {
                let state = rest.split_once(' ').map_or("", |(_, state)| state);
                format!("{name}_replaced_ {state}")
            }
            None => line.to_string(),
        })
        .collect();
    lines.sort();
    lines
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

fn serves(host: &str, version: &str) -> bool {
    wait::until_true(Duration::from_secs(10), Duration::from_millis(200), || {
        http::serving(host).as_deref() == Some(version)
    })
}

#[test]
fn a_new_container_that_fails_to_boot_is_stopped_and_kept_as_kamal_keeps_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    let v = testbed.push_versions(SERVICE, &["good", "bad"]);
    let (patient_kamal, hasty_kamal) = (
        project(&testbed, &kamal_host, PATIENT),
        project(&testbed, &kamal_host, HASTY),
    );
    let (patient_ours, hasty_ours) = (
        project(&testbed, &gantry_host, PATIENT),
        project(&testbed, &gantry_host, HASTY),
    );

    patient_kamal.setup(&v[0], KAMAL_TIMEOUT).assert_success();
    gantry(&patient_ours, &["apply", "-y", "--version", &v[0]]).assert_code(0);

    let failed = hasty_kamal.deploy(&v[1], KAMAL_TIMEOUT);
    assert!(!failed.success, "{}", failed.output);
    let apply = gantry(&hasty_ours, &["apply", "-y", "--version", &v[1]]);
    apply.assert_code(1);
    assert!(
        apply.stdout.contains("rolled back"),
        "{}{}",
        apply.stdout,
        apply.stderr
    );

    let kept = containers(&testbed, &kamal_host);
    assert_eq!(
        kept,
        sorted(vec![
            format!("{SERVICE}-web-{} running", v[0]),
            format!("{SERVICE}-web-{} exited", v[1]),
        ])
    );
    assert_eq!(containers(&testbed, &gantry_host), kept);
    for host in [&kamal_host, &gantry_host] {
        assert!(serves(host, &v[0]), "{host} serves the old version");
    }
    // The kept container is no drift of the version that runs, on either tool's host.
    for project in [&patient_kamal, &patient_ours] {
        let drift = gantry(project, &["drift"]);
        drift.assert_code(0);
    }

    // With time enough: each tool's next deploy renames the kept container aside.
    let plan = gantry(
        &patient_ours,
        &["plan", "--detailed-exitcode", "--version", &v[1]],
    );
    plan.assert_code(2);
    assert!(
        plan.stdout.contains("kept stopped after a failed boot"),
        "{}",
        plan.stdout
    );
    patient_kamal.deploy(&v[1], KAMAL_TIMEOUT).assert_success();
    gantry(&patient_ours, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    let recovered = containers(&testbed, &kamal_host);
    assert_eq!(
        recovered,
        sorted(vec![
            format!("{SERVICE}-web-{} exited", v[0]),
            format!("{SERVICE}-web-{} running", v[1]),
            format!("{SERVICE}-web-{}_replaced_ exited", v[1]),
        ])
    );
    assert_eq!(containers(&testbed, &gantry_host), recovered);
    for host in [&kamal_host, &gantry_host] {
        assert!(serves(host, &v[1]), "{host} serves the new version");
    }
    // What Kamal left reads back as converged.
    gantry(
        &patient_kamal,
        &["plan", "--detailed-exitcode", "--version", &v[1]],
    )
    .assert_code(0);
}
