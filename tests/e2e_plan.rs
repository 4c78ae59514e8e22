//! `gantry plan` on hosts the real Kamal 2.11 deployed (specs/plan-format.md,
//! specs/exit-codes.md): with the same deploy.yml and version it says "No changes." and exits
//! 0 with `--detailed-exitcode`; each difference made by hand shows up as the right change and
//! exit 2; a cut host is reported (exit 1) while the others are still planned.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Fault, Testbed};

const SERVICE: &str = "gantry-plan";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

fn assert_lines(run: &GantryRun, expected: &[&str]) {
    for line in expected {
        assert!(
            run.stdout.lines().any(|text| text.contains(line)),
            "missing `{line}` in the plan:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
}

#[test]
fn plan_reads_a_kamal_deployment_as_no_changes_and_finds_every_hand_made_difference() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let (h1, h2, h3) = (hosts[0].clone(), hosts[1].clone(), hosts[2].clone());
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let version = format!("plan-{stamp}");
    testbed.push_testapp(&version, SERVICE);

    let mut app = KamalApp::testapp(&hosts[..2]);
    app.service = SERVICE.to_string();
    app.clear_env = vec![("GREETING".into(), "hello world".into())];
    app.secret_env = vec![("DB_PASSWORD".into(), "s3cret \"db\" value".into())];
    app.extra_roles = vec![("workers".into(), vec![h3.clone()], "/app/init.sh".into())];
    app.extra_yaml = format!(
        "accessories:\n  store:\n    image: {registry}/testbed/busybox:latest\n    host: {h3}\n    \
         cmd: sh -c 'while true; do date >> /data/log; sleep 5; done'\n    directories:\n      - data:/data\n",
        registry = testbed.registry
    );
    let project = KamalProject::create(&testbed, app);
    project.setup(&version, KAMAL_TIMEOUT).assert_success();

    // The same deploy.yml and version: nothing to do.
    let run = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &version],
    );
    run.assert_code(0);
    assert!(
        run.stdout.contains("No changes."),
        "{}\n{}",
        run.stdout,
        run.stderr
    );

    // Differences made by hand on the hosts.
    let web = format!("{SERVICE}-web-{version}");
    let workers = format!("{SERVICE}-workers-{version}");
    testbed.run_ok(
        &h1,
        &format!("docker exec kamal-proxy kamal-proxy remove {SERVICE}-web"),
    );
    testbed.run_ok(&h2, &format!("docker stop {web}"));
    testbed.run_ok(
        &h3,
        &format!(
            "docker rm -f {workers} && docker run -d --name {workers} --network kamal \
             --label service={SERVICE} --label role=workers --label destination \
             testbed/busybox:latest sleep 600"
        ),
    );
    let run = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &version],
    );
    run.assert_code(2);
    assert_lines(
        &run,
        &[
            &format!("+ route {SERVICE}-web (not in kamal-proxy)"),
            &format!("~ app web: {web} (exited, should be running)"),
            &format!("-/+ app workers: {workers} (configuration changed)"),
            "~ image: \"",
        ],
    );

    // A container removed by hand.
    testbed.run_ok(&h2, &format!("docker rm -f {web}"));
    let run = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &version],
    );
    run.assert_code(2);
    assert_lines(&run, &[&format!("+ app web: {web} (missing)")]);

    // A cut host is reported, and the others are still planned.
    testbed.inject(Fault::Cut, 2);
    let run = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &version],
    );
    testbed.inject(Fault::Heal, 2);
    run.assert_code(1);
    assert_lines(
        &run,
        &[
            &format!("! {h2} is unreachable"),
            &format!("+ route {SERVICE}-web (not in kamal-proxy)"),
        ],
    );

    // Changes in deploy.yml: an env var, a role removed, a host added.
    let config = project.dir().join("config/deploy.yml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    let yaml = yaml
        .replace("hello world", "hello there")
        .replace(
            &format!("  workers:\n    hosts:\n      - \"{h3}\"\n    cmd: \"/app/init.sh\"\n"),
            "",
        )
        .replace(
            &format!("    - \"{h2}\"\n"),
            &format!("    - \"{h2}\"\n    - \"{h3}\"\n"),
        );
    std::fs::write(&config, yaml).unwrap();
    let run = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &version],
    );
    run.assert_code(2);
    assert_lines(
        &run,
        &[
            "~ env.GREETING: \"hello world\" → \"hello there\"",
            &format!("- container {workers} (not in deploy.yml)"),
            &format!("# {h3}"),
            &format!("+ app web: {web} (missing)"),
        ],
    );

    // JSON for scripts: the same plan, with a format version and per-action dependencies.
    let run = gantry(&project, &["plan", "--json", "--version", &version]);
    run.assert_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["format_version"], "1");
    assert_eq!(json["changes"], true);
    assert!(
        json["actions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["depends_on"].is_array())
    );
    assert!(
        !run.stdout.contains("s3cret"),
        "a secret leaked into plan JSON"
    );
}
