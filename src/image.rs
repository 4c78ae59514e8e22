//! Build and push the app image with the local Docker engine, as `kamal deploy` does.
//!
//! With `docker buildx` present, gantry runs the same `docker buildx build` command line Kamal
//! runs (same builder name, tags, `service` label, build args, secrets, platforms), so users'
//! builder settings keep working. Without buildx, it builds through the local Engine API
//! (bollard) from a tar of the context and pushes with credentials sent per request. Either way
//! the image carries `LABEL service=<service>` and two tags, `<repo>:<version>` and
//! `<repo>:latest[-<dest>]`.
//!
//! The build context is Kamal's: with `builder.context` unset, a clean checkout of `HEAD` (so
//! uncommitted changes are never shipped); otherwise that directory. Secret values reach the
//! build only through the environment of the `docker` process (`--secret id=NAME`), never its
//! arguments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::config::Config;
use crate::host::RegistryAuth;
use crate::naming::{LABEL_SERVICE, ServiceNames};
use crate::secret::{Redactor, Secret};

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildPlan {
    pub service: String,
    /// `<registry>/<image>:<version>`.
    pub image: String,
    /// `<registry>/<image>:latest[-<dest>]`.
    pub latest: String,
    pub dockerfile: String,
    /// `None`: a clean checkout of `HEAD`.
    pub context: Option<PathBuf>,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
    /// Names of `builder.secrets`; their values come with [`build_and_push`].
    pub secrets: Vec<String>,
    /// `linux/<arch>` for each `builder.arch`.
    pub platforms: Vec<String>,
    /// `docker-container` (Kamal's default) or `docker`.
    pub driver: String,
    pub cache_from: Option<String>,
    pub cache_to: Option<String>,
    pub ssh: Option<String>,
    pub provenance: Option<String>,
    pub sbom: Option<String>,
    /// The local registry's port, when `registry.server` is `localhost:<port>`.
    pub local_registry_port: Option<u16>,
}

/// The build or the push failed.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{0}")]
    Unsupported(String),
    #[error("{what} failed: {detail}")]
    Failed { what: String, detail: String },
    #[error("the Dockerfile {0} does not exist")]
    MissingDockerfile(String),
}

impl BuildPlan {
    /// The build of `version` that `config` describes.
    pub fn from_config(config: &Config, version: &str) -> Result<BuildPlan, ImageError> {
        let builder = &config.builder;
        if builder.remote.is_some() || builder.pack.is_some() {
            return Err(ImageError::Unsupported(
                "remote and buildpack builders are not supported by `gantry deploy` yet: build and push \
                 the image with your tooling, then run `gantry deploy --skip-push`"
                    .into(),
            ));
        }
        let driver = builder
            .driver
            .clone()
            .unwrap_or_else(|| "docker-container".into());
        if driver.starts_with("cloud") {
            return Err(ImageError::Unsupported(
                "Docker Build Cloud is not supported by `gantry deploy` yet: build and push the image, \
                 then run `gantry deploy --skip-push`"
                    .into(),
            ));
        }
        let names = ServiceNames::for_config(config);
        let repository = config.repository();
        let cache = builder.cache.as_ref();
        let cache_image = cache.and_then(|cache| cache.image.clone()).map(|image| {
            match &config.registry.server {
                Some(server) => format!("{server}/{image}"),
                None => image,
            }
        });
        let (cache_from, cache_to) = match cache.map(|cache| cache.kind.as_str()) {
            Some("gha") => (
                Some("type=gha".to_string()),
                Some(format!(
                    "type=gha{}",
                    options_suffix(cache.and_then(|c| c.options.as_deref()))
                )),
            ),
            Some("registry") => {
                let image = cache_image.unwrap_or_else(|| format!("{repository}-build-cache"));
                (
                    Some(format!("type=registry,ref={image}")),
                    Some(format!(
                        "type=registry{},ref={image}",
                        options_suffix(cache.and_then(|c| c.options.as_deref()))
                    )),
                )
            }
            _ => (None, None),
        };
        Ok(BuildPlan {
            service: config.service.clone(),
            image: format!("{repository}:{version}"),
            latest: format!("{repository}:{}", names.latest_tag()),
            dockerfile: builder
                .dockerfile
                .clone()
                .unwrap_or_else(|| "Dockerfile".into()),
            context: builder.context.as_ref().map(PathBuf::from),
            target: builder.target.clone(),
            args: builder.args.clone(),
            secrets: builder.secrets.clone(),
            platforms: builder
                .arch
                .iter()
                .map(|arch| format!("linux/{arch}"))
                .collect(),
            driver,
            cache_from,
            cache_to,
            ssh: builder.ssh.clone(),
            provenance: builder.provenance.clone(),
            sbom: builder.sbom.clone(),
            local_registry_port: config.registry.local_port(),
        })
    }

    /// Kamal's builder name: `kamal-local-<driver>` (or `kamal-local-registry-<driver>`).
    pub fn builder_name(&self) -> String {
        if self.local_registry_port.is_some() {
            format!("kamal-local-registry-{}", self.driver)
        } else {
            format!("kamal-local-{}", self.driver)
        }
    }

    /// `docker buildx build ...` as Kamal's `Builder::Base#push` writes it, context last.
    pub fn buildx_args(&self, context: &str) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "buildx".into(),
            "build".into(),
            "--output=type=registry".into(),
        ];
        if !self.platforms.is_empty() {
            args.extend(["--platform".into(), self.platforms.join(",")]);
        }
        if self.driver != "docker" {
            args.extend(["--builder".into(), self.builder_name()]);
        }
        args.extend([
            "-t".into(),
            self.image.clone(),
            "-t".into(),
            self.latest.clone(),
        ]);
        if let (Some(to), Some(from)) = (&self.cache_to, &self.cache_from) {
            args.extend([
                "--cache-to".into(),
                to.clone(),
                "--cache-from".into(),
                from.clone(),
            ]);
        }
        args.extend([
            "--label".into(),
            format!("{LABEL_SERVICE}={}", self.service),
        ]);
        for (name, value) in &self.args {
            args.extend(["--build-arg".into(), format!("{name}={value}")]);
        }
        for secret in &self.secrets {
            args.extend(["--secret".into(), format!("id={secret}")]);
        }
        args.extend(["--file".into(), self.dockerfile.clone()]);
        if let Some(target) = &self.target {
            args.extend(["--target".into(), target.clone()]);
        }
        if let Some(ssh) = &self.ssh {
            args.extend(["--ssh".into(), ssh.clone()]);
        }
        if let Some(provenance) = &self.provenance {
            args.extend(["--provenance".into(), provenance.clone()]);
        }
        if let Some(sbom) = &self.sbom {
            args.extend(["--sbom".into(), sbom.clone()]);
        }
        args.push(context.to_string());
        args
    }
}

fn options_suffix(options: Option<&str>) -> String {
    options
        .map(|options| format!(",{options}"))
        .unwrap_or_default()
}

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

fn failed(what: &str, error: impl std::fmt::Display) -> ImageError {
    ImageError::Failed {
        what: what.to_string(),
        detail: error.to_string(),
    }
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

/// The Engine API path: a tar of the context to the local daemon, then a push.
mod engine {
    use super::*;
    use bollard::Docker;
    use bollard::auth::DockerCredentials;
    use bollard::query_parameters::{BuildImageOptions, PushImageOptions, TagImageOptions};

    pub async fn build_and_push(
        plan: &BuildPlan,
        context: &Path,
        auth: Option<&RegistryAuth>,
        redactor: &Redactor,
    ) -> Result<(), ImageError> {
        if !plan.secrets.is_empty() {
            return Err(ImageError::Unsupported(
                "builder.secrets need docker buildx, which is not installed here".into(),
            ));
        }
        let docker = Docker::connect_with_local_defaults()
            .map_err(|error| failed("connecting to the local Docker", error))?;
        let tar =
            context_tar(context).map_err(|error| failed("packing the build context", error))?;
        let options = BuildImageOptions {
            dockerfile: plan.dockerfile.clone(),
            t: Some(plan.image.clone()),
            rm: true,
            buildargs: Some(plan.args.clone().into_iter().collect()),
            labels: Some(
                [(LABEL_SERVICE.to_string(), plan.service.clone())]
                    .into_iter()
                    .collect(),
            ),
            target: plan.target.clone().unwrap_or_default(),
            ..BuildImageOptions::default()
        };
        let body = bollard::body_full(Bytes::from(tar));
        let mut stream = docker.build_image(options, None, Some(body));
        let mut log: Vec<String> = Vec::new();
        while let Some(step) = stream.next().await {
            let step = step.map_err(|error| failed("docker build", error))?;
            if let Some(line) = step.stream {
                log.push(line);
            }
            if let Some(error) = step.error_detail.and_then(|detail| detail.message) {
                let tail: Vec<String> = log.iter().rev().take(20).rev().cloned().collect();
                return Err(ImageError::Failed {
                    what: "docker build".into(),
                    detail: redactor.redact(&format!("{}{error}", tail.concat())),
                });
            }
        }
        let (repo, tag) = crate::host::split_reference(&plan.latest);
        docker
            .tag_image(
                &plan.image,
                Some(TagImageOptions {
                    repo: Some(repo.to_string()),
                    tag: tag.map(str::to_string),
                }),
            )
            .await
            .map_err(|error| failed("docker tag", error))?;
        let credentials = auth.map(|auth| DockerCredentials {
            username: Some(auth.username.clone()),
            password: Some(auth.password.expose().to_string()),
            serveraddress: Some(auth.server.clone()),
            ..DockerCredentials::default()
        });
        for reference in [&plan.image, &plan.latest] {
            let (name, tag) = crate::host::split_reference(reference);
            let options = PushImageOptions {
                tag: tag.map(str::to_string),
                ..PushImageOptions::default()
            };
            let mut push = docker.push_image(name, Some(options), credentials.clone());
            while let Some(progress) = push.next().await {
                let progress = progress.map_err(|error| {
                    failed(
                        &format!("docker push {reference}"),
                        redactor.redact(&error.to_string()),
                    )
                })?;
                if let Some(error) = progress.error_detail.and_then(|detail| detail.message) {
                    return Err(ImageError::Failed {
                        what: format!("docker push {reference}"),
                        detail: redactor.redact(&error),
                    });
                }
            }
        }
        Ok(())
    }

    /// The context directory as a tar, without `.git` and what `.dockerignore` excludes.
    fn context_tar(context: &Path) -> std::io::Result<Vec<u8>> {
        let mut ignore = ignore::gitignore::GitignoreBuilder::new(context);
        let dockerignore = context.join(".dockerignore");
        if dockerignore.is_file() {
            ignore.add(dockerignore);
        }
        let ignore = ignore.build().map_err(std::io::Error::other)?;
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        let walker = walkdir::WalkDir::new(context)
            .min_depth(1)
            .sort_by_file_name();
        for entry in walker.into_iter().filter_entry(|entry| {
            let relative = entry.path().strip_prefix(context).unwrap_or(entry.path());
            relative != Path::new(".git")
                && !ignore
                    .matched_path_or_any_parents(relative, entry.file_type().is_dir())
                    .is_ignore()
        }) {
            let entry = entry.map_err(std::io::Error::other)?;
            let relative = entry
                .path()
                .strip_prefix(context)
                .map_err(std::io::Error::other)?;
            if entry.file_type().is_dir() {
                builder.append_dir(relative, entry.path())?;
            } else {
                builder.append_path_with_name(entry.path(), relative)?;
            }
        }
        builder.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> BuildPlan {
        BuildPlan {
            service: "app".into(),
            image: "registry.test/app:abc".into(),
            latest: "registry.test/app:latest".into(),
            dockerfile: "Dockerfile".into(),
            context: None,
            target: None,
            args: [("RUBY_VERSION".to_string(), "3.3".to_string())].into(),
            secrets: vec!["GITHUB_TOKEN".into()],
            platforms: vec!["linux/amd64".into()],
            driver: "docker-container".into(),
            cache_from: None,
            cache_to: None,
            ssh: None,
            provenance: None,
            sbom: None,
            local_registry_port: None,
        }
    }

    #[test]
    fn buildx_command_matches_kamals() {
        assert_eq!(
            plan().buildx_args("/tmp/ctx").join(" "),
            "buildx build --output=type=registry --platform linux/amd64 --builder kamal-local-docker-container \
             -t registry.test/app:abc -t registry.test/app:latest --label service=app \
             --build-arg RUBY_VERSION=3.3 --secret id=GITHUB_TOKEN --file Dockerfile /tmp/ctx"
        );
        let mut docker_driver = plan();
        docker_driver.driver = "docker".into();
        assert!(
            !docker_driver
                .buildx_args(".")
                .contains(&"--builder".to_string())
        );
    }
}
