//! Running the build with the `docker` CLI: `docker buildx build` (the command line
//! [`BuildPlan`] writes), Kamal's buildx builders, `docker login`, the local registry Kamal's
//! `registry.server: localhost:5555` needs, `pack build`, and the clean checkout that is the
//! default build context.
//!
//! Secret values reach `docker` and `pack` only through their environment, never their
//! arguments. What they print goes, line by line as it comes, through the [`Redactor`] to the
//! [`BuildLog`]; the last lines also go into the error when the command fails.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::BuildLog;
use super::image::{BuildOptions, BuildPlan, Builder, ImageError, failed};
use crate::model::RegistryAuth;
use crate::secret::{Redactor, Secret};

/// Whether the local `docker` has the buildx plugin.
pub async fn has_buildx() -> bool {
    succeeds("docker", &["buildx", "version"]).await
}

/// The architecture of the Docker engine `docker` talks to, as Kamal reads it (`docker info`,
/// `aarch64` as `arm64`, `x86_64` as `amd64`; empty when docker does not answer): with
/// `builder.remote`, the arches it can build itself stay local.
pub async fn engine_arch() -> String {
    let output = Command::new("docker")
        .args(["info", "--format", "{{.Architecture}}"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .await;
    let arch = output
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
        .unwrap_or_default();
    if arch.contains("aarch64") {
        "arm64".into()
    } else if arch.contains("x86_64") {
        "amd64".into()
    } else {
        arch
    }
}

/// Whether the `pack` CLI of Cloud Native Buildpacks is installed.
pub async fn has_pack() -> bool {
    succeeds("pack", &["version"]).await
}

async fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

/// A checkout of `HEAD` in a temporary directory: Kamal's clean build context.
pub async fn clean_checkout(project_dir: &Path) -> Result<tempfile::TempDir, ImageError> {
    let dir = tempfile::tempdir().map_err(|error| failed("creating a build directory", error))?;
    let output = Command::new("git")
        .args(["clone", "--quiet", "--no-hardlinks", "--depth", "1"])
        .arg(format!("file://{}", project_dir.display()))
        .arg(dir.path())
        .output()
        .await
        .map_err(|error| failed("git clone", error))?;
    if !output.status.success() {
        return Err(ImageError::Failed {
            what: "git clone of the build context".into(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(dir)
}

/// One build with the `docker` CLI (buildx present) or `pack`: what to build, how, from
/// where, and where its output goes.
pub struct CliBuild<'a> {
    pub plan: &'a BuildPlan,
    pub options: &'a BuildOptions,
    /// The directory the build runs in (the clean checkout, or the project).
    pub directory: &'a Path,
    pub auth: Option<&'a RegistryAuth>,
    /// `builder.secrets` by name.
    pub secrets: &'a BTreeMap<String, Secret>,
    pub redactor: &'a Redactor,
    pub log: &'a dyn BuildLog,
}

impl CliBuild<'_> {
    /// Builds with buildx, as Kamal's `build push` does: log in (not for a remote builder,
    /// whose engine logs in itself), make sure Kamal's builder exists, then build.
    pub async fn buildx(&self) -> Result<(), ImageError> {
        let plan = self.plan;
        if let Some(port) = plan.local_registry_port {
            ensure_local_registry(port).await?;
        }
        let remote = matches!(
            plan.builder,
            Builder::Remote { .. } | Builder::Hybrid { .. }
        );
        if let (Some(auth), false) = (self.auth, remote) {
            docker_login(auth, self.redactor).await?;
        }
        if plan.needs_buildx_builder() && !builder_exists(plan).await {
            self.log
                .line("Missing compatible builder, so creating a new one first");
            for words in plan.remove_commands() {
                // What is left of a half-made builder; absent is fine.
                let _ = run(docker(&words), "docker", None, self.redactor, self.log).await;
            }
            for words in plan.create_commands() {
                run(docker(&words), "docker", None, self.redactor, self.log).await?;
            }
        }
        let mut command = docker(&plan.buildx_args(self.options));
        self.prepare(&mut command);
        run(
            command,
            "docker buildx build",
            None,
            self.redactor,
            self.log,
        )
        .await
    }

    /// Builds with `pack` (and pushes with `docker push` for `--output registry`).
    pub async fn pack(&self) -> Result<(), ImageError> {
        let Some(args) = self.plan.pack_args(self.options) else {
            return Err(ImageError::Unsupported("not a buildpacks builder".into()));
        };
        if !has_pack().await {
            return Err(ImageError::Unsupported(
                "builder.pack builds with the `pack` CLI of Cloud Native Buildpacks, which is not \
                 installed here: install `pack` (buildpacks.io), or build with a Dockerfile"
                    .into(),
            ));
        }
        let mut command = Command::new("pack");
        command.args(&args);
        self.prepare(&mut command);
        run(command, "pack build", None, self.redactor, self.log).await?;
        if self.options.output == "registry" {
            if let Some(auth) = self.auth {
                docker_login(auth, self.redactor).await?;
            }
            for tag in self.plan.tags(self.options) {
                let command = docker(&["push".to_string(), tag]);
                run(command, "docker push", None, self.redactor, self.log).await?;
            }
        }
        Ok(())
    }

    /// The build's directory and environment: Kamal's, and the secrets by name.
    fn prepare(&self, command: &mut Command) {
        command.current_dir(self.directory);
        for (name, value) in self.plan.build_env() {
            command.env(name, value);
        }
        for name in &self.plan.secrets {
            if let Some(value) = self.secrets.get(name) {
                command.env(name, value.expose());
            }
        }
    }
}

/// A `docker` command with these arguments.
fn docker(words: &[String]) -> Command {
    let mut command = Command::new("docker");
    command.args(words);
    command
}

/// Whether Kamal's builder for `plan` exists (`docker buildx inspect`; for a remote builder,
/// also its docker context).
async fn builder_exists(plan: &BuildPlan) -> bool {
    let name = plan.builder_name();
    let inspected = succeeds("docker", &["buildx", "inspect", &name]).await;
    match plan.builder {
        Builder::Remote { .. } | Builder::Hybrid { .. } => {
            inspected
                && succeeds(
                    "docker",
                    &["context", "inspect", &format!("{name}-context")],
                )
                .await
        }
        _ => inspected,
    }
}

/// Runs `docker <words>` for `build create`/`build remove`, its output to `log`.
pub async fn run_docker(
    words: &[String],
    redactor: &Redactor,
    log: &dyn BuildLog,
) -> Result<(), ImageError> {
    let what = format!(
        "docker {}",
        words.iter().take(2).cloned().collect::<Vec<_>>().join(" ")
    );
    run(docker(words), &what, None, redactor, log).await
}

/// Kamal's local registry on this machine (`kamal registry setup`): the `kamal-docker-registry`
/// container started again, or run from `registry:3` on `127.0.0.1:<port>`.
pub async fn ensure_local_registry(port: u16) -> Result<(), ImageError> {
    let quiet = Redactor::default();
    let start = docker(&["start".into(), LOCAL_REGISTRY_CONTAINER.into()]);
    if run(start, "docker start", None, &quiet, &super::Silent)
        .await
        .is_ok()
    {
        return Ok(());
    }
    let words: Vec<String> = [
        "run",
        "--detach",
        "-p",
        &format!("127.0.0.1:{port}:5000"),
        "--name",
        LOCAL_REGISTRY_CONTAINER,
        LOCAL_REGISTRY_IMAGE,
    ]
    .iter()
    .map(|word| word.to_string())
    .collect();
    run(
        docker(&words),
        "starting the local registry",
        None,
        &quiet,
        &super::Silent,
    )
    .await
}

/// The container and image of Kamal's local registry.
pub const LOCAL_REGISTRY_CONTAINER: &str = "kamal-docker-registry";
const LOCAL_REGISTRY_IMAGE: &str = "registry:3";

/// `docker login` with the password on stdin, never on the command line.
pub async fn docker_login(auth: &RegistryAuth, redactor: &Redactor) -> Result<(), ImageError> {
    let words: Vec<String> = [
        "login",
        &auth.server,
        "-u",
        &auth.username,
        "--password-stdin",
    ]
    .iter()
    .map(|word| word.to_string())
    .collect();
    run(
        docker(&words),
        "docker login",
        Some(auth.password.expose().as_bytes()),
        redactor,
        &super::Silent,
    )
    .await
}

/// `docker logout <server>` on this machine.
pub async fn docker_logout(server: &str) -> Result<(), ImageError> {
    let words = ["logout".to_string(), server.to_string()];
    run(
        docker(&words),
        "docker logout",
        None,
        &Redactor::default(),
        &super::Silent,
    )
    .await
}

/// Stops and removes Kamal's local registry container (`kamal registry remove`).
pub async fn remove_local_registry() -> Result<(), ImageError> {
    for (verb, what) in [("stop", "docker stop"), ("rm", "docker rm")] {
        let words = [verb.to_string(), LOCAL_REGISTRY_CONTAINER.to_string()];
        run(
            docker(&words),
            what,
            None,
            &Redactor::default(),
            &super::Silent,
        )
        .await?;
    }
    Ok(())
}

/// How many of a failed command's last lines its error keeps.
const ERROR_TAIL: usize = 25;

/// Runs `command`, each line of its stdout and stderr redacted and sent to `log` as it comes;
/// on failure the last lines are the error's detail.
async fn run(
    mut command: Command,
    what: &str,
    stdin: Option<&[u8]>,
    redactor: &Redactor,
    log: &dyn BuildLog,
) -> Result<(), ImageError> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|error| failed(what, error))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .await
            .map_err(|error| failed(what, error))?;
        drop(pipe);
    }
    let tail = std::sync::Mutex::new(VecDeque::with_capacity(ERROR_TAIL));
    let forward = |line: String| {
        let line = redactor.redact(&line);
        log.line(&line);
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == ERROR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        }
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    tokio::join!(
        forward_lines(stdout, &forward),
        forward_lines(stderr, &forward)
    );
    let status = child.wait().await.map_err(|error| failed(what, error))?;
    if status.success() {
        return Ok(());
    }
    let tail = tail.into_inner().unwrap_or_default();
    Err(ImageError::Failed {
        what: what.to_string(),
        detail: Vec::from(tail).join("\n"),
    })
}

/// Sends each line `stream` prints to `forward`.
async fn forward_lines(stream: Option<impl AsyncRead + Unpin>, forward: &impl Fn(String)) {
    let Some(stream) = stream else {
        return;
    };
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        forward(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as the log received them.
    #[derive(Default)]
    struct Collected(std::sync::Mutex<Vec<String>>);

    impl BuildLog for Collected {
        fn line(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_string());
        }
    }

    #[tokio::test]
    async fn output_reaches_the_log_line_by_line_redacted_and_the_error_keeps_the_tail() {
        let mut command = Command::new("sh");
        command.args(["-c", "echo step 1; echo token=s3cr3t-value >&2; exit 3"]);
        let redactor = Redactor::new([&Secret::new("s3cr3t-value")]);
        let log = Collected::default();
        let error = run(command, "the build", None, &redactor, &log)
            .await
            .unwrap_err();
        let mut lines = log.0.lock().unwrap().clone();
        lines.sort();
        assert_eq!(lines, ["step 1", "token=[REDACTED]"]);
        let message = error.to_string();
        assert!(message.starts_with("the build failed: "), "{message}");
        assert!(message.contains("token=[REDACTED]"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
    }
}
