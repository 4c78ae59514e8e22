//! `registry login|logout|setup|remove` on the test bed, next to the real Kamal 2.11: after
//! either tool's login each host's `~/.docker/config.json` has the registry, after either's
//! logout it has not; `-L` and `-R` leave this machine or the hosts alone; the password is never
//! printed; and deploys keep working logged out, since each pull carries its credentials.
//!
//! This machine's side runs against a Docker configuration directory of the test's own
//! (`DOCKER_CONFIG`), so the user's logins stay as they are; Kamal runs with `-L` for the same
//! reason.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-registry";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(240);

fn gantry(project: &KamalProject, docker_config: &Path, args: &[&str]) -> GantryRun {
    let docker_config = docker_config.to_string_lossy();
    gantry::spawn(
        Path::new(env!("CARGO_BIN_EXE_gantry")),
        project.dir(),
        args,
        &[("DOCKER_CONFIG", docker_config.as_ref())],
    )
    .wait(Duration::from_secs(120))
}

/// Whether `host`'s Docker client has credentials for `registry`.
fn logged_in(testbed: &Testbed, host: &str, registry: &str) -> bool {
    testbed
        .run_ok(host, "cat ~/.docker/config.json 2>/dev/null || true")
        .contains(&format!("\"{registry}\""))
}

/// Whether this machine's (the test's) Docker configuration has credentials for `registry`.
fn logged_in_here(docker_config: &Path, registry: &str) -> bool {
    std::fs::read_to_string(docker_config.join("config.json"))
        .unwrap_or_default()
        .contains(&format!("\"{registry}\""))
}

#[test]
fn registry_login_and_logout_reach_every_host_as_kamal_s_do() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts = testbed.hosts.clone();
    let registry = testbed.registry.clone();
    let version = "registry-1";
    testbed.push_testapp(version, SERVICE);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    let project = KamalProject::create(&testbed, app);
    let docker_config = tempfile::tempdir().expect("a Docker configuration directory");
    let docker_config = docker_config.path();
    for host in &hosts {
        testbed.run_ok(
            host,
            &format!("docker logout {registry} >/dev/null 2>&1 || true"),
        );
        assert!(!logged_in(&testbed, host, &registry), "{host}");
    }

    // Kamal's login and logout, on the hosts only.
    project
        .run(&["registry", "login", "-L"], KAMAL_TIMEOUT)
        .assert_success();
    for host in &hosts {
        assert!(logged_in(&testbed, host, &registry), "kamal login: {host}");
    }
    project
        .run(&["registry", "logout", "-L"], KAMAL_TIMEOUT)
        .assert_success();
    for host in &hosts {
        assert!(
            !logged_in(&testbed, host, &registry),
            "kamal logout: {host}"
        );
    }

    // gantry's: the same on the hosts, and here.
    let login = gantry(&project, docker_config, &["registry", "login"]);
    login.assert_code(0);
    let password = &testbed.registry_password;
    for text in [&login.stdout, &login.stderr] {
        assert!(
            !text.contains(password.as_str()),
            "the password leaked:\n{text}"
        );
    }
    for host in &hosts {
        assert!(logged_in(&testbed, host, &registry), "gantry login: {host}");
    }
    assert!(logged_in_here(docker_config, &registry));
    // Kamal logs out what gantry logged in, and the reverse.
    project
        .run(
            &["registry", "logout", "-L", "-h", &hosts[0]],
            KAMAL_TIMEOUT,
        )
        .assert_success();
    assert!(!logged_in(&testbed, &hosts[0], &registry));
    gantry(&project, docker_config, &["registry", "remove", "-L"]).assert_code(0);
    for host in &hosts {
        assert!(
            !logged_in(&testbed, host, &registry),
            "gantry logout: {host}"
        );
    }
    assert!(
        logged_in_here(docker_config, &registry),
        "-L leaves this machine"
    );
    gantry(&project, docker_config, &["registry", "logout", "-R"]).assert_code(0);
    assert!(!logged_in_here(docker_config, &registry));
    gantry(&project, docker_config, &["registry", "setup", "-R"]).assert_code(0);
    assert!(logged_in_here(docker_config, &registry));
    for host in &hosts {
        assert!(
            !logged_in(&testbed, host, &registry),
            "-R leaves the hosts: {host}"
        );
    }

    // Logged out everywhere, a deploy still pulls: each pull carries the credentials.
    gantry(
        &project,
        docker_config,
        &["apply", "-y", "--version", version],
    )
    .assert_code(0);

    // A local registry (`localhost:PORT`) is set up and removed, never logged in to.
    let deploy_yml = project.dir().join("config/deploy.yml");
    let yaml = std::fs::read_to_string(&deploy_yml).expect("deploy.yml");
    std::fs::write(&deploy_yml, yaml.replace(&registry, "localhost:5555")).expect("deploy.yml");
    for word in ["login", "logout"] {
        let refused = gantry(&project, docker_config, &["registry", word]);
        refused.assert_code(1);
        assert!(
            refused.stderr.contains("local registry"),
            "{word}: {}",
            refused.stderr
        );
    }
}
