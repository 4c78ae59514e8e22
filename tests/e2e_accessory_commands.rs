//! `accessory stop|start|restart|exec` on the test bed, next to the real Kamal 2.11 on the same
//! project: each command leaves the accessory's container in the state Kamal's leaves it in,
//! the two take turns on the same container, and the data written into the accessory's
//! directory survives every one of them.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject, KamalRun};
use gantry_testsupport::{Testbed, wait};

const SERVICE: &str = "gantry-acc";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(240);
const VERSION: &str = "acc-1";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The real Kamal; `--version` because its lock names the version, and the project is no git
/// repository.
fn kamal(project: &KamalProject, args: &[&str]) -> KamalRun {
    let mut args = args.to_vec();
    args.extend(["--version", VERSION]);
    let run = project.run(&args, KAMAL_TIMEOUT);
    run.assert_success();
    run
}

/// `name id state` of the accessory's container on `host`.
fn container(testbed: &Testbed, host: &str) -> String {
    testbed
        .run_ok(
            host,
            &format!(
                "docker ps -a --filter name=^{SERVICE}-store$ --format '{{{{.Names}}}} {{{{.ID}}}} {{{{.State}}}}'"
            ),
        )
        .trim()
        .to_string()
}

/// The first line the accessory wrote into its directory: it changes only if the data is lost.
fn first_line(testbed: &Testbed, host: &str) -> String {
    let path = format!("{SERVICE}-store/data/log");
    assert!(
        wait::until_true(Duration::from_secs(20), Duration::from_millis(200), || {
            testbed.run_on(host, &format!("test -s {path}")).success
        }),
        "{path} never appeared on {host}"
    );
    testbed
        .run_ok(host, &format!("head -n1 {path}"))
        .trim()
        .to_string()
}

#[test]
fn accessory_stop_start_restart_and_exec_keep_the_data_and_match_kamal() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let host = testbed.hosts[0].clone();
    let version = VERSION;
    testbed.push_testapp(version, SERVICE);
    let busybox = format!("{}/testbed/busybox:latest", testbed.registry);
    let mut app = KamalApp::testapp(std::slice::from_ref(&host));
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    app.extra_yaml = format!(
        "accessories:\n  store:\n    image: {busybox}\n    host: {host}\n    cmd: sh -c 'while true; do date +%s%N >> /data/log; sleep 1; done'\n    directories:\n      - data:/data\n"
    );
    let project = KamalProject::create(&testbed, app);
    gantry(&project, &["apply", "-y", "--version", version]).assert_code(0);
    let booted = container(&testbed, &host);
    assert!(booted.ends_with(" running"), "{booted}");
    let id = booted.split(' ').nth(1).unwrap_or_default().to_string();
    let first = first_line(&testbed, &host);
    let same_container = |state: &str| format!("{SERVICE}-store {id} {state}");

    // Kamal's stop and gantry's leave the same container in the same state.
    kamal(&project, &["accessory", "stop", "store"]);
    let kamal_stopped = container(&testbed, &host);
    assert_eq!(kamal_stopped, same_container("exited"));
    gantry(&project, &["accessory", "start", "store"]).assert_code(0);
    assert_eq!(container(&testbed, &host), same_container("running"));
    gantry(&project, &["accessory", "stop", "store"]).assert_code(0);
    assert_eq!(container(&testbed, &host), kamal_stopped);
    let stopped_again = gantry(&project, &["accessory", "stop", "store"]);
    stopped_again.assert_code(0);
    kamal(&project, &["accessory", "start", "store"]);
    let kamal_started = container(&testbed, &host);
    assert_eq!(kamal_started, same_container("running"));
    assert_eq!(
        first_line(&testbed, &host),
        first,
        "stop and start keep the data"
    );

    // Restart: the same container runs again, data kept, as after Kamal's restart.
    gantry(&project, &["accessory", "restart", "store"]).assert_code(0);
    assert_eq!(container(&testbed, &host), kamal_started);
    kamal(&project, &["accessory", "restart", "store"]);
    assert_eq!(container(&testbed, &host), kamal_started);
    gantry(&project, &["accessory", "restart", "all"]).assert_code(0);
    assert_eq!(container(&testbed, &host), kamal_started);
    assert_eq!(first_line(&testbed, &host), first, "restart keeps the data");

    // exec: a new container of the accessory's image with its directory, or the running one.
    let read_first = "head -n1 /data/log";
    let kamal_exec = kamal(&project, &["accessory", "exec", "store", read_first]);
    assert!(kamal_exec.output.contains(&first), "{}", kamal_exec.output);
    for reuse in [false, true] {
        let mut args = vec!["accessory", "exec", "store"];
        if reuse {
            args.push("--reuse");
        }
        args.push(read_first);
        let exec = gantry(&project, &args);
        exec.assert_code(0);
        assert!(
            exec.stdout
                .lines()
                .any(|line| line.starts_with(host.as_str()) && line.ends_with(first.as_str())),
            "--reuse {reuse}: {}",
            exec.stdout
        );
    }
    // Each run leaves Kamal's audit line, gantry's as Kamal's.
    let audit = testbed.run_ok(&host, &format!("cat .kamal/{SERVICE}-audit.log"));
    let exec_line = format!("Executed cmd '{read_first}' on store accessory");
    assert_eq!(
        audit
            .lines()
            .filter(|line| line.ends_with(&exec_line))
            .count(),
        3,
        "{audit}"
    );
    let leftovers = testbed.run_ok(
        &host,
        &format!("docker ps -aq --filter name=^{SERVICE}-store-exec-"),
    );
    assert_eq!(leftovers.trim(), "", "a one-off container is removed");
    let failing = gantry(
        &project,
        &["accessory", "exec", "store", "--reuse", "exit 3"],
    );
    failing.assert_code(1);
    gantry(&project, &["accessory", "stop", "nope"]).assert_code(1);

    assert_eq!(container(&testbed, &host), kamal_started);
}
