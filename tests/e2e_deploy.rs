//! `gantry deploy` on the test bed: build from a clean clone of the project's git HEAD (as Kamal
//! does), push to the test bed's registry, apply that version; Kamal's hooks in Kamal's order;
//! a failing `pre-build` hook stops before anything is built or any host is touched.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::git::git;
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-build";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// A Kamal project whose git repository holds the test app's Dockerfile, and hooks that log
/// their name (and `KAMAL_COMMAND`) to `hooks.log`, `pre-build` failing when `FAIL_PRE_BUILD`
/// exists.
fn project(testbed: &Testbed) -> (KamalProject, String) {
    let mut app = KamalApp::testapp(&testbed.hosts[..2]);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(5);
    app.extra_yaml =
        format!("builder:\n  arch: amd64\n  args:\n    SERVICE: {SERVICE}\n    VERSION: built\n");
    let project = KamalProject::create(testbed, app);
    let dir = project.dir();
    // deploy_yml writes its own builder section first; the later one (with args) must win, so
    // drop the first.
    let deploy_yml = dir.join("config/deploy.yml");
    let text = fs::read_to_string(&deploy_yml).expect("deploy.yml");
    fs::write(
        &deploy_yml,
        text.replacen("builder:\n  arch: amd64\n", "", 1),
    )
    .expect("writes");
    let app_source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/testapp");
    for file in ["Dockerfile", "init.sh", "handler.sh"] {
        fs::copy(app_source.join(file), dir.join(file)).expect("copies the test app");
    }
    let hooks = dir.join(".kamal/hooks");
    fs::create_dir_all(&hooks).expect("hooks dir");
    for hook in [
        "pre-connect",
        "pre-build",
        "pre-deploy",
        "pre-app-boot",
        "post-app-boot",
        "post-deploy",
    ] {
        let fail = if hook == "pre-build" {
            "[ -e FAIL_PRE_BUILD ] && { echo 'pre-build says no' >&2; exit 1; }\n"
        } else {
            ""
        };
        let path = hooks.join(hook);
        fs::write(
            &path,
            format!("#!/bin/sh\necho \"{hook} $KAMAL_COMMAND\" >> hooks.log\n{fail}exit 0\n"),
        )
        .expect("writes the hook");
        Command::new("chmod")
            .arg("+x")
            .arg(&path)
            .status()
            .expect("chmod");
    }
    fs::write(dir.join(".gitignore"), "hooks.log\nFAIL_PRE_BUILD\n").expect("gitignore");
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "the app"]);
    let head = git(dir, &["rev-parse", "HEAD"]);
    (project, head)
}

fn hooks_log(project: &KamalProject) -> Vec<String> {
    fs::read_to_string(project.dir().join("hooks.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn deploy_builds_git_head_pushes_it_and_runs_it_with_kamals_hooks_in_order() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (project, head) = project(&testbed);

    // A failing pre-build hook: nothing is built or pushed, no host is touched.
    fs::write(project.dir().join("FAIL_PRE_BUILD"), "").expect("marker");
    let refused = gantry(&project, &["deploy"]);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("pre-build"),
        "the error names the hook: {}",
        refused.stderr
    );
    assert_eq!(
        hooks_log(&project),
        ["pre-connect deploy", "pre-build deploy"]
    );
    for host in &testbed.hosts[..2] {
        let containers = testbed.run_ok(host, "docker ps -aq --filter label=service");
        assert!(
            containers.trim().is_empty(),
            "{host} was touched: {containers}"
        );
    }
    let tags = Command::new("curl")
        .args(["-s", "-u"])
        .arg(format!(
            "{}:{}",
            testbed.registry_user, testbed.registry_password
        ))
        .arg(format!(
            "http://{}/v2/{SERVICE}/tags/list",
            testbed.registry
        ))
        .output()
        .expect("curl runs");
    let tags = String::from_utf8_lossy(&tags.stdout);
    assert!(!tags.contains(&head), "nothing was pushed: {tags}");

    // The real deploy: the clean clone of HEAD is built (an uncommitted file is not in it).
    fs::remove_file(project.dir().join("FAIL_PRE_BUILD")).expect("removes the marker");
    fs::remove_file(project.dir().join("hooks.log")).expect("clears the log");
    fs::write(project.dir().join("uncommitted.txt"), "not in the image").expect("writes");
    let deploy = gantry(&project, &["deploy"]);
    deploy.assert_code(0);
    // The build's output shows as it comes, each line prefixed, between `Building ...` and
    // `Pushed ...` (no terminal here: plain lines).
    let building = deploy.stderr.find("Building ").expect("Building ...");
    let first_step = deploy
        .stderr
        .find("\n  build | Step 1/")
        .unwrap_or_else(|| panic!("no build output:\n{}", deploy.stderr));
    let pushed = deploy.stderr.find("Pushed ").expect("Pushed ...");
    assert!(
        building < first_step && first_step < pushed,
        "{}",
        deploy.stderr
    );
    assert!(!deploy.stderr.contains('\u{1b}'), "{:?}", deploy.stderr);
    assert_eq!(
        hooks_log(&project),
        [
            "pre-connect deploy",
            "pre-build deploy",
            "pre-deploy deploy",
            "pre-app-boot deploy",
            "post-app-boot deploy",
            "post-deploy deploy",
        ],
        "pre-connect runs once, before the build"
    );
    let container = format!("{SERVICE}-web-{head}");
    for host in &testbed.hosts[..2] {
        let running = testbed.run_ok(
            host,
            &format!("docker inspect -f '{{{{.State.Running}}}}' {container}"),
        );
        assert_eq!(running.trim(), "true", "{host} runs {container}");
        let listing = testbed.run_ok(host, &format!("docker exec {container} ls /app"));
        assert!(!listing.contains("uncommitted"), "{listing}");
        let response = http::get(&format!("{host}:80"), "/", None, Duration::from_secs(5))
            .expect("the app answers");
        assert_eq!(response.json()["version"], "built", "{}", response.text());
    }

    // Nothing left to do.
    let plan = gantry(&project, &["plan", "--version", &head]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}
