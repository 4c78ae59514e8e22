//! Kamal's local registry (`registry.server: localhost:5555`, the registry of the deploy.yml
//! that `kamal init` writes) on the test bed: `gantry deploy` starts `kamal-docker-registry` on
//! this machine, pushes there, and the hosts pull through their SSH connection (each host's
//! `localhost:5555` forwarded back to this machine). The real Kamal 2.11 then deploys the next
//! version over it the same way, and gantry reads Kamal's result back as "No changes".

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::git::git;
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-localreg";
const PORT: u16 = 5555;
const REGISTRY_CONTAINER: &str = "kamal-docker-registry";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

fn run(program: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("{program} runs: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The local registry container of this machine, removed (with its images).
fn remove_local_registry() {
    let _ = Command::new("docker")
        .args(["rm", "-f", REGISTRY_CONTAINER])
        .output();
}

/// A project as `kamal init` makes it: the local registry, the image named after the service.
fn project(testbed: &Testbed) -> (KamalProject, String) {
    let mut app = KamalApp::testapp(&testbed.hosts[..2]);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(5);
    let project = KamalProject::create(testbed, app);
    let dir = project.dir();
    let deploy_yml = dir.join("config/deploy.yml");
    let text = fs::read_to_string(&deploy_yml).expect("deploy.yml");
    let mut lines: Vec<String> = Vec::new();
    let mut in_registry = false;
    for line in text.lines() {
        if line.starts_with("image:") {
            lines.push(format!("image: {SERVICE}"));
            continue;
        }
        if line == "registry:" {
            in_registry = true;
            lines.push(format!("registry:\n  server: localhost:{PORT}"));
            continue;
        }
        if in_registry && line.starts_with(' ') {
            continue;
        }
        in_registry = false;
        if line == "builder:" {
            lines.push(format!(
                "builder:\n  args:\n    SERVICE: {SERVICE}\n    VERSION: built"
            ));
            continue;
        }
        lines.push(line.to_string());
    }
    fs::write(&deploy_yml, lines.join("\n") + "\n").expect("writes deploy.yml");
    let app_source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/testapp");
    for file in ["Dockerfile", "init.sh", "handler.sh"] {
        fs::copy(app_source.join(file), dir.join(file)).expect("copies the test app");
    }
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "the app"]);
    let head = git(dir, &["rev-parse", "HEAD"]);
    (project, head)
}

fn assert_serves(testbed: &Testbed, version_answer: &str, container: &str) {
    for host in &testbed.hosts[..2] {
        let image = testbed.run_ok(
            host,
            &format!("docker inspect -f '{{{{.Config.Image}}}}' {container}"),
        );
        assert!(
            image
                .trim()
                .starts_with(&format!("localhost:{PORT}/{SERVICE}:")),
            "{host} runs {container} from the local registry: {image}"
        );
        let response = http::get(&format!("{host}:80"), "/", None, Duration::from_secs(5))
            .expect("the app answers");
        assert_eq!(
            response.json()["version"],
            version_answer,
            "{}",
            response.text()
        );
        let listening = testbed.run_ok(
            host,
            "awk '$2 ~ /:15B3$/ && $4 == \"0A\"' /proc/net/tcp | wc -l",
        );
        assert_eq!(
            listening.trim(),
            "0",
            "{host}: nothing listens on localhost:{PORT} once the run is over"
        );
    }
}

#[test]
fn a_kamal_init_project_deploys_through_the_local_registry_and_kamal_takes_over() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    remove_local_registry();
    let (project, head) = project(&testbed);

    let deploy = gantry(&project, &["deploy"]);
    deploy.assert_code(0);
    let running = run(
        "docker",
        &["inspect", "-f", "{{.State.Running}}", REGISTRY_CONTAINER],
        project.dir(),
    );
    assert_eq!(running, "true", "gantry started the local registry");
    assert_serves(&testbed, "built", &format!("{SERVICE}-web-{head}"));
    let plan = gantry(&project, &["plan", "--version", &head]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);

    // Kamal deploys the next version over it, pulling through its own forward.
    let image = format!("localhost:{PORT}/{SERVICE}:v2");
    let context = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/testapp");
    run(
        "docker",
        &[
            "build",
            "-q",
            "--build-arg",
            &format!("SERVICE={SERVICE}"),
            "--build-arg",
            "VERSION=v2",
            "-t",
            &image,
            ".",
        ],
        &context,
    );
    run("docker", &["push", "-q", &image], project.dir());
    project
        .deploy("v2", Duration::from_secs(180))
        .assert_success();
    assert_serves(&testbed, "v2", &format!("{SERVICE}-web-v2"));
    let plan = gantry(&project, &["plan", "--version", "v2"]);
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("No changes."),
        "gantry reads Kamal's deploy back: {}",
        plan.stdout
    );

    remove_local_registry();
}
