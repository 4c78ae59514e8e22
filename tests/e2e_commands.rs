//! Kamal's command lines on the test bed (specs/commands.md, "Kamal 2.11's command tree"):
//! `-p/--primary` touches only the primary host, a global option after a sub-subcommand works,
//! and `audit` shows each host's lines of the deploys just done.

use std::path::Path;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-cmds";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The state of this service's containers on `host`, as `name state` lines.
fn app_states(testbed: &Testbed, host: &str) -> String {
    testbed
        .run_ok(
            host,
            &format!(
                "docker ps -a --filter label=service={SERVICE} --format '{{{{.Names}}}} {{{{.State}}}}' | sort"
            ),
        )
        .trim()
        .to_string()
}

#[test]
fn primary_touches_one_host_and_audit_shows_the_deploys() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let versions = testbed.push_versions(SERVICE, &["one"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(1);
    let project = KamalProject::create(&testbed, app);
    gantry(&project, &["apply", "-y", "--version", &versions[0]]).assert_code(0);

    // audit: every host's log, prefixed with the host, with the deploy of this version.
    let audit = gantry(&project, &["audit"]);
    audit.assert_code(0);
    for host in &hosts {
        assert!(
            audit
                .stdout
                .lines()
                .any(|line| line.starts_with(host.as_str()) && line.contains(&versions[0])),
            "{host} has an audit line naming {}:\n{}",
            versions[0],
            audit.stdout
        );
    }

    // -p after the subcommand: only the primary host (the first of web) stops.
    gantry(&project, &["app", "stop", "-p"]).assert_code(0);
    assert!(
        app_states(&testbed, &hosts[0]).ends_with("exited"),
        "primary stopped"
    );
    assert!(
        app_states(&testbed, &hosts[1]).ends_with("running"),
        "the other host is untouched: {}",
        app_states(&testbed, &hosts[1])
    );
    assert_eq!(
        http::serving(&hosts[1]).as_deref(),
        Some(versions[0].as_str())
    );

    // -h after the sub-subcommand: only that host starts again.
    gantry(&project, &["app", "start", "-h", &hosts[0]]).assert_code(0);
    assert!(app_states(&testbed, &hosts[0]).ends_with("running"));
    assert_eq!(
        http::serving(&hosts[0]).as_deref(),
        Some(versions[0].as_str())
    );
}
