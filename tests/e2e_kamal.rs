//! The real Kamal 2.11 deploys the test app to the test bed through the kamal-proxy stand-in,
//! and a second deploy of a new version happens under load without a single failed request.
//!
//! The image is built with `docker build` and pushed to the test bed registry; Kamal only pulls
//! (`--skip-push`). The Kamal project comes from `gantry_testsupport::kamal`, which later
//! gantry-versus-Kamal tests reuse. Needs the test bed and `kamal` 2.11.0 on PATH.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gantry_testsupport::http::{self, LoopLimits, RequestLoop};
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Testbed, wait};

const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);
const SERVICE: &str = "gantry-testapp";

#[test]
fn kamal_deploys_through_the_standin_and_redeploys_without_failed_requests() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (first, second) = (format!("e2e-{run}-1"), format!("e2e-{run}-2"));
    testbed.push_testapp(&first, SERVICE);
    testbed.push_testapp(&second, SERVICE);

    let mut app = KamalApp::testapp(&hosts);
    app.clear_env = vec![
        ("REPORT_ENV".into(), "GREETING".into()),
        ("GREETING".into(), "hello".into()),
    ];
    let project = KamalProject::create(&testbed, app);

    let setup = project.setup(&first, KAMAL_TIMEOUT);
    setup.assert_success();
    eprintln!(
        "kamal setup --skip-push ({} hosts): {:?}",
        hosts.len(),
        setup.duration
    );
    for host in &hosts {
        let response =
            http::get(&format!("{host}:80"), "/", None, Duration::from_secs(10)).unwrap();
        assert_eq!(response.status, 200, "{host}: {}", response.text());
        let report = response.json();
        assert_eq!(report["version"], first.as_str(), "{host}");
        assert_eq!(
            report["kamal_container_name"],
            format!("{SERVICE}-web-{first}"),
            "{host}"
        );
        assert_eq!(report["kamal_host"], host.as_str());
        assert_eq!(report["env"]["GREETING"], "hello");
        assert_eq!(
            response.header("x-testapp-version"),
            Some(first.as_str()),
            "the answer came through the proxy from the new container"
        );
    }

    let addresses: Vec<String> = hosts.iter().map(|host| format!("{host}:80")).collect();
    let requests = RequestLoop::start(addresses.clone(), "/", LoopLimits::default());
    let deploy = project.deploy(&second, KAMAL_TIMEOUT);
    let switched = wait::until_true(Duration::from_secs(30), Duration::from_millis(100), || {
        let seen = requests.snapshot();
        addresses
            .iter()
            .all(|address| seen.versions(address).last() == Some(&second))
    });
    let report = requests.stop();
    deploy.assert_success();
    eprintln!(
        "kamal deploy --skip-push ({} hosts): {:?}; {} requests during it, {} failed",
        hosts.len(),
        deploy.duration,
        report.answers.len(),
        report.failures().len()
    );

    assert!(switched, "every host ends on {second}");
    assert!(
        report.answers.len() >= 3 * hosts.len(),
        "the loop ran: {} requests",
        report.answers.len()
    );
    assert!(
        report.failures().is_empty(),
        "{} failed requests, first: {:?}",
        report.failures().len(),
        report.failures().first()
    );
    for address in &addresses {
        assert_eq!(
            report.versions(address),
            [first.clone(), second.clone()],
            "{address} switched once, in order"
        );
    }
    // the proxy's state file, which gantry reads back, names the new container as the target
    for host in &hosts {
        let container = testbed.run_ok(
            host,
            &format!("docker container ls --all --quiet --filter 'name=^{SERVICE}-web-{second}$'"),
        );
        let state = testbed.run_ok(
            host,
            "docker exec kamal-proxy cat /home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state",
        );
        let state: serde_json::Value = serde_json::from_str(&state).unwrap();
        let route = &state[0];
        assert_eq!(route["name"], format!("{SERVICE}-web"), "{host}: {state}");
        assert_eq!(
            route["active_targets"],
            serde_json::json!([format!("{}:80", container.trim())]),
            "{host}"
        );
        assert_eq!(route["options"]["hosts"], serde_json::json!([""]));
        assert_eq!(route["target_options"]["buffer_requests"], true);
        assert_eq!(
            route["target_options"]["log_request_headers"],
            serde_json::json!(["Cache-Control", "Last-Modified", "User-Agent"])
        );
    }
    let versions = project.run(&["app", "version", "--version", &second], KAMAL_TIMEOUT);
    versions.assert_success();
    let current = versions
        .output
        .lines()
        .filter(|line| line.trim() == second)
        .count();
    assert_eq!(
        current,
        hosts.len(),
        "kamal app version on every host:\n{}",
        versions.output
    );
}
