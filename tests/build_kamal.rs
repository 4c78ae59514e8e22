//! `gantry build ...` next to the real `kamal build ...` (Kamal 2.11): both run with a `docker`
//! on PATH that records its command lines, and the lines that build, create or remove the
//! builder must be the same (builder names, tags, cache, labels, build args, secrets,
//! Dockerfile, target, ssh, `--no-cache`, `-dirty` tags, remote builders' docker contexts).
//! Secret values must reach gantry's `docker` through its environment only. Needs `kamal` on
//! PATH (CI installs it); skipped without it unless CI or `GANTRY_REQUIRE_TESTBED` is set.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_testsupport::testbed::must_have_testbed;

const KAMAL_VERSION: &str = "2.11.0";
const REMOTE_BUILDER: &str = "ssh://root@10.0.0.9";
const GITHUB_TOKEN: &str = "gh-secret-value-1";
const REGISTRY_PASSWORD: &str = "registry-secret-value-1";

fn kamal_ready() -> bool {
    let ready = Command::new("kamal")
        .arg("version")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == KAMAL_VERSION);
    if !ready {
        assert!(
            !must_have_testbed(|name| std::env::var(name).ok()),
            "Kamal {KAMAL_VERSION} is required here (CI or GANTRY_REQUIRE_TESTBED=1)"
        );
        eprintln!("skipped: Kamal {KAMAL_VERSION} is not on PATH");
    }
    ready
}

/// A project in git with this `builder:` section, and a recording `docker` beside it.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(builder: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("app");
        fs::create_dir_all(root.join("config")).expect("mkdir");
        fs::create_dir_all(root.join(".kamal")).expect("mkdir");
        fs::write(
            root.join("config/deploy.yml"),
            format!(
                "service: app\nimage: team/app\nservers:\n  - 10.0.0.1\nregistry:\n  server: registry.test\n  \
                 username: deployer\n  password:\n    - REGISTRY_PASSWORD\nbuilder:\n{builder}"
            ),
        )
        .expect("deploy.yml");
        fs::write(
            root.join(".kamal/secrets"),
            format!("REGISTRY_PASSWORD={REGISTRY_PASSWORD}\nGITHUB_TOKEN={GITHUB_TOKEN}\n"),
        )
        .expect("secrets");
        fs::write(root.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        fs::write(root.join("Dockerfile.prod"), "FROM scratch\n").expect("Dockerfile");
        gantry_testsupport::git::commit_all(&root);
        let fake = dir.path().join("bin");
        fs::create_dir_all(&fake).expect("mkdir");
        // Records each command line, and which secrets its environment holds.
        fs::write(
            fake.join("docker"),
            "#!/bin/sh\ncase \"$*\" in *password-stdin*) cat >/dev/null;; esac\n\
             case \"$1 $2\" in \"buildx inspect\") echo \"Endpoint: $3-context\";; \
             \"context inspect\") echo \"$REMOTE_BUILDER\";; \
             \"context ls\"|\"buildx ls\") echo \"listed by docker $1 $2\";; \
             \"info --format\") echo x86_64;; esac\n\
             printf '%s\\n' \"$*\" >> \"$DOCKER_LOG\"\n\
             [ -n \"$GITHUB_TOKEN\" ] && printf 'env GITHUB_TOKEN=%s\\n' \"$GITHUB_TOKEN\" >> \"$DOCKER_LOG\"\n\
             exit 0\n",
        )
        .expect("fake docker");
        fs::set_permissions(fake.join("docker"), fs::Permissions::from_mode(0o755)).expect("chmod");
        Project { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    /// Runs `program args` with the recording docker (whose builders all exist, a remote one's
    /// context pointing at `ssh://root@10.0.0.9`); returns the command lines it ran.
    fn run(&self, program: &Path, args: &[&str]) -> (Vec<String>, String) {
        let log = self.dir.path().join(format!(
            "{}.log",
            program.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        let _ = fs::remove_file(&log);
        let path = format!(
            "{}:{}",
            self.dir.path().join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new(program)
            .args(args)
            .current_dir(self.root())
            .env("PATH", path)
            .env("DOCKER_LOG", &log)
            .env("REMOTE_BUILDER", REMOTE_BUILDER)
            .env_remove("VERSION")
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{} {args:?}: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let lines = fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        (lines, String::from_utf8_lossy(&output.stdout).to_string())
    }

    fn kamal(&self, args: &[&str]) -> Vec<String> {
        self.run(Path::new("kamal"), args).0
    }

    fn gantry(&self, args: &[&str]) -> Vec<String> {
        self.run(Path::new(env!("CARGO_BIN_EXE_gantry")), args).0
    }
}

/// The lines that build or set up the builder (not `login`, `--version`, ...).
fn builder_lines(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| !line.contains("kamal-local-build-check"))
        .filter(|line| {
            [
                "buildx build",
                "buildx create",
                "buildx rm",
                "context create",
                "context rm",
            ]
            .iter()
            .any(|start| line.starts_with(start))
        })
        .cloned()
        .collect()
}

const FULL_BUILDER: &str = "  arch: amd64\n  args:\n    RUBY_VERSION: \"3.3\"\n  secrets:\n    - GITHUB_TOKEN\n  \
    target: prod\n  dockerfile: Dockerfile.prod\n  ssh: default\n  cache:\n    type: registry\n    options: mode=max\n";

#[test]
fn build_push_runs_kamals_buildx_command_line_and_keeps_secrets_out_of_it() {
    if !kamal_ready() {
        return;
    }
    let project = Project::new(FULL_BUILDER);
    for args in [&["build", "push"][..], &["build", "push", "--no-cache"]] {
        let kamal = project.kamal(args);
        let gantry = project.gantry(args);
        let expected = builder_lines(&kamal);
        assert_eq!(expected.len(), 1, "{kamal:?}");
        assert!(
            expected[0].contains(
                "--cache-to type=registry,ref=registry.test/team/app-build-cache,mode=max"
            )
        );
        assert_eq!(builder_lines(&gantry), expected, "{args:?}");
        let text = gantry.join("\n");
        assert!(!text.contains(REGISTRY_PASSWORD), "{text}");
        let argv: Vec<&String> = gantry
            .iter()
            .filter(|line| !line.starts_with("env "))
            .collect();
        assert!(!format!("{argv:?}").contains(GITHUB_TOKEN), "{argv:?}");
        assert!(
            gantry.contains(&format!("env GITHUB_TOKEN={GITHUB_TOKEN}")),
            "the secret reaches the build through its environment: {gantry:?}"
        );
    }
}

#[test]
fn build_dev_builds_the_working_directory_tagged_dirty_as_kamal_does() {
    if !kamal_ready() {
        return;
    }
    let project = Project::new(
        "  arch: amd64\n  driver: docker\n  cache:\n    type: gha\n    options: scope=app,mode=max\n",
    );
    let kamal = builder_lines(&project.kamal(&["build", "dev"]));
    assert_eq!(kamal.len(), 1, "{kamal:?}");
    assert!(kamal[0].contains("-dirty"), "{kamal:?}");
    assert_eq!(builder_lines(&project.gantry(&["build", "dev"])), kamal);
    let kamal = builder_lines(&project.kamal(&["build", "push"]));
    assert!(
        kamal[0].contains("--cache-from type=gha,scope=app "),
        "{kamal:?}"
    );
    assert_eq!(builder_lines(&project.gantry(&["build", "push"])), kamal);
}

#[test]
fn build_create_and_remove_set_up_kamals_local_builder() {
    if !kamal_ready() {
        return;
    }
    for builder in ["  arch: amd64\n", "  arch: [amd64, arm64]\n"] {
        let project = Project::new(builder);
        for command in ["create", "remove"] {
            let kamal = builder_lines(&project.kamal(&["build", command]));
            assert!(!kamal.is_empty(), "{builder}: kamal build {command}");
            assert_eq!(
                builder_lines(&project.gantry(&["build", command])),
                kamal,
                "{builder}: build {command}"
            );
        }
    }
}

#[test]
fn build_push_on_a_remote_builder_uses_kamals_remote_builder() {
    if !kamal_ready() {
        return;
    }
    let project = Project::new(&format!(
        "  arch: amd64\n  local: false\n  remote: {REMOTE_BUILDER}\n"
    ));
    let kamal = builder_lines(&project.kamal(&["build", "push"]));
    assert_eq!(kamal.len(), 1, "{kamal:?}");
    assert!(
        kamal[0].contains("--builder kamal-remote-ssh---root-10-0-0-9 "),
        "{kamal:?}"
    );
    assert_eq!(builder_lines(&project.gantry(&["build", "push"])), kamal);
}

#[test]
fn build_details_names_the_builder_kamal_would_use() {
    if !kamal_ready() {
        return;
    }
    for builder in [
        "  arch: amd64\n",
        "  arch: amd64\n  remote: ssh://root@10.0.0.9\n",
        "  arch: amd64\n  local: false\n  remote: ssh://root@10.0.0.9\n",
        "  arch: [amd64, arm64]\n  remote: ssh://root@10.0.0.9\n",
        "  arch: [amd64, arm64]\n  local: false\n  remote: ssh://root@10.0.0.9\n",
    ] {
        let project = Project::new(builder);
        let (_, kamal) = project.run(Path::new("kamal"), &["build", "details"]);
        let (_, gantry) = project.run(
            Path::new(env!("CARGO_BIN_EXE_gantry")),
            &["build", "details"],
        );
        assert!(kamal.starts_with("Builder: "), "{kamal}");
        assert!(kamal.contains("listed by docker buildx ls"), "{kamal}");
        assert_eq!(gantry, kamal, "{builder}");
    }
}
