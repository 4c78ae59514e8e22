//! Build and push the app image, as `kamal build push` and `kamal deploy` do.
//!
//! With `docker buildx` present, gantry runs the command lines Kamal runs (same builder names,
//! `docker context` for a remote builder, tags, `service` label, build args, secrets,
//! platforms, cache), so users' builder settings keep working; `builder.pack` runs `pack
//! build`. Without buildx, gantry builds through a Docker engine's API (bollard) from a tar of
//! the context: the local engine, or for `builder.remote` the remote engine over gantry's own
//! SSH connection (no `docker context`, no `ssh` binary). Either way the image carries `LABEL
//! service=<service>` and two tags, `<repo>:<version>` and `<repo>:latest[-<dest>]`.
//!
//! The build context is Kamal's: with `builder.context` unset, a clean checkout of `HEAD` (so
//! uncommitted changes are never shipped); otherwise that directory. Secret values reach the
//! build only through the environment of the `docker` process (`--secret id=NAME`), never its
//! arguments. Build output reaches a [`BuildLog`] line by line while the build runs.
//!
//! - [`version`]: which version a command deploys;
//! - [`image`]: what to build and the command lines (pure);
//! - `docker`: running buildx and pack, `docker login`, the local registry, the clean checkout;
//! - `engine`: the Engine API build and push;
//! - `remote`: the remote builder's engine over SSH;
//! - `pull`: `build pull` on one host.

mod docker;
mod engine;
pub mod image;
mod pull;
mod remote;
pub mod version;

use std::collections::BTreeMap;
use std::path::Path;

pub use docker::{
    LOCAL_REGISTRY_CONTAINER, clean_checkout, docker_login, docker_logout, engine_arch,
    ensure_local_registry, has_buildx, has_pack, remove_local_registry, run_docker,
};
pub use image::{BuildOptions, BuildPlan, Builder, ImageError};
pub use pull::{PullError, pull_on_host};

use crate::host::ssh::SshSettings;
use crate::model::RegistryAuth;
use crate::secret::{Redactor, Secret};

/// Where build output goes while the build runs: one line at a time, secrets already
/// redacted.
pub trait BuildLog: Sync {
    fn line(&self, line: &str);
}

/// A [`BuildLog`] that drops everything (`docker login`, the local registry).
pub struct Silent;

impl BuildLog for Silent {
    fn line(&self, _: &str) {}
}

/// One build: what, how, from which directory, and who sees its output.
pub struct Build<'a> {
    pub plan: &'a BuildPlan,
    pub options: &'a BuildOptions,
    /// The directory the build runs in: the clean checkout, or the project with
    /// `builder.context` set. The context is [`BuildPlan::context_arg`] inside it.
    pub directory: &'a Path,
    pub auth: Option<&'a RegistryAuth>,
    /// `builder.secrets` by name.
    pub secrets: &'a BTreeMap<String, Secret>,
    pub redactor: &'a Redactor,
    pub log: &'a dyn BuildLog,
    /// How to reach `builder.remote` over SSH (deploy.yml's `ssh:` settings).
    pub ssh: &'a SshSettings,
}

impl Build<'_> {
    /// Builds (and pushes, for `--output registry`) with the builder the plan names.
    pub async fn run(&self) -> Result<(), ImageError> {
        let plan = self.plan;
        // Kamal reads builder.dockerfile from the directory the build runs in, not from the
        // context: the Dockerfile may lie outside it.
        let dockerfile = [
            self.directory.join(&plan.dockerfile),
            plan.dockerfile.clone().into(),
        ]
        .into_iter()
        .find(|path| path.is_file());
        let dockerfile = match (&plan.builder, dockerfile) {
            (Builder::Pack { .. }, _) => None,
            (_, Some(dockerfile)) => Some(dockerfile),
            (_, None) => return Err(ImageError::MissingDockerfile(plan.dockerfile.clone())),
        };
        let cli = docker::CliBuild {
            plan,
            options: self.options,
            directory: self.directory,
            auth: self.auth,
            secrets: self.secrets,
            redactor: self.redactor,
            log: self.log,
        };
        if matches!(plan.builder, Builder::Pack { .. }) {
            return cli.pack().await;
        }
        if has_buildx().await {
            return cli.buildx().await;
        }
        let engine = engine::EngineBuild {
            plan,
            options: self.options,
            context: &self.directory.join(plan.context_arg()),
            dockerfile: dockerfile.as_deref(),
            auth: self.auth,
            redactor: self.redactor,
            log: self.log,
        };
        match &plan.builder {
            Builder::Local => {
                let arch = engine_arch().await;
                check_engine_arches(plan, Some(arch.as_str()).filter(|arch| !arch.is_empty()))?;
                if let Some(port) = plan.local_registry_port {
                    ensure_local_registry(port).await?;
                }
                let docker = bollard::Docker::connect_with_local_defaults()
                    .map_err(|error| image::failed("connecting to the local Docker", error))?;
                engine.run(&docker).await
            }
            Builder::Remote { uri } => {
                check_engine_arches(plan, None)?;
                let remote = remote::RemoteEngine::connect(uri, self.ssh).await?;
                if let Some(port) = plan.local_registry_port {
                    ensure_local_registry(port).await?;
                    remote.forward_local_registry(port).await?;
                }
                self.log
                    .line(&format!("Building on the remote builder {uri}"));
                engine.run(remote.docker()).await
            }
            Builder::Hybrid { .. } => Err(needs_buildx(
                "building some arches here and others on builder.remote",
            )),
            Builder::Cloud => Err(needs_buildx("Docker Build Cloud (driver: cloud ...)")),
            Builder::Pack { .. } => cli.pack().await,
        }
    }
}

/// An engine builds one architecture: its own (`machine`, when known).
fn check_engine_arches(plan: &BuildPlan, machine: Option<&str>) -> Result<(), ImageError> {
    match plan.arches.as_slice() {
        [] => Ok(()),
        [arch] if machine.is_none_or(|machine| machine == arch) => Ok(()),
        [arch] => Err(needs_buildx(&format!(
            "building for {arch} on this {} machine",
            machine.unwrap_or("other")
        ))),
        _ => Err(needs_buildx(&format!(
            "a multi-arch image (arch: [{}])",
            plan.arches.join(", ")
        ))),
    }
}

fn needs_buildx(what: &str) -> ImageError {
    ImageError::Unsupported(format!(
        "{what} needs docker buildx, which is not installed here: install the docker-buildx \
         plugin, or set builder.remote to an engine of that architecture with `local: false`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_buildx_an_engine_builds_only_its_own_architecture() {
        let mut plan = BuildPlan {
            service: "app".into(),
            repository: "r/app".into(),
            image: "r/app:1".into(),
            latest: "r/app:latest".into(),
            dockerfile: "Dockerfile".into(),
            context: None,
            target: None,
            args: BTreeMap::new(),
            secrets: Vec::new(),
            arches: vec!["amd64".into()],
            driver: "docker-container".into(),
            builder: Builder::Local,
            cache_from: None,
            cache_to: None,
            ssh: None,
            provenance: None,
            sbom: None,
            local_registry_port: None,
        };
        assert!(check_engine_arches(&plan, Some("amd64")).is_ok());
        let error = check_engine_arches(&plan, Some("arm64"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("building for amd64 on this arm64 machine needs docker buildx"),
            "{error}"
        );
        plan.arches.push("arm64".into());
        let error = check_engine_arches(&plan, None).unwrap_err().to_string();
        assert!(
            error.starts_with("a multi-arch image (arch: [amd64, arm64]) needs docker buildx"),
            "{error}"
        );
    }
}
