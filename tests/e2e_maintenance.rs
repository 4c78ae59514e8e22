//! Maintenance mode on the test bed, side by side with the real Kamal 2.11 (issue 16):
//! `app maintenance --message M` makes kamal-proxy answer 503 with M on every host, a deploy
//! during maintenance goes behind it and leaves the route stopped, `app live` serves again, and
//! `plan`/`drift` report the maintenance as state (a note, no change), and it survives a
//! restart of kamal-proxy. A request loop runs through the side-by-side part: every answer is
//! the app's 200 or the maintenance 503, nothing else.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http::{self, LoopLimits, RequestLoop};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-maint";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);
const STATE_FILE: &str = "/home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// What `GET /` on `host` through kamal-proxy answers: the status and the body.
fn answer(host: &str) -> (u16, String) {
    let response = http::get(&format!("{host}:80"), "/", None, Duration::from_secs(5))
        .unwrap_or_else(|error| panic!("{host}: {error}"));
    (response.status, response.text())
}

/// Every host answers 503 with `message` on its page.
fn assert_in_maintenance(hosts: &[String], message: &str) {
    for host in hosts {
        let (status, body) = answer(host);
        assert_eq!(status, 503, "{host}: {body}");
        assert!(body.contains(message), "{host}: {message:?} not in {body}");
    }
}

/// Every host serves `version` with 200.
fn assert_live(hosts: &[String], version: &str) {
    for host in hosts {
        assert_eq!(
            http::serving(host).as_deref(),
            Some(version),
            "{host}: {:?}",
            answer(host)
        );
    }
}

/// The web route's pause state and stop message as kamal-proxy saved them on each host.
fn proxy_states(testbed: &Testbed, hosts: &[String]) -> Vec<(i64, String)> {
    hosts
        .iter()
        .map(|host| {
            let text = testbed.run_ok(host, &format!("docker exec kamal-proxy cat {STATE_FILE}"));
            let services: serde_json::Value = serde_json::from_str(&text).unwrap();
            let route = services
                .as_array()
                .unwrap()
                .iter()
                .find(|service| service["name"] == format!("{SERVICE}-web"))
                .unwrap_or_else(|| panic!("{host}: no route in {text}"));
            let pause = &route["pause_controller"];
            (
                pause["state"].as_i64().unwrap_or_default(),
                pause["stop_message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn maintenance_then_live_as_kamal_does_and_a_deploy_goes_behind_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let hosts = testbed.hosts.clone();
    let v = testbed.push_versions(SERVICE, &["one", "two", "three"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(20);
    app.drain_timeout = Some(2);
    let project = KamalProject::create(&testbed, app);
    let _exclusive = testbed.exclusive_clean();
    project.setup(&v[0], KAMAL_TIMEOUT).assert_success();
    assert_live(&hosts, &v[0]);
    let requests = RequestLoop::start(
        hosts.iter().map(|host| format!("{host}:80")).collect(),
        "/",
        LoopLimits {
            max_requests: usize::MAX,
            max_duration: Duration::from_secs(900),
            pause: Duration::from_millis(50),
            request_timeout: Duration::from_secs(10),
        },
    );

    // Kamal: maintenance, a deploy behind it, live.
    let kamal_message = "Kamal says back soon";
    project
        .run(
            &[
                "app",
                "maintenance",
                "--message",
                kamal_message,
                "--version",
                &v[0],
            ],
            KAMAL_TIMEOUT,
        )
        .assert_success();
    assert_in_maintenance(&hosts, kamal_message);
    let kamal_stopped = proxy_states(&testbed, &hosts);
    assert!(
        kamal_stopped
            .iter()
            .all(|state| *state == (2, kamal_message.to_string())),
        "{kamal_stopped:?}"
    );
    // gantry reads Kamal's maintenance as state: no change, a note.
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &v[0]],
    );
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("is in maintenance") && plan.stdout.contains(kamal_message),
        "{}",
        plan.stdout
    );
    project.deploy(&v[1], KAMAL_TIMEOUT).assert_success();
    assert_in_maintenance(&hosts, kamal_message);
    let kamal_after_deploy = proxy_states(&testbed, &hosts);
    project
        .run(&["app", "live", "--version", &v[1]], KAMAL_TIMEOUT)
        .assert_success();
    assert_live(&hosts, &v[1]);
    let kamal_live = proxy_states(&testbed, &hosts);

    // gantry: the same steps, the same states.
    let message = "gantry says back soon";
    gantry(&project, &["app", "maintenance", "--message", message]).assert_code(0);
    assert_in_maintenance(&hosts, message);
    let stopped = proxy_states(&testbed, &hosts);
    assert!(
        stopped
            .iter()
            .all(|state| *state == (2, message.to_string())),
        "{stopped:?}"
    );
    let again = gantry(&project, &["app", "maintenance", "--message", message]);
    again.assert_code(0);
    let drift = gantry(&project, &["drift"]);
    drift.assert_code(0);
    assert!(
        drift.stdout.contains("is in maintenance") && drift.stdout.contains(message),
        "{}",
        drift.stdout
    );
    gantry(&project, &["apply", "-y", "--version", &v[2]]).assert_code(0);
    assert_in_maintenance(&hosts, message);
    let after_deploy = proxy_states(&testbed, &hosts);
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &v[2]],
    );
    plan.assert_code(0);
    gantry(&project, &["app", "live"]).assert_code(0);
    assert_live(&hosts, &v[2]);
    let live = proxy_states(&testbed, &hosts);

    let renamed = |states: &[(i64, String)], from: &str| -> Vec<(i64, String)> {
        states
            .iter()
            .map(|(state, text)| (*state, text.replace(from, "M")))
            .collect()
    };
    assert_eq!(
        renamed(&after_deploy, message),
        renamed(&kamal_after_deploy, kamal_message),
        "a deploy during maintenance leaves the route as Kamal's does"
    );
    assert_eq!(live, kamal_live);

    let report = requests.stop();
    let unexpected: Vec<_> = report
        .answers
        .iter()
        .filter(|answer| !matches!(answer.outcome, Ok((200 | 503, _))))
        .collect();
    assert!(
        unexpected.is_empty(),
        "only the app or the maintenance page answer: {unexpected:?}"
    );
    assert!(
        report
            .answers
            .iter()
            .any(|answer| matches!(answer.outcome, Ok((503, _)))),
        "the loop saw the maintenance"
    );

    // Maintenance is kamal-proxy's state: it survives a restart of the proxy (its state file),
    // and `kamal-proxy list` shows it.
    gantry(&project, &["app", "maintenance", "--message", message]).assert_code(0);
    testbed.run_ok(&hosts[0], "docker restart kamal-proxy");
    let back = gantry_testsupport::wait::until_true(
        Duration::from_secs(30),
        Duration::from_millis(300),
        || {
            http::get(
                &format!("{}:80", hosts[0]),
                "/",
                None,
                Duration::from_secs(2),
            )
            .is_ok()
        },
    );
    assert!(back, "kamal-proxy answers again after its restart");
    assert_in_maintenance(&hosts, message);
    let list = testbed.run_ok(&hosts[0], "docker exec kamal-proxy kamal-proxy list");
    assert!(list.contains("stopped"), "{list}");
    gantry(&project, &["app", "live"]).assert_code(0);
    assert_live(&hosts, &v[2]);
}
