//! `server bootstrap` on the test bed, next to the real Kamal 2.11: where Docker is installed it
//! is left as it is, and the `docker-setup` hook runs with the same variables Kamal gives it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-bootstrap";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(240);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

#[test]
fn server_bootstrap_keeps_docker_and_runs_the_docker_setup_hook_as_kamal_s() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive();
    let hosts: Vec<String> = testbed.hosts[..2].to_vec();
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    let project = KamalProject::create(&testbed, app);
    let hooks = project.dir().join(".kamal/hooks");
    std::fs::create_dir_all(&hooks).expect("hooks directory");
    let hook = hooks.join("docker-setup");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho \"$KAMAL_COMMAND $KAMAL_SUBCOMMAND $KAMAL_HOSTS\" >> ran\n",
    )
    .expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let docker_before: Vec<String> = hosts
        .iter()
        .map(|host| {
            testbed.run_ok(
                host,
                "command -v docker && docker version -f '{{.Server.Version}}'",
            )
        })
        .collect();

    project
        .run(&["server", "bootstrap", "--version", "x"], KAMAL_TIMEOUT)
        .assert_success();
    let bootstrap = gantry(&project, &["server", "bootstrap"]);
    bootstrap.assert_code(0);
    assert!(
        bootstrap.stderr.contains("docker is installed"),
        "{}",
        bootstrap.stderr
    );
    let ran = std::fs::read_to_string(project.dir().join("ran")).expect("the hook ran");
    let lines: Vec<&str> = ran.lines().collect();
    assert_eq!(lines.len(), 2, "{ran}");
    assert_eq!(lines[0], lines[1], "the same variables as Kamal's");
    assert_eq!(lines[1], format!("server  {}", hosts.join(",")));
    for (host, before) in hosts.iter().zip(&docker_before) {
        assert_eq!(
            &testbed.run_ok(
                host,
                "command -v docker && docker version -f '{{.Server.Version}}'"
            ),
            before,
            "{host}"
        );
    }
    // -h: only the hosts named.
    gantry(&project, &["server", "bootstrap", "-h", &hosts[1]]).assert_code(0);
    let ran = std::fs::read_to_string(project.dir().join("ran")).expect("the hook ran");
    assert_eq!(
        ran.lines().last(),
        Some(format!("server  {}", hosts[1]).as_str())
    );
}
