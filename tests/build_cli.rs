//! `gantry build push` without the tools a builder needs says what to install, and build output
//! reaches the terminal while the build still runs. A `docker` on PATH stands in for the real
//! one: it records nothing, it only behaves as the case needs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A project in git with this `builder:` section, and `docker` from `fake_docker` on PATH.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(builder: &str, fake_docker: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("app");
        fs::create_dir_all(root.join("config")).expect("mkdir");
        fs::write(
            root.join("config/deploy.yml"),
            format!(
                "service: app\nimage: team/app\nservers:\n  - 10.0.0.1\nregistry:\n  server: \
                 registry.test\n  username: deployer\n  password: not-a-secret\nbuilder:\n{builder}"
            ),
        )
        .expect("deploy.yml");
        fs::write(root.join("Dockerfile"), "FROM scratch\n").expect("Dockerfile");
        gantry_testsupport::git::commit_all(&root);
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).expect("mkdir");
        fs::write(bin.join("docker"), fake_docker).expect("fake docker");
        fs::set_permissions(bin.join("docker"), fs::Permissions::from_mode(0o755)).expect("chmod");
        Project { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    /// `gantry args` with only the fake `docker` and the system's tools on PATH (no `pack`).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
        command
            .args(args)
            .current_dir(self.root())
            .env("NO_COLOR", "1")
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display()),
            )
            .env("GANTRY_TEST_FLAG_FILE", self.dir.path().join("go"));
        command
    }

    fn fails(&self, args: &[&str]) -> String {
        let output = self.command(args).output().expect("runs");
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        String::from_utf8_lossy(&output.stderr).to_string()
    }
}

const NO_BUILDX: &str = "#!/bin/sh\nexit 1\n";

#[test]
fn a_multi_arch_build_without_buildx_says_to_install_it() {
    let project = Project::new("  arch: [amd64, arm64]\n", NO_BUILDX);
    let stderr = project.fails(&["build", "push"]);
    assert!(
        stderr.contains("a multi-arch image (arch: [amd64, arm64]) needs docker buildx"),
        "{stderr}"
    );
    assert!(stderr.contains("docker-buildx plugin"), "{stderr}");
}

#[test]
fn a_buildpacks_build_without_pack_says_to_install_it() {
    let project = Project::new(
        "  arch: amd64\n  pack:\n    builder: heroku/builder:24\n    buildpacks:\n      - heroku/ruby\n",
        NO_BUILDX,
    );
    let stderr = project.fails(&["build", "push"]);
    assert!(
        stderr.contains("builder.pack builds with the `pack` CLI"),
        "{stderr}"
    );
    let details = project
        .command(&["build", "details"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&details.stdout);
    assert!(stdout.starts_with("Builder: pack\n"), "{stdout}");
}

#[test]
fn build_output_reaches_the_terminal_while_the_build_runs() {
    // The build prints a line, then waits until the test has seen it.
    let fake = "#!/bin/sh\ncase \"$*\" in *password-stdin*) cat >/dev/null;; esac\ncase \"$1 $2\" in \"buildx build\") echo 'step one done'; \
                i=0; while [ ! -e \"$GANTRY_TEST_FLAG_FILE\" ] && [ $i -lt 200 ]; do sleep 0.05; \
                i=$((i+1)); done; echo 'step two done';; esac\nexit 0\n";
    let project = Project::new("  arch: amd64\n  driver: docker\n", fake);
    let mut child = project
        .command(&["build", "push"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("runs");
    let stderr = child.stderr.take().expect("stderr");
    let started = Instant::now();
    let mut lines = BufReader::new(stderr).lines();
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("step one"))
        .expect("the first line of the build");
    assert_eq!(first, "  build | step one done");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "seen before the build finished"
    );
    fs::write(project.dir.path().join("go"), "").expect("lets the build finish");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.contains(&"  build | step two done".to_string()),
        "{rest:?}"
    );
    assert!(child.wait().expect("waits").success());
}
