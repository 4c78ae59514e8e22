//! Running the build: `docker buildx build` (the command line [`BuildPlan`] writes), `docker
//! login`, the local registry Kamal's `registry.server: localhost:5555` needs, and the clean
//! checkout that is the default build context.
//!
//! Secret values reach `docker` only through its environment, never its arguments; what it
//! prints goes through the [`Redactor`] before it reaches an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::engine;
use super::image::{BuildPlan, ImageError, failed};
use crate::model::RegistryAuth;
use crate::secret::{Redactor, Secret};

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
        return run_docker(command, "docker buildx build", None, redactor).await;
    }
    engine::build_and_push(plan, context, auth, redactor).await
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
pub async fn docker_login(auth: &RegistryAuth, redactor: &Redactor) -> Result<(), ImageError> {
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

/// `docker logout <server>` on this machine.
pub async fn docker_logout(server: &str) -> Result<(), ImageError> {
    let mut command = Command::new("docker");
    command.args(["logout", server]);
    run_docker(command, "docker logout", None, &Redactor::default()).await
}

/// Stops and removes Kamal's local registry container (`kamal registry remove`).
pub async fn remove_local_registry() -> Result<(), ImageError> {
    let mut stop = Command::new("docker");
    stop.args(["stop", LOCAL_REGISTRY_CONTAINER]);
    run_docker(stop, "docker stop", None, &Redactor::default()).await?;
    let mut remove = Command::new("docker");
    remove.args(["rm", LOCAL_REGISTRY_CONTAINER]);
    run_docker(remove, "docker rm", None, &Redactor::default()).await
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
    let tail: Vec<&str> = text.lines().rev().take(25).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(ImageError::Failed {
        what: what.to_string(),
        detail: redactor.redact(&tail.join("\n")),
    })
}
