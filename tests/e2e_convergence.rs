//! One `gantry apply` converges from states the real Kamal 2.11, people and killed runs leave
//! behind, on the test bed (specs/reliability.md, "Convergence on real hosts"; #15).
//!
//! Each test starts from clean hosts, builds one starting state, then checks the property the
//! model test (`apply::tests::model`) checks on fake hosts, here against real sshd, dockerd,
//! registry and kamal-proxy:
//!
//! - one `gantry apply` succeeds; `gantry plan --detailed-exitcode` then says "No changes.",
//!   with no note (no lock, no interrupted run, no changed accessory), and exits 0; the app
//!   answers on every host with the desired version, and Kamal agrees (`kamal app version`
//!   names it on every host);
//! - a second `gantry apply` changes nothing: same containers (ids and states), images and
//!   proxy routes on every host, and the deploy lock is free.
//!
//! The starting states: hosts deployed by Kamal (with an accessory, which stays the same
//! container); Kamal's deploy then `kamal app remove`; a Kamal deploy killed part-way (its lock
//! left behind: gantry refuses it untouched until `kamal lock release`); a Kamal deploy whose
//! health check fails on one host; a proxy and app containers removed or stopped by hand;
//! images tagged `latest` with no container; the stale lock of a killed gantry run; gantry's
//! own partial apply (dockerd stopped on one host mid-run).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Fault, Testbed, wait};

const SERVICE: &str = "gantry-conv";
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gantry"))
}

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(bin(), project.dir(), args)
}

/// Two versions of the test app, pushed once for every test of this file: `[old, new]`.
fn versions(testbed: &Testbed) -> &'static [String] {
    static PUSHED: OnceLock<Vec<String>> = OnceLock::new();
    PUSHED.get_or_init(|| testbed.push_versions(SERVICE, &["old", "new"]))
}

/// The test bed's first three hosts (CI's has a fourth, for stream-local forwarding tests).
fn three_hosts(testbed: &Testbed) -> Vec<String> {
    testbed.hosts.iter().take(3).cloned().collect()
}

/// The test app's project; `extra` is top-level YAML added to deploy.yml.
fn project(testbed: &Testbed, hosts: &[String], extra: &str) -> KamalProject {
    let mut app = KamalApp::testapp(hosts);
    app.service = SERVICE.to_string();
    app.clear_env = vec![("GREETING".into(), "hello".into())];
    app.secret_env = vec![("DB_PASSWORD".into(), "conv-s3cret".into())];
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    app.extra_yaml = extra.to_string();
    KamalProject::create(testbed, app)
}

fn edit_config(project: &KamalProject, edit: impl FnOnce(String) -> String) {
    let path = project.dir().join("config/deploy.yml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let edited = edit(yaml.clone());
    assert_ne!(edited, yaml, "the edit changed deploy.yml");
    std::fs::write(&path, edited).unwrap();
}

/// The app starts `seconds` late, so a run can be caught in its route switch.
fn slow_start(project: &KamalProject, seconds: u32) {
    edit_config(project, |yaml| {
        yaml.replace(
            "    GREETING: \"hello\"\n",
            &format!("    GREETING: \"hello\"\n    START_DELAY: \"{seconds}\"\n"),
        )
    });
}

/// Every container and image on `host` (names, ids, states, tags) and kamal-proxy's routes
/// (its state file).
fn snapshot(testbed: &Testbed, host: &str) -> String {
    testbed.run_ok(
        host,
        "docker ps -a --format '{{.Names}} {{.ID}} {{.State}}' | sort; \
         docker image ls --format '{{.Repository}}:{{.Tag}} {{.ID}}' | sort; \
         docker exec kamal-proxy cat /home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state \
           2>/dev/null || true",
    )
}

fn snapshots(testbed: &Testbed, hosts: &[String]) -> Vec<String> {
    hosts.iter().map(|host| snapshot(testbed, host)).collect()
}

/// Waits until a container of `version` exists on `host`.
fn wait_for_container(testbed: &Testbed, host: &str, version: &str) {
    let name = format!("{SERVICE}-web-{version}");
    assert!(
        wait::until_true(Duration::from_secs(90), Duration::from_millis(200), || {
            snapshot(testbed, host).contains(&name)
        }),
        "{name} never appeared on {host}"
    );
}

/// Waits until what a killed Kamal left running on the hosts is done: its `kamal-proxy deploy`
/// goes on inside the proxy after the SSH session that started it is gone (it waits for the
/// new container's health check), so the hosts still change a few seconds after the kill,
/// later the farther away they are. Then the snapshots must hold still for two seconds.
fn wait_until_settled(testbed: &Testbed, hosts: &[String]) {
    let deploying = |host: &String| {
        testbed
            .run_ok(host, "docker top kamal-proxy 2>/dev/null || true")
            .contains(" deploy ")
    };
    assert!(
        wait::until_true(Duration::from_secs(90), Duration::from_millis(500), || {
            !hosts.iter().any(deploying)
        }),
        "a kamal-proxy deploy still ran 90 s after Kamal was killed"
    );
    assert!(
        wait::until_true(Duration::from_secs(60), Duration::from_millis(100), || {
            let before = snapshots(testbed, hosts);
            std::thread::sleep(Duration::from_secs(2));
            before == snapshots(testbed, hosts)
        }),
        "the hosts kept changing after Kamal was killed"
    );
}

/// `kamal <args>` in the project, in the background (to kill it part-way).
fn spawn_kamal(project: &KamalProject, args: &[&str]) -> Child {
    Command::new(std::env::var("KAMAL").unwrap_or_else(|_| "kamal".to_string()))
        .args(args)
        .current_dir(project.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("running kamal: {error}"))
}

/// The property: one apply converges, the plan after it is empty, every host serves `version`
/// (and Kamal says so), and a second apply changes nothing.
/// `env` is added to the first apply's environment. Returns that apply.
fn assert_one_apply_converges(
    testbed: &Testbed,
    project: &KamalProject,
    hosts: &[String],
    version: &str,
    env: &[(&str, &str)],
) -> GantryRun {
    let applied = gantry::spawn(
        bin(),
        project.dir(),
        &["apply", "-y", "--version", version],
        env,
    )
    .wait(RUN_TIMEOUT);
    applied.assert_code(0);
    let summary = applied
        .stdout
        .lines()
        .find(|line| line.starts_with("Plan:"))
        .unwrap_or("No changes.")
        .to_string();
    let plan = gantry(
        project,
        &["plan", "--detailed-exitcode", "--version", version],
    );
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("No changes.") && !plan.stdout.contains("\n! "),
        "after one apply:\n{}\n--- the apply said\n{}",
        plan.stdout,
        applied.stdout
    );
    for host in hosts {
        assert_eq!(http::serving(host).as_deref(), Some(version), "{host}");
    }
    let kamal = project.run(&["app", "version"], RUN_TIMEOUT);
    kamal.assert_success();
    assert_eq!(
        kamal.output.matches(version).count(),
        hosts.len(),
        "kamal app version:\n{}",
        kamal.output
    );

    let before = snapshots(testbed, hosts);
    let again = gantry(project, &["apply", "-y", "--version", version]);
    again.assert_code(0);
    assert!(again.stdout.contains("No changes."), "{}", again.stdout);
    assert_eq!(
        before,
        snapshots(testbed, hosts),
        "the second apply changed nothing"
    );
    eprintln!(
        "converged to {version} in one apply of {:.1} s ({summary}); the second apply: {:.1} s",
        applied.duration.as_secs_f64(),
        again.duration.as_secs_f64()
    );
    let lock = testbed.run_on(&hosts[0], &format!("test -e .kamal/lock-{SERVICE}"));
    assert!(!lock.success, "the deploy lock is free after the runs");
    applied
}

#[test]
fn hosts_deployed_by_kamal_converge_to_a_new_version_leaving_the_accessory_alone() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let v = versions(&testbed);
    let _exclusive = testbed.exclusive_clean();
    let hosts = three_hosts(&testbed);
    let accessory = format!(
        "accessories:\n  db:\n    image: {}/testbed/busybox:latest\n    host: {}\n    \
         cmd: sleep 1000000\n    directories:\n      - data:/data\n",
        testbed.registry, hosts[0]
    );
    let project = project(&testbed, &hosts, &accessory);
    project.setup(&v[0], RUN_TIMEOUT).assert_success();
    let db = format!("docker inspect -f '{{{{.Id}}}} {{{{.State.Status}}}}' {SERVICE}-db");
    let booted_by_kamal = testbed.run_ok(&hosts[0], &db);
    assert!(booted_by_kamal.contains("running"), "{booted_by_kamal}");

    assert_one_apply_converges(&testbed, &project, &hosts, &v[1], &[]);
    assert_eq!(
        testbed.run_ok(&hosts[0], &db),
        booted_by_kamal,
        "the accessory Kamal booted is the same container, still running"
    );
}

#[test]
fn hosts_after_kamal_app_remove_converge() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let v = versions(&testbed);
    let _exclusive = testbed.exclusive_clean();
    let hosts = three_hosts(&testbed);
    let project = project(&testbed, &hosts, "");
    project.setup(&v[0], RUN_TIMEOUT).assert_success();
    project
        .run(&["app", "remove", "--version", &v[0]], RUN_TIMEOUT)
        .assert_success();
    for host in &hosts {
        assert!(
            !snapshot(&testbed, host).contains(&format!("{SERVICE}-web")),
            "{host}"
        );
    }

    assert_one_apply_converges(&testbed, &project, &hosts, &v[0], &[]);
}

#[test]
fn a_kamal_deploy_killed_part_way_converges_once_its_lock_is_released() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let v = versions(&testbed);
    let _exclusive = testbed.exclusive_clean();
    let hosts = three_hosts(&testbed);
    let project = project(&testbed, &hosts, "");
    project.setup(&v[0], RUN_TIMEOUT).assert_success();
    slow_start(&project, 5);

    let mut kamal = spawn_kamal(&project, &["deploy", "--skip-push", "--version", &v[1]]);
    wait_for_container(&testbed, &hosts[0], &v[1]);
    kamal.kill().unwrap();
    kamal.wait().unwrap();
    wait_until_settled(&testbed, &hosts);

    // Kamal's lock outlives a killed Kamal, and only a gantry run's lock can be judged stale:
    // gantry refuses and touches nothing until someone releases it.
    let before = snapshots(&testbed, &hosts);
    let refused = gantry(&project, &["apply", "-y", "--version", &v[1]]);
    refused.assert_code(1);
    assert!(refused.stderr.contains("deploy lock"), "{}", refused.stderr);
    assert_eq!(
        before,
        snapshots(&testbed, &hosts),
        "a refused apply changes nothing"
    );
    project
        .run(&["lock", "release"], RUN_TIMEOUT)
        .assert_success();

    assert_one_apply_converges(&testbed, &project, &hosts, &v[1], &[]);
}

#[test]
fn a_kamal_deploy_failing_its_health_check_on_one_host_converges() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let v = versions(&testbed);
    let _exclusive = testbed.exclusive_clean();
    let hosts = three_hosts(&testbed);
    let project = project(&testbed, &hosts, "");
    project.setup(&v[0], RUN_TIMEOUT).assert_success();

    // The third host's new containers never pass their health check.
    let broken = hosts[2].clone();
    let path = project.dir().join("config/deploy.yml");
    let healthy = std::fs::read_to_string(&path).unwrap();
    edit_config(&project, |yaml| {
        yaml.replace(
            &format!("    - \"{broken}\"\n"),
            &format!("    - \"{broken}\": broken\n"),
        )
        .replace(
            "  secret:\n    - DB_PASSWORD\n",
            "  secret:\n    - DB_PASSWORD\n  tags:\n    broken:\n      FAIL_HEALTHCHECK: \"1\"\n",
        )
    });
    let deploy = project.deploy(&v[1], RUN_TIMEOUT);
    assert!(!deploy.success, "{}", deploy.output);
    assert_eq!(http::serving(&broken).as_deref(), Some(v[0].as_str()));
    std::fs::write(&path, healthy).unwrap();

    assert_one_apply_converges(&testbed, &project, &hosts, &v[1], &[]);
}

#[test]
fn a_proxy_and_app_containers_removed_or_stopped_by_hand_converge() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let v = versions(&testbed);
    let _exclusive = testbed.exclusive_clean();
    let hosts = three_hosts(&testbed);
    let project = project(&testbed, &hosts, "");
    project.setup(&v[0], RUN_TIMEOUT).assert_success();
    let app = format!("{SERVICE}-web-{}", v[0]);
    testbed.run_ok(&hosts[0], &format!("docker stop {app} >/dev/null"));
    testbed.run_ok(&hosts[1], "docker rm -f kamal-proxy >/dev/null");
    testbed.run_ok(&hosts[2], &format!("docker rm -f {app} >/dev/null"));

    assert_one_apply_converges(&testbed, &project, &hosts, &v[0], &[]);
}

#[test]
fn images_tagged_latest_without_any_container_converge() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let v = versions(&testbed);
    let _exclusive = testbed.exclusive_clean();
    let hosts = three_hosts(&testbed);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    gantry(&project, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    // A hand cleanup: every container of the app gone, its images (`latest` on the new
    // version) left behind.
    for host in &hosts {
        testbed.run_ok(
            host,
            &format!(
                "docker ps -aq --filter label=service={SERVICE} | xargs -r docker rm -f >/dev/null"
            ),
        );
        let images = snapshot(&testbed, host);
        assert!(images.contains("gantry-testapp:latest"), "{host}: {images}");
    }

    assert_one_apply_converges(&testbed, &project, &hosts, &v[0], &[]);
}

#[test]
fn the_stale_lock_of_a_killed_gantry_run_is_taken_over_and_converges() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let v = versions(&testbed);
    let _exclusive = testbed.exclusive_clean();
    let hosts = three_hosts(&testbed);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    slow_start(&project, 5);

    let run = gantry::spawn(
        bin(),
        project.dir(),
        &["apply", "-y", "--version", &v[1]],
        &[],
    );
    wait_for_container(&testbed, &hosts[0], &v[1]);
    run.signal("KILL");
    assert_eq!(run.wait(Duration::from_secs(10)).code, None, "killed");
    // Silent for longer than the stale period below: the lock is the dead run's, and stale.
    std::thread::sleep(Duration::from_secs(4));

    let applied = assert_one_apply_converges(
        &testbed,
        &project,
        &hosts,
        &v[1],
        &[("GANTRY_STALE_LOCK_SECONDS", "3")],
    );
    assert!(
        applied.stderr.contains("taking it over"),
        "{}",
        applied.stderr
    );
}

#[test]
fn gantrys_own_partial_apply_converges_after_a_fault_on_one_host() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let v = versions(&testbed);
    let _exclusive = testbed.exclusive_clean();
    let hosts = three_hosts(&testbed);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    slow_start(&project, 4);

    let run = gantry::spawn(
        bin(),
        project.dir(),
        &["apply", "-y", "--version", &v[1]],
        &[],
    );
    wait_for_container(&testbed, &hosts[2], &v[1]);
    testbed.inject(Fault::DockerStop, 3);
    let run = run.wait(RUN_TIMEOUT);
    testbed.inject(Fault::DockerStart, 3);
    run.assert_code(1);

    assert_one_apply_converges(&testbed, &project, &hosts, &v[1], &[]);
}
