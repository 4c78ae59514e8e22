//! `gantry build ...` on the test bed with a test bed host as the remote builder (`builder.local:
//! false`, `builder.remote: ssh://root@<host>`): the image is built on that host through
//! gantry's SSH connection, pushed from there, pulled on the app hosts by `build pull` and
//! deployed; a `builder.cache` of type `registry` lets a build on an engine that lost every
//! layer reuse the unchanged ones, and `--no-cache` none. Build output streams while the build
//! runs.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::git::git;
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-remote-build";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The test app with a slow step before its scripts are copied: the layer a cache saves. The
/// step is new in every run, so no cache of an earlier run can hold it.
fn dockerfile() -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/testapp/Dockerfile");
    let text = fs::read_to_string(source).expect("the test app's Dockerfile");
    text.replacen(
        "COPY init.sh",
        &format!("RUN sleep 6 && echo {nonce} > /warm-layer\nCOPY init.sh"),
        1,
    )
}

/// The test app as `service` on the first two hosts, built on the third (`local: false`), in
/// git; `registry` replaces the test bed's registry section when given.
fn project(
    testbed: &Testbed,
    service: &str,
    builder: &str,
    registry: Option<&str>,
) -> KamalProject {
    let mut app = KamalApp::testapp(&testbed.hosts[..2]);
    app.service = service.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(5);
    app.extra_yaml = format!(
        "builder:\n  arch: amd64\n  local: false\n  remote: ssh://root@{}\n{builder}  \
         args:\n    SERVICE: {service}\n    VERSION: remote\n",
        testbed.hosts[2]
    );
    let project = KamalProject::create(testbed, app);
    let dir = project.dir();
    let deploy_yml = dir.join("config/deploy.yml");
    let text = fs::read_to_string(&deploy_yml)
        .expect("deploy.yml")
        .replacen("builder:\n  arch: amd64\n", "", 1)
        .replacen(
            "image: \"gantry-testapp\"",
            &format!("image: \"{service}\""),
            1,
        );
    let mut lines: Vec<&str> = Vec::new();
    let mut in_registry = false;
    for line in text.lines() {
        if let (Some(registry), "registry:") = (registry, line) {
            in_registry = true;
            lines.push(registry.trim_end());
        } else if !(in_registry && line.starts_with(' ')) {
            in_registry = false;
            lines.push(line);
        }
    }
    let text = lines.join("\n") + "\n";
    fs::write(&deploy_yml, text).expect("writes");
    let app_source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testbed/testapp");
    for file in ["init.sh", "handler.sh"] {
        fs::copy(app_source.join(file), dir.join(file)).expect("copies the test app");
    }
    fs::write(dir.join("Dockerfile"), dockerfile()).expect("Dockerfile");
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-qm", "the app"]);
    project
}

#[test]
fn a_remote_builder_on_a_test_bed_host_builds_pushes_and_deploys_and_its_registry_cache_is_reused()
{
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let builder_host = testbed.hosts[2].clone();
    let project = project(&testbed, SERVICE, "  cache:\n    type: registry\n", None);
    let dir = project.dir();
    let repository = format!("{}/{SERVICE}", testbed.registry);
    let forget_every_build = format!(
        "docker image ls --format '{{{{.Repository}}}}:{{{{.Tag}}}}' | grep '^{repository}' \
         | xargs -r docker rmi -f >/dev/null; docker image prune -f >/dev/null; true"
    );
    testbed.run_ok(&builder_host, &forget_every_build);

    // The first build: every layer built on the builder host, output streamed as it comes.
    let first = gantry(&project, &["build", "push"]);
    first.assert_code(0);
    assert!(
        first.stderr.contains("  build | Step 1/"),
        "build output is shown: {}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains(&format!("remote builder ssh://root@{builder_host}")),
        "{}",
        first.stderr
    );
    let head = git(dir, &["rev-parse", "HEAD"]);
    let image = format!("{repository}:{head}");
    let built_there = testbed.run_ok(
        &builder_host,
        &format!("docker image inspect -f '{{{{index .Config.Labels \"service\"}}}}' {image}"),
    );
    assert_eq!(
        built_there.trim(),
        SERVICE,
        "the image was built on the builder host"
    );
    let here = Command::new("docker")
        .args(["image", "inspect", &image])
        .output()
        .expect("docker runs");
    assert!(!here.status.success(), "nothing was built on this machine");

    // A change to a late layer only, on an engine that lost every layer: the registry cache
    // brings the slow layer back.
    let handler = dir.join("handler.sh");
    let mut script = fs::read_to_string(&handler).expect("handler.sh");
    script.push_str("# a change after the slow step\n");
    fs::write(&handler, script).expect("writes");
    git(dir, &["commit", "-qam", "a late change"]);
    testbed.run_ok(&builder_host, &forget_every_build);
    let second = gantry(&project, &["build", "push"]);
    second.assert_code(0);
    assert!(
        second.stderr.contains("Using the build cache"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("Using cache"),
        "the slow layer comes from the cache: {}",
        second.stderr
    );
    eprintln!(
        "remote build with a registry cache: first {:.1}s, second after a late change {:.1}s",
        first.duration.as_secs_f64(),
        second.duration.as_secs_f64()
    );
    assert!(
        second.duration + Duration::from_secs(3) < first.duration,
        "first {:?}, second {:?}",
        first.duration,
        second.duration
    );

    // Pulled on the app hosts (and audited there), then deployed as it is.
    let pull = gantry(&project, &["build", "pull"]);
    pull.assert_code(0);
    let head = git(dir, &["rev-parse", "HEAD"]);
    for host in &testbed.hosts[..2] {
        assert!(
            pull.stderr
                .contains(&format!("Pulled {repository}:{head} on {host}")),
            "{}",
            pull.stderr
        );
        let audit = testbed.run_ok(host, &format!("cat .kamal/{SERVICE}-audit.log"));
        assert!(
            audit.contains(&format!("Pulled image with version {head}")),
            "{audit}"
        );
    }
    // `setup --no-cache`: built again from scratch (no layer from the cache), then deployed.
    let setup = gantry(&project, &["setup", "--no-cache"]);
    setup.assert_code(0);
    assert!(
        setup.stderr.contains("  build | Step 1/"),
        "{}",
        setup.stderr
    );
    assert!(!setup.stderr.contains("Using cache"), "{}", setup.stderr);
    for host in &testbed.hosts[..2] {
        let response = http::get(&format!("{host}:80"), "/", None, Duration::from_secs(5))
            .expect("the app answers");
        assert_eq!(response.json()["version"], "remote", "{}", response.text());
    }
}

#[test]
fn a_remote_builder_pushes_to_kamals_local_registry_through_the_ssh_connection() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let service = "gantry-remote-localreg";
    let project = project(
        &testbed,
        service,
        "",
        Some("registry:\n  server: localhost:5555\n"),
    );
    let push = gantry(&project, &["build", "push"]);
    push.assert_code(0);
    let head = git(project.dir(), &["rev-parse", "HEAD"]);
    let tags = Command::new("curl")
        .args([
            "-s",
            &format!("http://127.0.0.1:5555/v2/{service}/tags/list"),
        ])
        .output()
        .expect("curl runs");
    let tags = String::from_utf8_lossy(&tags.stdout);
    assert!(
        tags.contains(&head),
        "pushed to this machine's registry: {tags}"
    );
    let built_there = testbed.run_ok(
        &testbed.hosts[2],
        &format!("docker image inspect -f '{{{{.Id}}}}' localhost:5555/{service}:{head}"),
    );
    assert!(built_there.trim().starts_with("sha256:"), "{built_there}");
}
