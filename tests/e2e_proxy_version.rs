//! A kamal-proxy older than Kamal 2.11's minimum (v0.9.2) on the test bed, beside the real
//! Kamal: both tools refuse to deploy through it before any app container changes, and once it
//! is rebooted onto the current image the deploy goes through. The old proxy is the stand-in
//! image tagged `v0.8.0`, booted by each tool from `proxy.run.version`.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-oldproxy";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(240);
const OLD_PROXY: &str = "v0.8.0";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The project deploying the test app to `host`; with `proxy_version`, `proxy.run.version`.
fn project(testbed: &Testbed, host: &str, proxy_version: Option<&str>) -> KamalProject {
    let mut app = KamalApp::testapp(&[host.to_string()]);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    let project = KamalProject::create(testbed, app);
    if let Some(version) = proxy_version {
        let path = project.dir().join("config/deploy.yml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        let pinned = yaml.replacen(
            "proxy:\n  app_port: 80\n",
            &format!("proxy:\n  app_port: 80\n  run:\n    version: {version}\n"),
            1,
        );
        assert_ne!(pinned, yaml, "deploy.yml has the proxy section");
        std::fs::write(&path, pinned).unwrap();
    }
    project
}

/// The service's containers and the proxy's image on `host`.
fn host_state(testbed: &Testbed, host: &str) -> String {
    testbed.run_ok(
        host,
        &format!(
            "docker ps -a --filter label=service={SERVICE} --format '{{{{.Names}}}} {{{{.State}}}}' | sort; \
             docker inspect -f '{{{{.Config.Image}}}}' kamal-proxy"
        ),
    )
}

#[test]
fn a_proxy_older_than_kamals_minimum_is_refused_before_anything_changes_as_kamal_refuses_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    for host in [&kamal_host, &gantry_host] {
        testbed.run_ok(
            host,
            &format!("docker tag basecamp/kamal-proxy:v0.9.2 basecamp/kamal-proxy:{OLD_PROXY}"),
        );
    }
    let v = testbed.push_versions(SERVICE, &["first", "second"]);

    // Each tool boots the old proxy where none runs yet, and deploys through it.
    project(&testbed, &kamal_host, Some(OLD_PROXY))
        .setup(&v[0], KAMAL_TIMEOUT)
        .assert_success();
    gantry(
        &project(&testbed, &gantry_host, Some(OLD_PROXY)),
        &["apply", "-y", "--version", &v[0]],
    )
    .assert_code(0);
    let before = host_state(&testbed, &kamal_host);
    assert!(
        before.contains(&format!("kamal-proxy:{OLD_PROXY}")),
        "{before}"
    );
    assert_eq!(host_state(&testbed, &gantry_host), before);

    // The next deploy, with the current proxy in deploy.yml, is refused through the old one.
    let kamal = project(&testbed, &kamal_host, None);
    let refused = kamal.deploy(&v[1], KAMAL_TIMEOUT);
    assert!(!refused.success, "{}", refused.output);
    assert!(
        refused
            .output
            .contains(&format!("kamal-proxy version {OLD_PROXY} is too old")),
        "{}",
        refused.output
    );
    let ours = project(&testbed, &gantry_host, None);
    let plan = gantry(&ours, &["plan", "--version", &v[1]]);
    assert!(
        plan.stdout
            .contains(&format!("kamal-proxy {OLD_PROXY} is older than v0.9.2")),
        "{}",
        plan.stdout
    );
    let apply = gantry(&ours, &["apply", "-y", "--version", &v[1]]);
    apply.assert_code(1);
    assert!(
        apply.stderr.contains("nothing was changed"),
        "{}{}",
        apply.stdout,
        apply.stderr
    );
    assert_eq!(
        host_state(&testbed, &kamal_host),
        before,
        "Kamal changed nothing"
    );
    assert_eq!(
        host_state(&testbed, &gantry_host),
        before,
        "gantry changed nothing"
    );

    // Rebooted onto the current proxy, the deploy goes through.
    gantry(
        &ours,
        &["apply", "-y", "--reboot-proxy", "--version", &v[1]],
    )
    .assert_code(0);
    let after = host_state(&testbed, &gantry_host);
    assert!(after.contains("kamal-proxy:v0.9.2"), "{after}");
    assert!(
        after.contains(&format!("{SERVICE}-web-{} running", v[1])),
        "{after}"
    );
}
