//! What to build ([`BuildPlan`]): the image's tags, labels, build args, secrets and platforms
//! from deploy.yml, and the `docker buildx build` command line Kamal runs for them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::config::Config;
use crate::naming::{LABEL_SERVICE, ServiceNames};

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
    /// Names of `builder.secrets`; their values come with [`build_and_push`](super::build_and_push).
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

pub(super) fn failed(what: &str, error: impl std::fmt::Display) -> ImageError {
    ImageError::Failed {
        what: what.to_string(),
        detail: error.to_string(),
    }
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
