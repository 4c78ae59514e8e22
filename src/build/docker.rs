//! Running the build: `docker buildx build` (the command line [`BuildPlan`] writes), `docker
//! login`, the local registry Kamal's `registry.server: localhost:5555` needs, and the clean
//! checkout that is the default build context.
//!
//! Secret values reach `docker` only through its environment, never its arguments; what it
//! prints goes through the [`Redactor`] before it reaches the build's output or an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::PoisonError;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::image::{BuildPlan, ImageError, failed};
use super::{BuildLines, engine, lines_of};
use crate::model::RegistryAuth;
use crate::secret::{Redactor, Secret};

/// Lines of a failed `docker` command's output shown in the error.
const ERROR_TAIL_LINES: usize = 25;

/// Whether the local `docker` has the buildx plugin.
pub async fn has_buildx() -> bool {
    Command::new("docker")
        .args(["buildx", "version"])
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

/// Builds and pushes `plan`, from `context`, with `secrets` for `builder.secrets`.
pub async fn build_and_push(
    plan: &BuildPlan,
    context: &Path,
    auth: Option<&RegistryAuth>,
    secrets: &BTreeMap<String, Secret>,
    redactor: &Redactor,
    output: BuildLines<'_>,
) -> Result<(), ImageError> {
    if !context.join(&plan.dockerfile).is_file() && !Path::new(&plan.dockerfile).is_file() {
        return Err(ImageError::MissingDockerfile(plan.dockerfile.clone()));
    }
    if let Some(port) = plan.local_registry_port {
        ensure_local_registry(port).await?;
    }
    if has_buildx().await {
        if let Some(auth) = auth {
            docker_login(auth, redactor).await?;
        }
        if plan.driver != "docker" {
            ensure_builder(plan).await?;
        }
        let mut command = Command::new("docker");
        command.args(plan.buildx_args(&context.display().to_string()));
        command.current_dir(context);
        for name in &plan.secrets {
            if let Some(value) = secrets.get(name) {
                command.env(name, value.expose());
            }
        }
        return run_docker_streaming(command, "docker buildx build", redactor, output).await;
    }
    engine::build_and_push(plan, context, auth, redactor, output).await
}

/// `docker buildx create` for Kamal's builder when it does not exist yet.
async fn ensure_builder(plan: &BuildPlan) -> Result<(), ImageError> {
    let name = plan.builder_name();
    let exists = Command::new("docker")
        .args(["buildx", "inspect", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success());
    if exists {
        return Ok(());
    }
    let mut command = Command::new("docker");
    command.args([
        "buildx",
        "create",
        "--name",
        &name,
        &format!("--driver={}", plan.driver),
    ]);
    if plan.local_registry_port.is_some() {
        command.args(["--driver-opt", "network=host"]);
    }
    run_docker(command, "docker buildx create", None, &Redactor::default()).await
}

/// Kamal's local registry on this machine (`kamal registry setup`): the `kamal-docker-registry`
/// container started again, or run from `registry:3` on `127.0.0.1:<port>`.
pub async fn ensure_local_registry(port: u16) -> Result<(), ImageError> {
    let mut start = Command::new("docker");
    start.args(["start", LOCAL_REGISTRY_CONTAINER]);
    if run_docker(start, "docker start", None, &Redactor::default())
        .await
        .is_ok()
    {
        return Ok(());
    }
    let mut run = Command::new("docker");
    run.args([
        "run",
        "--detach",
        "-p",
        &format!("127.0.0.1:{port}:5000"),
        "--name",
        LOCAL_REGISTRY_CONTAINER,
        LOCAL_REGISTRY_IMAGE,
    ]);
    run_docker(
        run,
        "starting the local registry",
        None,
        &Redactor::default(),
    )
    .await
}

/// The container and image of Kamal's local registry.
pub const LOCAL_REGISTRY_CONTAINER: &str = "kamal-docker-registry";
const LOCAL_REGISTRY_IMAGE: &str = "registry:3";

/// `docker login` with the password on stdin, never on the command line.
async fn docker_login(auth: &RegistryAuth, redactor: &Redactor) -> Result<(), ImageError> {
    let mut command = Command::new("docker");
    command.args([
        "login",
        &auth.server,
        "-u",
        &auth.username,
        "--password-stdin",
    ]);
    run_docker(
        command,
        "docker login",
        Some(auth.password.expose().as_bytes()),
        redactor,
    )
    .await
}

/// Runs `command`, handing each line it prints (stdout and stderr, as they come) to `output`;
/// on failure, its last lines are the error.
async fn run_docker_streaming(
    mut command: Command,
    what: &str,
    redactor: &Redactor,
    output: BuildLines<'_>,
) -> Result<(), ImageError> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|error| failed(what, error))?;
    let tail = std::sync::Mutex::new(std::collections::VecDeque::new());
    let follow = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        let tail = &tail;
        async move {
            let Some(pipe) = pipe else {
                return;
            };
            let mut lines = tokio::io::BufReader::new(pipe).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = redactor.redact(&line);
                for line in lines_of(&line) {
                    output(line);
                    let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                    tail.push_back(line.to_string());
                    if tail.len() > ERROR_TAIL_LINES {
                        tail.pop_front();
                    }
                }
            }
        }
    };
    let stdout = child.stdout.take().map(|pipe| Box::new(pipe) as Box<_>);
    let stderr = child.stderr.take().map(|pipe| Box::new(pipe) as Box<_>);
    tokio::join!(follow(stdout), follow(stderr));
    let status = child.wait().await.map_err(|error| failed(what, error))?;
    if status.success() {
        return Ok(());
    }
    let tail = tail.into_inner().unwrap_or_else(PoisonError::into_inner);
    Err(ImageError::Failed {
        what: what.to_string(),
        detail: Vec::from(tail).join("\n"),
    })
}

async fn run_docker(
    mut command: Command,
    what: &str,
    stdin: Option<&[u8]>,
    redactor: &Redactor,
) -> Result<(), ImageError> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|error| failed(what, error))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .await
            .map_err(|error| failed(what, error))?;
        drop(pipe);
    }
    let output = child
        .wait_with_output()
        .await
        .map_err(|error| failed(what, error))?;
    if output.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The engine's own error lines, last ones first in importance.
    let tail: Vec<&str> = text.lines().rev().take(ERROR_TAIL_LINES).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(ImageError::Failed {
        what: what.to_string(),
        detail: redactor.redact(&tail.join("\n")),
    })
}
