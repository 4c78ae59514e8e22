//! `proxy boot_config set|get|reset`, `proxy stop|start|restart` and `proxy remove` on the test
//! bed, next to the real Kamal 2.11 on the same project: the boot files either tool writes are
//! byte for byte the same, what one sets the other gets, a reboot honours them, and the proxy's
//! container ends in the state Kamal's commands leave it in.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::images::ReloadProxyImage;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-proxycmd";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(240);
const BOOT_FILES: &str =
    ".kamal/proxy/options .kamal/proxy/image .kamal/proxy/image_version .kamal/proxy/run_command";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The `Host <host>: ...` lines of a `boot_config get`, sorted. Kamal prints each host's line
/// from its own thread, so two lines can run together: each `Host ` starts a line.
fn host_lines(output: &str) -> Vec<String> {
    let mut lines: Vec<String> = output
        .replace("Host ", "\nHost ")
        .lines()
        .filter(|line| line.starts_with("Host "))
        .map(|line| line.trim_end().to_string())
        .collect();
    lines.sort();
    lines
}

fn kamal_get(project: &KamalProject) -> Vec<String> {
    let run = project.run(&["proxy", "boot_config", "get"], KAMAL_TIMEOUT);
    run.assert_success();
    host_lines(&run.output)
}

fn gantry_get(project: &KamalProject) -> Vec<String> {
    let run = gantry(project, &["proxy", "boot_config", "get"]);
    run.assert_code(0);
    host_lines(&run.stdout)
}

/// Each boot file on `host` with its exact contents (`-` for a missing one).
fn boot_files(testbed: &Testbed, host: &str) -> String {
    testbed.run_ok(
        host,
        &format!(
            "for f in {BOOT_FILES}; do printf '%s=' $f; if [ -e $f ]; then cat $f; else printf -- -; fi; echo; done"
        ),
    )
}

/// `name id state` of the proxy container on `host`, empty when there is none.
fn proxy(testbed: &Testbed, host: &str) -> String {
    testbed
        .run_ok(
            host,
            "docker ps -a --filter name=^kamal-proxy$ --format '{{.Names}} {{.ID}} {{.State}}'",
        )
        .trim()
        .to_string()
}

#[test]
fn proxy_boot_config_and_lifecycle_commands_match_kamal() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts[..2].to_vec();
    let version = "proxycmd-1";
    testbed.push_testapp(version, SERVICE);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    let project = KamalProject::create(&testbed, app);
    gantry(&project, &["apply", "-y", "--version", version]).assert_code(0);

    // With no files, both print Kamal's defaults.
    let defaults = kamal_get(&project);
    assert_eq!(defaults.len(), 2, "{defaults:?}");
    assert_eq!(gantry_get(&project), defaults);

    // Every option: gantry writes the very files Kamal writes.
    let every_option = [
        "proxy",
        "boot_config",
        "set",
        "--http-port",
        "8081",
        "--https-port",
        "8443",
        "--log-max-size",
        "20m",
        "--publish-host-ip",
        "0.0.0.0",
        "--registry",
        "registry.test:5000",
        "--repository",
        "mirror",
        "--image-version",
        "v0.9.3",
        "--metrics-port",
        "9090",
        "--debug",
        "--docker-options",
        "sysctl=net.ipv4.ip_forward=1",
        "init",
    ];
    project.run(&every_option, KAMAL_TIMEOUT).assert_success();
    let kamal_files = boot_files(&testbed, &hosts[0]);
    assert!(kamal_files.contains("--expose=9090"), "{kamal_files}");
    let kamal_line = kamal_get(&project);
    gantry(&project, &["proxy", "boot_config", "reset"]).assert_code(0);
    assert_eq!(gantry_get(&project), defaults, "reset removes every file");
    gantry(&project, &every_option).assert_code(0);
    for host in &hosts {
        assert_eq!(boot_files(&testbed, host), kamal_files, "{host}");
    }
    assert_eq!(gantry_get(&project), kamal_line);

    // What Kamal sets gantry gets, and the reverse.
    project
        .run(
            &["proxy", "boot_config", "set", "--http-port", "8080"],
            KAMAL_TIMEOUT,
        )
        .assert_success();
    let kamal_set = kamal_get(&project);
    assert!(kamal_set[0].contains("8080:80"), "{kamal_set:?}");
    assert_eq!(gantry_get(&project), kamal_set);
    gantry(
        &project,
        &[
            "proxy",
            "boot_config",
            "set",
            "--http-port",
            "8082",
            "--no-publish",
        ],
    )
    .assert_code(0);
    let gantry_set = gantry_get(&project);
    assert_eq!(kamal_get(&project), gantry_set);
    gantry(
        &project,
        &[
            "proxy",
            "boot_config",
            "set",
            "--http-port",
            "8082",
            "--log-max-size",
            "20m",
        ],
    )
    .assert_code(0);
    let set = kamal_get(&project);
    assert!(
        set[0].contains("8082:80") && set[0].contains("max-size=20m"),
        "{set:?}"
    );

    // A reboot boots from the files: the app answers on the new port.
    gantry(&project, &["proxy", "reboot", "-y"]).assert_code(0);
    for host in &hosts {
        let response = http::get(&format!("{host}:8082"), "/", None, Duration::from_secs(10))
            .expect("the app answers on the port boot_config set");
        assert_eq!(response.status, 200, "{host}");
    }
    gantry(&project, &["proxy", "boot_config", "reset"]).assert_code(0);
    let no_files: String = BOOT_FILES
        .split(' ')
        .map(|file| format!("{file}=-\n"))
        .collect();
    for host in &hosts {
        assert_eq!(boot_files(&testbed, host), no_files, "{host}: reset");
    }
    assert_eq!(kamal_get(&project), defaults);
    gantry(&project, &["proxy", "reboot", "-y"]).assert_code(0);

    // stop / start / restart, taking turns with Kamal on the same container.
    let booted = proxy(&testbed, &hosts[0]);
    assert!(booted.ends_with(" running"), "{booted}");
    let id = booted.split(' ').nth(1).unwrap_or_default().to_string();
    project
        .run(&["proxy", "stop", "--version", version], KAMAL_TIMEOUT)
        .assert_success();
    let kamal_stopped = proxy(&testbed, &hosts[0]);
    assert_eq!(kamal_stopped, format!("kamal-proxy {id} exited"));
    gantry(&project, &["proxy", "start"]).assert_code(0);
    assert_eq!(proxy(&testbed, &hosts[0]), booted);
    gantry(&project, &["proxy", "stop"]).assert_code(0);
    assert_eq!(proxy(&testbed, &hosts[0]), kamal_stopped);
    assert!(
        http::get(
            &format!("{}:80", hosts[0]),
            "/",
            None,
            Duration::from_secs(2)
        )
        .is_err()
    );
    project
        .run(&["proxy", "start", "--version", version], KAMAL_TIMEOUT)
        .assert_success();
    assert_eq!(proxy(&testbed, &hosts[0]), booted);
    gantry(&project, &["proxy", "restart"]).assert_code(0);
    assert_eq!(proxy(&testbed, &hosts[0]), booted);
    let response = http::get(
        &format!("{}:80", hosts[0]),
        "/",
        None,
        Duration::from_secs(10),
    )
    .expect("the routes survive a restart");
    assert_eq!(response.status, 200);

    // remove: refused while an app is installed, as Kamal's; with --force, the same leftovers.
    let _heal = ReloadProxyImage {
        testbed: &testbed,
        hosts: vec![1, 2],
    };
    let refused = gantry(&project, &["proxy", "remove"]);
    refused.assert_code(0);
    assert!(refused.stdout.contains("--force"), "{}", refused.stdout);
    assert_eq!(proxy(&testbed, &hosts[0]), booted);
    gantry(&project, &["proxy", "remove", "--force", "-h", &hosts[0]]).assert_code(0);
    project
        .run(
            &[
                "proxy",
                "remove",
                "--force",
                "-h",
                &hosts[1],
                "--version",
                version,
            ],
            KAMAL_TIMEOUT,
        )
        .assert_success();
    let leftovers = |host: &str| {
        testbed.run_ok(
            host,
            "docker ps -aq --filter name=^kamal-proxy$ | wc -l; test -e .kamal/proxy && echo dir; docker volume ls -q --filter name=^kamal-proxy-config$",
        )
    };
    assert_eq!(leftovers(&hosts[0]), leftovers(&hosts[1]));
    assert_eq!(proxy(&testbed, &hosts[0]), "");
}
