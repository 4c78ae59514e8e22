//! Kamal's proxy boot files on the test bed: `kamal proxy boot_config set` (the real Kamal 2.11)
//! writes `.kamal/proxy/options` on the hosts, and every later proxy boot reads them. gantry,
//! with no `proxy.run` in deploy.yml, reads them too: the proxy Kamal booted from them reads back
//! as unchanged, and a proxy gantry boots or reboots keeps the published ports and log size.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-bootcfg";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(240);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The published ports and the log size of the proxy container on `host`.
fn proxy_settings(testbed: &Testbed, host: &str) -> String {
    testbed
        .run_ok(
            host,
            "docker inspect -f '{{json .HostConfig.PortBindings}} {{json .HostConfig.LogConfig.Config}}' kamal-proxy",
        )
        .trim()
        .to_string()
}

#[test]
fn proxies_boot_from_the_files_kamal_proxy_boot_config_set_wrote() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts[..2].to_vec();
    let version = "bootcfg-1";
    testbed.push_testapp(version, SERVICE);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(5);
    let project = KamalProject::create(&testbed, app);

    project
        .run(
            &[
                "proxy",
                "boot_config",
                "set",
                "--http-port",
                "8080",
                "--https-port",
                "8443",
                "--log-max-size",
                "20m",
            ],
            KAMAL_TIMEOUT,
        )
        .assert_success();
    project.setup(version, KAMAL_TIMEOUT).assert_success();
    let kamal_booted = proxy_settings(&testbed, &hosts[0]);
    assert!(
        kamal_booted.contains("8080") && kamal_booted.contains("20m"),
        "Kamal booted from its files: {kamal_booted}"
    );

    // Kamal's proxy is what the files say: nothing to change, no drift.
    let plan = gantry(&project, &["plan", "--version", version]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    assert!(
        !plan.stdout.contains("kamal-proxy differs"),
        "{}",
        plan.stdout
    );
    gantry(&project, &["drift"]).assert_code(0);

    // A proxy gantry reboots keeps them.
    gantry(&project, &["proxy", "reboot", "-y"]).assert_code(0);
    for host in &hosts {
        assert_eq!(proxy_settings(&testbed, host), kamal_booted, "{host}");
        let response = http::get(&format!("{host}:8080"), "/", None, Duration::from_secs(10))
            .expect("the app answers on the published port");
        assert_eq!(response.status, 200, "{host}: {}", response.text());
    }

    // And so does a proxy gantry boots where there is none.
    testbed.run_ok(&hosts[1], "docker rm -f kamal-proxy");
    gantry(&project, &["apply", "-y", "--version", version]).assert_code(0);
    assert_eq!(proxy_settings(&testbed, &hosts[1]), kamal_booted);
    let plan = gantry(&project, &["plan", "--version", version]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // Leave the hosts' proxies on their usual ports for the tests that come next.
    project
        .run(&["proxy", "boot_config", "reset"], KAMAL_TIMEOUT)
        .assert_success();
    for host in &hosts {
        testbed.run_ok(host, "docker rm -f kamal-proxy >/dev/null");
    }
}
