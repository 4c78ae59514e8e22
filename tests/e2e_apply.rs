//! `gantry apply` on the test bed (specs/apply.md), each test asserting on the hosts' real
//! state: fresh hosts, new versions under load, failing health checks (per host and
//! `--atomic`), a host cut or its dockerd stopped mid-run, `kill -9` of gantry, the lock,
//! saved plans, and hosts deployed by the real Kamal 2.11.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::gantry::{self, Background, GantryRun};
use gantry_testsupport::http::{self, LoopLimits, RequestLoop};
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Fault, Testbed, wait};

const SERVICE: &str = "gantry-apply";
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gantry"))
}

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(bin(), project.dir(), args)
}

fn background(project: &KamalProject, args: &[&str], env: &[(&str, &str)]) -> Background {
    gantry::spawn(bin(), project.dir(), args, env)
}

/// Versions unique to this run of the test, pushed to the registry.
fn versions(testbed: &Testbed, names: &[&str]) -> Vec<String> {
    testbed.push_versions(SERVICE, names)
}

fn project(testbed: &Testbed, hosts: &[String], extra: &str) -> KamalProject {
    let mut app = KamalApp::testapp(hosts);
    app.service = SERVICE.to_string();
    app.clear_env = vec![("GREETING".into(), "hello".into())];
    app.secret_env = vec![("DB_PASSWORD".into(), "apply-s3cret".into())];
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(5);
    app.extra_yaml = extra.to_string();
    KamalProject::create(testbed, app)
}

/// The version the proxy on `host` serves, from the test app's answer.
fn serving(host: &str) -> Option<String> {
    http::serving(host)
}

fn containers(testbed: &Testbed, host: &str) -> String {
    testbed.run_ok(host, &format!(
        "docker ps -a --filter label=service={SERVICE} --format '{{{{.Names}}}} {{{{.ID}}}} {{{{.State}}}}' | sort"
    ))
}

fn edit_config(project: &KamalProject, edit: impl FnOnce(String) -> String) {
    let path = project.dir().join("config/deploy.yml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(yaml)).unwrap();
}

/// The test app on every host starts `seconds` late: an apply stays in its route switch long
/// enough to be interrupted there.
fn slow_start(project: &KamalProject, seconds: u32) {
    edit_config(project, |yaml| {
        yaml.replace(
            "    GREETING: \"hello\"\n",
            &format!("    GREETING: \"hello\"\n    START_DELAY: \"{seconds}\"\n"),
        )
    });
}

/// Waits until the new version's container exists on `host`.
fn wait_for_container(testbed: &Testbed, host: &str, version: &str) {
    let name = format!("{SERVICE}-web-{version}");
    assert!(
        wait::until_true(Duration::from_secs(60), Duration::from_millis(200), || {
            containers(testbed, host).contains(&name)
        }),
        "{name} never appeared on {host}"
    );
}

#[test]
fn fresh_hosts_converge_a_rerun_changes_nothing_and_a_new_version_switches_without_failures() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let v = versions(&testbed, &["one", "two"]);
    let project = project(&testbed, &hosts, "");

    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    for host in &hosts {
        assert_eq!(serving(host).as_deref(), Some(v[0].as_str()), "{host}");
    }
    let before: Vec<String> = hosts
        .iter()
        .map(|host| containers(&testbed, host))
        .collect();
    let rerun = gantry(&project, &["apply", "-y", "--version", &v[0]]);
    rerun.assert_code(0);
    assert!(rerun.stdout.contains("No changes."), "{}", rerun.stdout);
    let after: Vec<String> = hosts
        .iter()
        .map(|host| containers(&testbed, host))
        .collect();
    assert_eq!(before, after, "a rerun touched no container");

    let addresses: Vec<String> = hosts.iter().map(|host| format!("{host}:80")).collect();
    let requests = RequestLoop::start(addresses.clone(), "/", LoopLimits::default());
    let deploy = gantry(&project, &["apply", "-y", "--version", &v[1]]);
    let switched = wait::until_true(Duration::from_secs(30), Duration::from_millis(100), || {
        let seen = requests.snapshot();
        addresses
            .iter()
            .all(|address| seen.versions(address).last() == Some(&v[1]))
    });
    let report = requests.stop();
    deploy.assert_code(0);
    assert!(switched, "the request loop never saw {} everywhere", v[1]);
    assert!(
        report.failures().is_empty(),
        "failed requests: {:?}",
        report.failures()
    );
    eprintln!(
        "gantry apply of a new version ({} hosts): {:?}; {} requests during it, 0 failed",
        hosts.len(),
        deploy.duration,
        report.answers.len()
    );
    for host in &hosts {
        let listed = containers(&testbed, host);
        assert!(
            listed.contains(&format!("{SERVICE}-web-{} ", v[0])) && listed.contains("exited"),
            "{host}: {listed}"
        );
        let latest = testbed.run_ok(host, &format!(
            "docker image inspect -f '{{{{.Id}}}}' {0}/gantry-testapp:latest; docker image inspect -f '{{{{.Id}}}}' {0}/gantry-testapp:{1}",
            testbed.registry, v[1]
        ));
        let ids: Vec<&str> = latest.lines().collect();
        assert_eq!(ids[0], ids[1], "{host}: latest names the deployed version");
    }
    // Kamal agrees about what runs.
    let version = project.run(&["app", "version"], RUN_TIMEOUT);
    version.assert_success();
    assert_eq!(
        version.output.matches(v[1].as_str()).count(),
        hosts.len(),
        "{}",
        version.output
    );
}

#[test]
fn a_failing_health_check_rolls_back_only_its_host_or_every_host_with_atomic() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let v = versions(&testbed, &["good", "bad", "worse"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);

    // The third host's containers fail their health check from now on.
    let broken = hosts[2].clone();
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
    let run = gantry(&project, &["apply", "-y", "--version", &v[1]]);
    run.assert_code(1);
    assert!(
        run.stdout.contains(&format!("{broken}  rolled back")),
        "{}",
        run.stdout
    );
    assert_eq!(serving(&hosts[0]).as_deref(), Some(v[1].as_str()));
    assert_eq!(serving(&hosts[1]).as_deref(), Some(v[1].as_str()));
    assert_eq!(serving(&broken).as_deref(), Some(v[0].as_str()));
    // The failed container is stopped and kept for inspection, as Kamal keeps it.
    let listed = containers(&testbed, &broken);
    let failed: Vec<&str> = listed.lines().filter(|line| line.contains(&v[1])).collect();
    assert!(
        failed.len() == 1 && failed[0].ends_with(" exited"),
        "the failed container is kept stopped: {listed}"
    );
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &v[1]],
    );
    plan.assert_code(2);
    let planned_hosts: Vec<&str> = plan
        .stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("# "))
        .collect();
    assert_eq!(planned_hosts, vec![broken.as_str()], "{}", plan.stdout);

    // --atomic: one failure rolls every host back.
    let run = gantry(&project, &["apply", "-y", "--atomic", "--version", &v[2]]);
    run.assert_code(1);
    assert_eq!(serving(&hosts[0]).as_deref(), Some(v[1].as_str()));
    assert_eq!(serving(&hosts[1]).as_deref(), Some(v[1].as_str()));
    assert_eq!(serving(&broken).as_deref(), Some(v[0].as_str()));
    for host in &hosts {
        let listed = containers(&testbed, host);
        assert!(
            listed
                .lines()
                .filter(|line| line.contains(&v[2]))
                .all(|line| line.ends_with(" exited")),
            "{host}: {listed}"
        );
    }
}

#[test]
fn a_host_cut_mid_apply_is_left_serving_and_a_rerun_converges_only_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let v = versions(&testbed, &["before", "after"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    slow_start(&project, 4);

    let run = background(&project, &["apply", "-y", "--version", &v[1]], &[]);
    wait_for_container(&testbed, &hosts[1], &v[1]);
    testbed.inject(Fault::Cut, 2);
    let run = run.wait(RUN_TIMEOUT);
    testbed.inject(Fault::Heal, 2);
    run.assert_code(1);
    assert_eq!(serving(&hosts[0]).as_deref(), Some(v[1].as_str()));
    assert_eq!(serving(&hosts[2]).as_deref(), Some(v[1].as_str()));
    // The cut host kept serving: the old version, or the new one when kamal-proxy finished the
    // switch on its own while gantry could no longer see it.
    let answer = serving(&hosts[1]);
    assert!(
        answer == Some(v[0].clone()) || answer == Some(v[1].clone()),
        "{answer:?}"
    );

    let plan = gantry(&project, &["plan", "--version", &v[1]]);
    let planned_hosts: Vec<&str> = plan
        .stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("# "))
        .collect();
    assert_eq!(planned_hosts, vec![hosts[1].as_str()], "{}", plan.stdout);
    gantry(&project, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    assert_eq!(serving(&hosts[1]).as_deref(), Some(v[1].as_str()));
}

#[test]
fn a_stopped_dockerd_or_sshd_is_reported_and_a_rerun_converges() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let v = versions(&testbed, &["a", "b", "c"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    slow_start(&project, 4);

    // dockerd goes away in the middle of the route switch.
    let run = background(&project, &["apply", "-y", "--version", &v[1]], &[]);
    wait_for_container(&testbed, &hosts[2], &v[1]);
    testbed.inject(Fault::DockerStop, 3);
    let run = run.wait(RUN_TIMEOUT);
    testbed.inject(Fault::DockerStart, 3);
    run.assert_code(1);
    assert!(run.stdout.contains(&hosts[2]), "{}", run.stdout);
    assert_eq!(serving(&hosts[0]).as_deref(), Some(v[1].as_str()));
    gantry(&project, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    for host in &hosts {
        assert_eq!(serving(host).as_deref(), Some(v[1].as_str()), "{host}");
    }

    // sshd down: the host is reported unreachable, the others converge.
    testbed.inject(Fault::SshStop, 2);
    let run = gantry(&project, &["apply", "-y", "--version", &v[2]]);
    testbed.inject(Fault::SshStart, 2);
    run.assert_code(1);
    assert!(
        run.stdout
            .contains(&format!("! {} is unreachable", hosts[1])),
        "{}",
        run.stdout
    );
    assert_eq!(serving(&hosts[0]).as_deref(), Some(v[2].as_str()));
    assert_eq!(serving(&hosts[1]).as_deref(), Some(v[1].as_str()));
    gantry(&project, &["apply", "-y", "--version", &v[2]]).assert_code(0);
    assert_eq!(serving(&hosts[1]).as_deref(), Some(v[2].as_str()));
}

#[test]
fn a_killed_run_is_named_by_the_next_plan_and_a_rerun_takes_over_its_lock() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let v = versions(&testbed, &["old", "new"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    slow_start(&project, 5);

    let run = background(&project, &["apply", "-y", "--version", &v[1]], &[]);
    wait_for_container(&testbed, &hosts[0], &v[1]);
    run.signal("KILL");
    let killed = run.wait(Duration::from_secs(10));
    assert_eq!(killed.code, None, "killed by a signal");

    let plan = gantry(&project, &["plan", "--version", &v[1]]);
    assert!(plan.stdout.contains("was interrupted"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("the deploy lock is held"),
        "{}",
        plan.stdout
    );
    for host in &hosts {
        let answer = serving(host);
        assert!(
            answer == Some(v[0].clone()) || answer == Some(v[1].clone()),
            "{host} serves {answer:?}"
        );
    }
    std::thread::sleep(Duration::from_secs(4));
    let rerun = gantry::run(bin(), project.dir(), &["apply", "-y", "--version", &v[1]]);
    // Without a shorter stale period the lock is young: refused, with who holds it.
    rerun.assert_code(1);
    assert!(rerun.stderr.contains("deploy lock"), "{}", rerun.stderr);
    let rerun = background(
        &project,
        &["apply", "-y", "--version", &v[1]],
        &[("GANTRY_STALE_LOCK_SECONDS", "3")],
    )
    .wait(RUN_TIMEOUT);
    rerun.assert_code(0);
    assert!(rerun.stderr.contains("taking it over"), "{}", rerun.stderr);
    for host in &hosts {
        assert_eq!(serving(host).as_deref(), Some(v[1].as_str()), "{host}");
    }
}

#[test]
fn a_second_apply_is_refused_by_the_lock_and_an_interrupted_one_releases_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let v = versions(&testbed, &["first", "second"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    slow_start(&project, 5);

    let first = background(&project, &["apply", "-y", "--version", &v[1]], &[]);
    wait_for_container(&testbed, &hosts[0], &v[1]);
    let second = gantry(&project, &["apply", "-y", "--version", &v[1]]);
    second.assert_code(1);
    assert!(
        second.stderr.contains("the deploy lock on"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("is held by"), "{}", second.stderr);

    first.signal("INT");
    let first = first.wait(RUN_TIMEOUT);
    assert_eq!(first.code, Some(130), "{}\n{}", first.stdout, first.stderr);
    let status = gantry(&project, &["lock", "status"]);
    status.assert_code(0);
    assert!(
        status.stdout.contains("There is no deploy lock"),
        "{}",
        status.stdout
    );
    for host in &hosts {
        let answer = serving(host);
        assert!(
            answer == Some(v[0].clone()) || answer == Some(v[1].clone()),
            "{host} serves {answer:?}"
        );
        let running = containers(&testbed, host)
            .lines()
            .filter(|line| line.ends_with("running"))
            .count();
        assert_eq!(
            running,
            1,
            "{host}: never two versions left running:\n{}",
            containers(&testbed, host)
        );
    }
    gantry(&project, &["apply", "-y", "--version", &v[1]]).assert_code(0);
}

#[test]
fn a_stale_saved_plan_is_refused_and_a_fresh_one_runs_exactly() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let v = versions(&testbed, &["saved1", "saved2"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);

    let file = project.dir().join("v2.plan");
    let file = file.to_str().unwrap();
    gantry(&project, &["plan", "--version", &v[1], "-o", file]).assert_code(0);
    testbed.run_ok(&hosts[1], &format!("docker stop {SERVICE}-web-{}", v[0]));
    let stale = gantry(&project, &["apply", file]);
    stale.assert_code(1);
    assert!(stale.stderr.contains("stale"), "{}", stale.stderr);
    assert!(stale.stderr.contains(&hosts[1]), "{}", stale.stderr);

    // Issue 15: the reviewed plan rewrites the env file with a rotated secret; a second
    // rotation leaves its action list as it was, yet the plan no longer runs what was shown.
    let secrets_file = project.dir().join(".kamal/secrets");
    let rotate = |from: &str, to: &str| {
        let text = std::fs::read_to_string(&secrets_file).unwrap();
        assert!(text.contains(from), "{text}");
        std::fs::write(&secrets_file, text.replace(from, to)).unwrap();
    };
    rotate("apply-s3cret", "apply-r0tated-once");
    gantry(&project, &["plan", "--version", &v[1], "-o", file]).assert_code(0);
    rotate("apply-r0tated-once", "apply-r0tated-twice");
    let rotated = gantry(&project, &["apply", file]);
    rotated.assert_code(1);
    assert!(
        rotated.stderr.contains("differs (- saved, + now)"),
        "{}",
        rotated.stderr
    );
    assert!(
        !rotated.stderr.contains("r0tated") && !rotated.stdout.contains("r0tated"),
        "{}",
        rotated.stderr
    );
    rotate("apply-r0tated-twice", "apply-r0tated-once");
    let elsewhere = gantry(&project, &["apply", file, "-d", "staging"]);
    elsewhere.assert_code(1);
    assert!(
        elsewhere.stderr.contains("without a destination") && elsewhere.stderr.contains("staging"),
        "{}",
        elsewhere.stderr
    );
    let applied = gantry(&project, &["apply", file]);
    applied.assert_code(0);
    for host in &hosts {
        assert_eq!(serving(host).as_deref(), Some(v[1].as_str()), "{host}");
    }
}

#[test]
fn gantry_takes_over_from_kamal_and_kamal_agrees_with_what_runs() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let v = versions(&testbed, &["kamal", "gantry"]);
    let project = project(&testbed, &hosts, "");
    project.setup(&v[0], RUN_TIMEOUT).assert_success();
    gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &v[0]],
    )
    .assert_code(0);

    gantry(&project, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    let version = project.run(&["app", "version"], RUN_TIMEOUT);
    version.assert_success();
    assert_eq!(
        version.output.matches(v[1].as_str()).count(),
        hosts.len(),
        "{}",
        version.output
    );
    let details = project.run(&["details"], RUN_TIMEOUT);
    details.assert_success();
    assert_eq!(
        details
            .output
            .matches(&format!("{SERVICE}-web-{}", v[1]))
            .count(),
        hosts.len(),
        "{}",
        details.output
    );
    // And Kamal can deploy again over gantry's work.
    project.deploy(&v[0], RUN_TIMEOUT).assert_success();
    gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &v[0]],
    )
    .assert_code(0);
}
