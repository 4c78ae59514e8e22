//! `gantry rollback` on the test bed (specs/commands.md): back to the previous version on three
//! hosts while a request loop hits every proxy, without one failed request; a version the hosts
//! no longer keep is refused before anything changes.

mod deployment;

use std::time::Duration;

use deployment::Deployment;
use gantry_testsupport::Testbed;
use gantry_testsupport::http::{LoopLimits, RequestLoop};

const SERVICE: &str = "gantry-rollback";

#[test]
fn rollback_returns_to_the_previous_version_without_a_failed_request() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let deployment = Deployment::new(&testbed, SERVICE, 3, |_| {});
    let v = deployment.versions(&["r1", "r2"]);
    for version in &v {
        deployment
            .gantry(&["apply", "-y", "--version", version])
            .assert_code(0);
    }

    // A version no host keeps: refused, naming the versions there are, and nothing changes.
    let refused = deployment.gantry(&["rollback", "-y", "never-deployed"]);
    refused.assert_code(1);
    // The help line wraps at the terminal's width, also inside a version at a hyphen.
    let unwrapped: String = refused.stderr.split_whitespace().collect();
    assert!(
        refused
            .stderr
            .contains("version never-deployed is not retained on")
            && unwrapped.contains(&v[0]),
        "{}",
        refused.stderr
    );
    for host in &deployment.hosts {
        assert_eq!(deployment.serving(host).as_deref(), Some(v[1].as_str()));
    }

    let requests = RequestLoop::start(
        deployment.proxy_addresses(),
        "/",
        LoopLimits {
            pause: Duration::from_millis(20),
            ..LoopLimits::default()
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    let rollback = deployment.gantry(&["rollback", "-y"]);
    std::thread::sleep(Duration::from_millis(500));
    let report = requests.stop();
    rollback.assert_code(0);
    assert!(
        rollback
            .stderr
            .contains(&format!("Rolling back to {}", v[0])),
        "{}",
        rollback.stderr
    );
    assert!(
        report.failures().is_empty(),
        "failed requests during the rollback: {:#?}",
        report.failures()
    );
    for (host, address) in deployment.hosts.iter().zip(deployment.proxy_addresses()) {
        let seen = report.versions(&address);
        assert_eq!(seen.first(), Some(&v[1]), "{address} before: {seen:?}");
        assert_eq!(seen.last(), Some(&v[0]), "{address} after: {seen:?}");
        assert_eq!(deployment.serving(host).as_deref(), Some(v[0].as_str()));
        assert_eq!(deployment.running_app_containers(host), 1, "{host}");
    }
    // The rolled-back-from version is kept, stopped, for a rollback the other way.
    deployment
        .gantry(&["plan", "--detailed-exitcode", "--version", &v[0]])
        .assert_code(0);
    deployment.gantry(&["rollback", "-y", &v[1]]).assert_code(0);
    for host in &deployment.hosts {
        assert_eq!(deployment.serving(host).as_deref(), Some(v[1].as_str()));
    }
}
