//! `gantry drift` on the test bed (specs/drift.md): after an apply it is silent with exit 0;
//! every drift class made by hand on the hosts is reported with its class, host and resource in
//! text and JSON (exit 2; 1 for an unreachable host); secrets appear by name only; `--notify`
//! fires once per new drift; drift changes nothing on the hosts and takes no lock; an apply
//! brings it back to 0. Drift classes that do not interfere are made in batches, so each costs
//! one observation rather than one apply.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Fault, Testbed};

const SERVICE: &str = "gantry-drift";
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
const SECRET_ONE: &str = "drift-s3cret-one";
const SECRET_TWO: &str = "drift-s3cret-two";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gantry"))
}

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(bin(), project.dir(), args)
}

/// `gantry drift --notify` with its state kept under `state_home`.
fn drift_notify(project: &KamalProject, state_home: &Path, command: &str) -> GantryRun {
    let state = state_home.display().to_string();
    gantry::spawn(
        bin(),
        project.dir(),
        &["drift", "--notify", command],
        &[("XDG_STATE_HOME", state.as_str())],
    )
    .wait(RUN_TIMEOUT)
}

fn apply(project: &KamalProject, version: &str, extra: &[&str]) {
    let mut args = vec!["apply", "-y", "--version", version];
    args.extend_from_slice(extra);
    gantry(project, &args).assert_code(0);
}

/// Parses `drift --json` and returns the report and its (host, address, class) triples.
fn drift_json(
    project: &KamalProject,
    code: i32,
) -> (serde_json::Value, Vec<(String, String, String)>) {
    let run = gantry(project, &["drift", "--json"]);
    run.assert_code(code);
    let report: serde_json::Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|error| panic!("drift --json: {error}\n{}", run.stdout));
    assert_eq!(report["format_version"], "1", "{report:#}");
    let items = report["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {report:#}"))
        .iter()
        .map(|item| {
            let text = |key: &str| item[key].as_str().unwrap_or_default().to_string();
            (text("host"), text("address"), text("class"))
        })
        .collect();
    (report, items)
}

fn item(host: &str, path: &str, class: &str) -> (String, String, String) {
    let address = if path.is_empty() {
        host.to_string()
    } else {
        format!("{host}/{path}")
    };
    (host.to_string(), address, class.to_string())
}

fn assert_items(found: &[(String, String, String)], expected: &[(String, String, String)]) {
    for wanted in expected {
        assert!(found.contains(wanted), "missing {wanted:?} in {found:#?}");
    }
}

/// The text report has `class path` under the host's heading.
fn assert_text(run: &GantryRun, expected: &[(String, String, String)]) {
    for (host, address, class) in expected {
        let path = address
            .strip_prefix(host.as_str())
            .unwrap_or_default()
            .trim_start_matches('/');
        let line = if path.is_empty() {
            format!("  {class}:")
        } else {
            format!("  {class} {path}:")
        };
        let block: String = run
            .stdout
            .split_inclusive('\n')
            .skip_while(|text| text.trim_end() != format!("{host}:"))
            .skip(1)
            .take_while(|text| text.starts_with("  "))
            .collect();
        assert!(
            block.lines().any(|text| text.starts_with(&line)),
            "no `{line}` under {host}:\n{}",
            run.stdout
        );
    }
}

/// Everything on a host that drift must leave alone: containers (id, name, state, image), the
/// deploy lock directory, the audit log and gantry's journal.
fn host_snapshot(testbed: &Testbed, host: &str) -> String {
    testbed.run_ok(
        host,
        &format!(
            "docker ps -a --format '{{{{.ID}}}} {{{{.Names}}}} {{{{.State}}}} {{{{.Image}}}}' | sort; \
             ls -d .kamal/lock-{SERVICE} 2>&1; cat .kamal/{SERVICE}-audit.log; \
             cat .kamal/apps/{SERVICE}/gantry/journal.json"
        ),
    )
}

fn edit(path: PathBuf, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
}

fn short_id(testbed: &Testbed, host: &str, container: &str) -> String {
    testbed
        .run_ok(
            host,
            &format!("docker inspect -f '{{{{.Id}}}}' {container}"),
        )
        .trim()
        .chars()
        .take(12)
        .collect()
}

fn fired(state_home: &Path) -> usize {
    std::fs::read_to_string(state_home.join("fired"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn drift_is_silent_after_apply_and_reports_each_hand_made_difference_by_class() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let (h1, h2, h3) = (hosts[0].clone(), hosts[1].clone(), hosts[2].clone());
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (v1, v2) = (format!("one-{stamp}"), format!("two-{stamp}"));
    testbed.push_testapp(&v1, SERVICE);
    testbed.push_testapp(&v2, SERVICE);
    let busybox = format!("{}/testbed/busybox:latest", testbed.registry);
    // Containers made by hand use the copy `testbed.sh images` loads on every host: the hosts
    // hold no registry login (gantry sends credentials with each pull).
    let local_busybox = "testbed/busybox:latest";

    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.clear_env = vec![("GREETING".into(), "hello".into())];
    app.secret_env = vec![("DB_PASSWORD".into(), SECRET_ONE.into())];
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    app.extra_roles = vec![("workers".into(), vec![h3.clone()], "/app/init.sh".into())];
    app.extra_yaml = format!(
        "accessories:\n  store:\n    image: {busybox}\n    host: {h2}\n    \
         cmd: sh -c 'while true; do sleep 5; done'\n"
    );
    let project = KamalProject::create(&testbed, app);
    let deploy_yml = project.dir().join("config/deploy.yml");
    let secrets = project.dir().join(".kamal/secrets");
    let original_yml = std::fs::read_to_string(&deploy_yml).unwrap();
    let state_home = tempfile::tempdir().unwrap();
    let notify = format!(
        "cat > {0}/last.json && echo fired >> {0}/fired",
        state_home.path().display()
    );

    // After an apply: silent, exit 0, and as fast as a plan.
    apply(&project, &v1, &[]);
    let clean = gantry(&project, &["drift"]);
    clean.assert_code(0);
    assert_eq!((clean.stdout.as_str(), clean.stderr.as_str()), ("", ""));
    let (report, items) = drift_json(&project, 0);
    assert!(items.is_empty(), "{report:#}");
    assert_eq!(report["version"], v1.as_str());
    assert_eq!(report["version_source"], "running");
    let mut drift_times = Vec::new();
    let mut plan_times = Vec::new();
    for _ in 0..3 {
        drift_times.push(gantry(&project, &["drift"]).duration);
        plan_times.push(gantry(&project, &["plan", "--version", &v1]).duration);
    }
    drift_times.sort();
    plan_times.sort();
    eprintln!("3 hosts, 3 runs each (sorted): drift {drift_times:?}, plan {plan_times:?}");

    // Batch A: one host on another version, then a difference of each kind on each host.
    apply(&project, &v2, &["--hosts", &h2]);
    let web = format!("{SERVICE}-web-{v1}");
    let workers = format!("{SERVICE}-workers-{v1}");
    let labels =
        |role: &str| format!("--label service={SERVICE} --label role={role} --label destination=");
    testbed.run_ok(
        &h1,
        &format!(
            "docker stop {web} && docker update --restart no kamal-proxy && \
             docker run -d --name {SERVICE}-cron-{v1} --network kamal {} {local_busybox} sleep 600",
            labels("cron")
        ),
    );
    testbed.run_ok(&h2, &format!("docker rm -f {SERVICE}-store"));
    testbed.run_ok(
        &h3,
        &format!(
            "docker exec kamal-proxy kamal-proxy remove {SERVICE}-web && \
             docker rm -f {workers} && \
             docker run -d --name {workers} --network kamal {workers_labels} {local_busybox} sleep 600 && \
             docker run -d --name {SERVICE}-web-old --network kamal {web_labels} {local_busybox} sleep 600",
            workers_labels = labels("workers"),
            web_labels = labels("web"),
        ),
    );
    let before: Vec<String> = hosts
        .iter()
        .map(|host| host_snapshot(&testbed, host))
        .collect();
    let text = gantry(&project, &["drift"]);
    text.assert_code(2);
    let (report, items) = drift_json(&project, 2);
    let after: Vec<String> = hosts
        .iter()
        .map(|host| host_snapshot(&testbed, host))
        .collect();
    assert_eq!(before, after, "drift changed nothing and took no lock");
    assert!(
        !after[0].contains(&format!(".kamal/lock-{SERVICE}\n")),
        "{}",
        after[0]
    );
    assert_eq!(report["version"], v1.as_str(), "the majority runs {v1}");
    let batch_a = [
        item(&h1, "app/web", "stopped_container"),
        item(
            &h1,
            &format!("container/{SERVICE}-cron-{v1}"),
            "orphaned_role",
        ),
        item(&h1, "proxy", "proxy_container_outdated"),
        item(&h2, "app/web", "version_skew"),
        item(&h2, "accessory/store", "accessory_missing"),
        item(&h3, &format!("route/{SERVICE}-web"), "proxy_route_missing"),
        item(&h3, "app/workers", "image_mismatch"),
        item(
            &h3,
            &format!("container/{SERVICE}-web-old"),
            "unexpected_container",
        ),
    ];
    assert_items(&items, &batch_a);
    assert_text(&text, &batch_a);
    assert!(text.stdout.contains("Drift: "), "{}", text.stdout);
    let quiet = gantry(&project, &["-q", "drift"]);
    quiet.assert_code(2);
    assert_eq!(quiet.stdout, "");
    // --notify: once per new drift, with the JSON report on stdin.
    drift_notify(&project, state_home.path(), &notify).assert_code(2);
    assert_eq!(fired(state_home.path()), 1);
    let sent: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state_home.path().join("last.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(sent["items"].as_array().map(Vec::len), Some(items.len()));
    drift_notify(&project, state_home.path(), &notify).assert_code(2);
    assert_eq!(
        fired(state_home.path()),
        1,
        "the same drift does not fire twice"
    );

    // An apply heals all of it (the proxy only with --reboot-proxy).
    apply(&project, &v1, &["--reboot-proxy"]);
    let healed = gantry(&project, &["drift"]);
    healed.assert_code(0);
    assert_eq!(healed.stdout, "");
    drift_notify(&project, state_home.path(), &notify).assert_code(0);
    assert_eq!(fired(state_home.path()), 1, "no drift, no notification");

    // Batch B: a secret and a clear env value change in the project, the proxy goes on h3.
    edit(secrets.clone(), |text| text.replace(SECRET_ONE, SECRET_TWO));
    edit(deploy_yml.clone(), |text| {
        text.replace("GREETING: \"hello\"", "GREETING: \"hi\"")
    });
    testbed.run_ok(&h3, "docker rm -f kamal-proxy");
    let text = gantry(&project, &["drift"]);
    text.assert_code(2);
    let (report, items) = drift_json(&project, 2);
    let batch_b = [
        item(&h1, "app/web", "config_mismatch"),
        item(&h2, "app/web", "config_mismatch"),
        item(&h3, "proxy", "proxy_container_missing"),
    ];
    assert_items(&items, &batch_b);
    assert_text(&text, &batch_b);
    let web_item = report["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|item| item["address"] == format!("{h1}/app/web"))
        })
        .unwrap_or_else(|| panic!("{report:#}"));
    let details = web_item["details"].to_string();
    assert!(
        details.contains("~ env.DB_PASSWORD: (sensitive value changed)"),
        "{details}"
    );
    assert!(details.contains("env.GREETING"), "{details}");
    for output in [&text.stdout, &text.stderr, &report.to_string()] {
        for secret in [SECRET_ONE, SECRET_TWO] {
            assert!(
                !output.contains(secret),
                "a secret value in the output:\n{output}"
            );
        }
    }
    drift_notify(&project, state_home.path(), &notify).assert_code(2);
    assert_eq!(fired(state_home.path()), 2, "new drift fires again");
    apply(&project, &v1, &[]);
    gantry(&project, &["drift"]).assert_code(0);

    // Batch C: h3 leaves deploy.yml but keeps running; routes re-pointed and left behind on
    // h2; a container removed on h1.
    let h2_web = short_id(&testbed, &h2, &web);
    testbed.run_ok(
        &h2,
        &format!(
            "docker run -d --name drift-elsewhere --network kamal {}:{v1} && \
             docker exec kamal-proxy kamal-proxy deploy {SERVICE}-web-legacy --target {h2_web}:80 --host legacy.test && \
             docker exec kamal-proxy kamal-proxy deploy {SERVICE}-web --target drift-elsewhere:80",
            testbed.testapp_image
        ),
    );
    testbed.run_ok(&h1, &format!("docker rm -f {web}"));
    let without_h3 = std::fs::read_to_string(&deploy_yml)
        .unwrap()
        .replace(
            &format!("  workers:\n    hosts:\n      - \"{h3}\"\n    cmd: \"/app/init.sh\"\n"),
            "",
        )
        .replace(&format!("    - \"{h3}\"\n"), "");
    assert!(!without_h3.contains(h3.as_str()), "{without_h3}");
    std::fs::write(&deploy_yml, &without_h3).unwrap();
    let text = gantry(&project, &["drift"]);
    text.assert_code(2);
    let (report, items) = drift_json(&project, 2);
    let batch_c = [
        item(&h1, "app/web", "missing_container"),
        item(
            &h2,
            &format!("route/{SERVICE}-web"),
            "proxy_route_points_elsewhere",
        ),
        item(
            &h2,
            &format!("route/{SERVICE}-web-legacy"),
            "proxy_route_stale",
        ),
        item(&h3, "", "orphaned_host"),
    ];
    assert_items(&items, &batch_c);
    assert_text(&text, &batch_c);
    let orphan = report["items"]
        .as_array()
        .and_then(|items| items.iter().find(|item| item["class"] == "orphaned_host"))
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(
        orphan["details"]
            .to_string()
            .contains(&format!("{web} (running)")),
        "{orphan:#}"
    );
    // The ignore list leaves out what its patterns match.
    std::fs::write(
        &deploy_yml,
        format!("{without_h3}x-gantry:\n  drift:\n    ignore:\n      - \"{h2}/route/*\"\n      - \"{h3}\"\n"),
    )
    .unwrap();
    let (_, ignored) = drift_json(&project, 2);
    let hosts_left: BTreeSet<&str> = ignored.iter().map(|(host, _, _)| host.as_str()).collect();
    assert_eq!(hosts_left, BTreeSet::from([h1.as_str()]), "{ignored:#?}");
    std::fs::write(&deploy_yml, &without_h3).unwrap();
    // An unreachable host: exit 1, the other hosts still reported.
    testbed.inject(Fault::Cut, 2);
    let cut = gantry(&project, &["drift", "--json"]);
    testbed.inject(Fault::Heal, 2);
    cut.assert_code(1);
    let cut: serde_json::Value = serde_json::from_str(&cut.stdout).unwrap();
    let classes: BTreeSet<(String, String)> = cut["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| (item["address"].to_string(), item["class"].to_string()))
        .collect();
    for (address, class) in [
        (h2.clone(), "unreachable_host"),
        (format!("{h1}/app/web"), "missing_container"),
        (h3.clone(), "orphaned_host"),
    ] {
        assert!(
            classes.contains(&(format!("\"{address}\""), format!("\"{class}\""))),
            "{address} {class} in {classes:#?}"
        );
    }

    // deploy.yml back as it was: an apply converges and drift is silent again.
    std::fs::write(
        &deploy_yml,
        original_yml.replace("GREETING: \"hello\"", "GREETING: \"hi\""),
    )
    .unwrap();
    apply(&project, &v1, &[]);
    let last = gantry(&project, &["drift"]);
    last.assert_code(0);
    assert_eq!(last.stdout, "");
    testbed.run_ok(&h2, "docker rm -f drift-elsewhere");
}

/// A journal is a file on a host, and `drift` connects to the hosts journals name. One naming a
/// "host" that carries shell code (#15), with deploy.yml's `proxy_command` substituting host
/// names into `sh -c`, must run nothing on this machine.
#[test]
fn a_poisoned_journal_runs_nothing_on_the_deploying_machine() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let h1 = testbed.hosts[0].clone();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let v1 = format!("poison-{stamp}");
    testbed.push_testapp(&v1, SERVICE);
    let mut app = KamalApp::testapp(std::slice::from_ref(&h1));
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    let project = KamalProject::create(&testbed, app);
    let deploy_yml = project.dir().join("config/deploy.yml");
    let mut yml = std::fs::read_to_string(&deploy_yml).unwrap();
    assert!(yml.contains("\nssh:\n"), "ssh: is the last section: {yml}");
    yml.push_str(&format!(
        "  proxy_command: \"ssh -F none -i {} -o UserKnownHostsFile={} -o BatchMode=yes -W %h:%p {}@{h1}\"\n",
        testbed.ssh_key.display(),
        testbed.known_hosts.display(),
        testbed.ssh_user,
    ));
    std::fs::write(&deploy_yml, yml).unwrap();
    apply(&project, &v1, &[]);

    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("pwned");
    let journal_path = format!(".kamal/apps/{SERVICE}/gantry/journal.json");
    let mut journal: serde_json::Value =
        serde_json::from_str(&testbed.run_ok(&h1, &format!("cat {journal_path}"))).unwrap();
    journal["deployed_hosts"] = serde_json::json!([
        h1,
        format!("x;touch {};#", marker.display()),
        format!("$(touch {})", marker.display()),
    ]);
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(journal.to_string())
    };
    testbed.run_ok(&h1, &format!("echo {encoded} | base64 -d > {journal_path}"));

    let drift = gantry(&project, &["drift"]);
    assert!(
        !marker.exists(),
        "a host name from the journal ran on this machine: {}{}",
        drift.stdout,
        drift.stderr
    );
    drift.assert_code(0);
}
