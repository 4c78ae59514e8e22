//! What to build ([`BuildPlan`]): the image's tags, labels, build args, secrets, platforms and
//! builder from deploy.yml, and the command lines Kamal 2.11 runs for them (`docker buildx
//! build`, `pack build`). Pure: nothing here runs anything.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::naming::{LABEL_SERVICE, ServiceNames};

/// What to build.
#[derive(Clone, Debug)]
pub struct BuildPlan {
    pub service: String,
    /// `<registry>/<image>`.
    pub repository: String,
    /// `<registry>/<image>:<version>`.
    pub image: String,
    /// `<registry>/<image>:latest[-<dest>]`.
    pub latest: String,
    pub dockerfile: String,
    /// `builder.context`; `None`: a clean checkout of `HEAD`, built as `.`.
    pub context: Option<String>,
    pub target: Option<String>,
    pub args: BTreeMap<String, String>,
    /// Names of `builder.secrets`; their values reach the build through its environment only.
    pub secrets: Vec<String>,
    /// `builder.arch`, each as `amd64` or `arm64`.
    pub arches: Vec<String>,
    /// `docker-container` (Kamal's default), `docker`, or `cloud <org>/<builder>`.
    pub driver: String,
    /// Where the build runs.
    pub builder: Builder,
    pub cache_from: Option<String>,
    pub cache_to: Option<String>,
    pub ssh: Option<String>,
    pub provenance: Option<String>,
    pub sbom: Option<String>,
    /// The local registry's port, when `registry.server` is `localhost:<port>`.
    pub local_registry_port: Option<u16>,
}

/// Where the build runs, as Kamal picks it from `builder.remote`, `builder.local`,
/// `builder.arch`, `builder.pack` and `builder.driver`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Builder {
    /// This machine's Docker.
    Local,
    /// Only the `ssh://` (or `tcp://`) Docker engine of `builder.remote`.
    Remote { uri: String },
    /// This machine for its own architecture, the remote engine for the others.
    Hybrid {
        uri: String,
        local_arches: Vec<String>,
        remote_arches: Vec<String>,
    },
    /// Cloud Native Buildpacks through the `pack` CLI.
    Pack {
        builder: String,
        buildpacks: Vec<String>,
        arch: String,
    },
    /// Docker Build Cloud (`driver: cloud <org>/<builder>`).
    Cloud,
}

impl Builder {
    /// Kamal's word for it (`kamal build details` prints `Builder: <kind>`).
    pub fn kind(&self) -> &'static str {
        match self {
            Builder::Local => "local",
            Builder::Remote { .. } => "remote",
            Builder::Hybrid { .. } => "hybrid",
            Builder::Pack { .. } => "pack",
            Builder::Cloud => "cloud",
        }
    }
}

/// How one build is exported, from `build push`/`build dev`'s options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// buildx's `--output=type=<output>`: `registry` pushes, `docker` loads into this machine.
    pub output: String,
    /// `--no-cache`: rebuild every layer.
    pub no_cache: bool,
    /// `build dev`: both tags get `-dirty`.
    pub tag_as_dirty: bool,
}

impl BuildOptions {
    /// `build push` and `deploy`: build and push to the registry.
    pub fn push(no_cache: bool) -> BuildOptions {
        BuildOptions {
            output: "registry".into(),
            no_cache,
            tag_as_dirty: false,
        }
    }
}

/// The build or the push failed, or the builder cannot run here.
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
    /// The build of `version` that `config` describes, where the local Docker engine has
    /// architecture `machine_arch` ([`super::engine_arch`]; it decides, with
    /// `builder.remote`, what builds where).
    pub fn from_config(config: &Config, version: &str, machine_arch: &str) -> BuildPlan {
        let settings = &config.builder;
        let driver = settings
            .driver
            .clone()
            .unwrap_or_else(|| "docker-container".into());
        let names = ServiceNames::for_config(config);
        let repository = config.repository();
        let (cache_from, cache_to) = cache_settings(config);
        BuildPlan {
            service: config.service.clone(),
            image: format!("{repository}:{version}"),
            latest: format!("{repository}:{}", names.latest_tag()),
            repository,
            dockerfile: settings
                .dockerfile
                .clone()
                .unwrap_or_else(|| "Dockerfile".into()),
            context: settings.context.clone(),
            target: settings.target.clone(),
            args: settings.args.clone(),
            secrets: settings.secrets.clone(),
            arches: settings.arch.clone(),
            builder: builder_of(config, &driver, machine_arch),
            driver,
            cache_from,
            cache_to,
            ssh: settings.ssh.clone(),
            provenance: settings.provenance.clone(),
            sbom: settings.sbom.clone(),
            local_registry_port: config.registry.local_port(),
        }
    }

    /// `driver: docker`: buildx builds in the engine itself, without a builder of Kamal's.
    pub fn docker_driver(&self) -> bool {
        self.driver == "docker"
    }

    /// The context argument of the build: `builder.context`, else `.` of the clean checkout.
    pub fn context_arg(&self) -> &str {
        self.context.as_deref().unwrap_or(".")
    }

    /// Kamal's builder name for this builder (`kamal-local-docker-container`,
    /// `kamal-remote-ssh---root-10-0-0-1`, ...).
    pub fn builder_name(&self) -> String {
        let registry = if self.local_registry_port.is_some() {
            "-local-registry"
        } else {
            ""
        };
        match &self.builder {
            Builder::Local | Builder::Pack { .. } => {
                format!("kamal-local{registry}-{}", self.driver)
            }
            Builder::Remote { uri } => format!("kamal-remote-{}{registry}", name_safe(uri)),
            Builder::Hybrid { uri, .. } => {
                format!("kamal-hybrid-{}-{}{registry}", self.driver, name_safe(uri))
            }
            Builder::Cloud => self.driver.replace([' ', '/'], "-"),
        }
    }

    /// The docker context that points buildx at the remote engine.
    fn remote_context_name(&self) -> String {
        format!("{}-context", self.builder_name())
    }

    fn driver_options(&self) -> Vec<String> {
        if self.local_registry_port.is_some() {
            vec!["--driver-opt".into(), "network=host".into()]
        } else {
            Vec::new()
        }
    }

    /// `build create`: the `docker` command lines that set the builder up, in order (none for
    /// the `docker` driver and for buildpacks).
    pub fn create_commands(&self) -> Vec<Vec<String>> {
        let docker = |words: &[&str]| words.iter().map(|word| word.to_string()).collect();
        match &self.builder {
            Builder::Local if self.docker_driver() => Vec::new(),
            Builder::Local => {
                let mut create: Vec<String> = docker(&["buildx", "create", "--name"]);
                create.push(self.builder_name());
                create.push(format!("--driver={}", self.driver));
                create.extend(self.driver_options());
                vec![create]
            }
            Builder::Remote { uri } => {
                let mut buildx: Vec<String> = docker(&["buildx", "create", "--name"]);
                buildx.push(self.builder_name());
                buildx.extend(self.driver_options());
                buildx.push(self.remote_context_name());
                vec![self.create_context(uri), buildx]
            }
            Builder::Hybrid {
                uri,
                local_arches,
                remote_arches,
            } => {
                let mut local: Vec<String> = docker(&["buildx", "create"]);
                local.extend(platform_options(local_arches));
                local.extend(["--name".into(), self.builder_name()]);
                local.push(format!("--driver={}", self.driver));
                local.extend(self.driver_options());
                let mut remote: Vec<String> = docker(&["buildx", "create"]);
                remote.extend(platform_options(remote_arches));
                remote.extend(["--append".into(), "--name".into(), self.builder_name()]);
                remote.extend(self.driver_options());
                remote.push(self.remote_context_name());
                vec![local, self.create_context(uri), remote]
            }
            Builder::Pack { .. } => Vec::new(),
            Builder::Cloud => vec![docker(&["buildx", "create", "--driver", &self.driver])],
        }
    }

    fn create_context(&self, uri: &str) -> Vec<String> {
        vec![
            "context".into(),
            "create".into(),
            self.remote_context_name(),
            "--description".into(),
            format!("{} host", self.builder_name()),
            "--docker".into(),
            format!("host={uri}"),
        ]
    }

    /// `build remove`: the `docker` command lines that remove the builder, in order.
    pub fn remove_commands(&self) -> Vec<Vec<String>> {
        let buildx_rm = vec!["buildx".into(), "rm".into(), self.builder_name()];
        match &self.builder {
            Builder::Local if self.docker_driver() => Vec::new(),
            Builder::Local | Builder::Cloud => vec![buildx_rm],
            Builder::Remote { .. } | Builder::Hybrid { .. } => vec![
                vec!["context".into(), "rm".into(), self.remote_context_name()],
                buildx_rm,
            ],
            Builder::Pack { .. } => Vec::new(),
        }
    }

    /// Whether buildx needs a builder of Kamal's before it builds (not with `driver: docker`).
    pub fn needs_buildx_builder(&self) -> bool {
        !self.docker_driver() && !matches!(self.builder, Builder::Pack { .. })
    }

    /// The environment Kamal gives the build: a remote builder must not ask this machine for
    /// registry tokens (`BUILDKIT_NO_CLIENT_TOKEN=1`).
    pub fn build_env(&self) -> Vec<(String, String)> {
        match self.builder {
            Builder::Remote { .. } | Builder::Hybrid { .. } => {
                vec![("BUILDKIT_NO_CLIENT_TOKEN".into(), "1".into())]
            }
            _ => Vec::new(),
        }
    }

    /// The two tags, with `-dirty` for `build dev`.
    pub fn tags(&self, options: &BuildOptions) -> [String; 2] {
        let suffix = if options.tag_as_dirty { "-dirty" } else { "" };
        [
            format!("{}{suffix}", self.image),
            format!("{}{suffix}", self.latest),
        ]
    }

    /// `docker buildx build ...` as Kamal's `Builder::Base#push` writes it, context last.
    pub fn buildx_args(&self, options: &BuildOptions) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "buildx".into(),
            "build".into(),
            format!("--output=type={}", options.output),
        ];
        args.extend(platform_options(&self.arches));
        if !self.docker_driver() {
            args.extend(["--builder".into(), self.builder_name()]);
        }
        for tag in self.tags(options) {
            args.extend(["-t".into(), tag]);
        }
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
        let optional = [
            ("--target", &self.target),
            ("--ssh", &self.ssh),
            ("--provenance", &self.provenance),
            ("--sbom", &self.sbom),
        ];
        for (flag, value) in optional {
            if let Some(value) = value.as_ref().filter(|value| !value.is_empty()) {
                args.extend([flag.to_string(), value.clone()]);
            }
        }
        if options.no_cache {
            args.push("--no-cache".into());
        }
        args.push(self.context_arg().to_string());
        args
    }

    /// `pack build ...` as Kamal's `Builder::Pack` writes it, except that each secret is
    /// `--env NAME` (pack reads the value from its environment) instead of its value.
    pub fn pack_args(&self, options: &BuildOptions) -> Option<Vec<String>> {
        let Builder::Pack {
            builder,
            buildpacks,
            arch,
        } = &self.builder
        else {
            return None;
        };
        let mut args: Vec<String> = vec![
            "build".into(),
            self.repository.clone(),
            "--platform".into(),
            format!("linux/{arch}"),
            "--creation-time".into(),
            "now".into(),
            "--builder".into(),
            builder.clone(),
        ];
        for buildpack in buildpacks
            .iter()
            .map(String::as_str)
            .chain(["paketo-buildpacks/image-labels"])
        {
            args.extend(["--buildpack".into(), buildpack.to_string()]);
        }
        for tag in self.tags(options) {
            args.extend(["-t".into(), tag]);
        }
        if options.no_cache {
            args.push("--clear-cache".into());
        }
        args.extend([
            "--env".into(),
            format!("BP_IMAGE_LABELS={LABEL_SERVICE}={}", self.service),
        ]);
        for (name, value) in &self.args {
            args.extend(["--env".into(), format!("{name}={value}")]);
        }
        for secret in &self.secrets {
            args.extend(["--env".into(), secret.clone()]);
        }
        args.extend(["--path".into(), self.context_arg().to_string()]);
        Some(args)
    }
}

/// `--platform linux/a,linux/b`, or nothing without arches.
fn platform_options(arches: &[String]) -> Vec<String> {
    if arches.is_empty() {
        return Vec::new();
    }
    let platforms: Vec<String> = arches.iter().map(|arch| format!("linux/{arch}")).collect();
    vec!["--platform".into(), platforms.join(",")]
}

/// `builder.remote` as part of a builder name: anything but `[a-z0-9_-]` becomes `-`.
fn name_safe(uri: &str) -> String {
    uri.chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Kamal's choice of builder: a remote one only for the arches this machine does not build
/// (all of them with `local: false`), buildpacks with `pack:`, Build Cloud with a `cloud`
/// driver.
fn builder_of(config: &Config, driver: &str, machine_arch: &str) -> Builder {
    let settings = &config.builder;
    let local_disabled = settings.local == Some(false);
    let local_arches: Vec<String> = if local_disabled {
        Vec::new()
    } else if settings.remote.is_some() {
        settings
            .arch
            .iter()
            .filter(|arch| *arch == machine_arch)
            .cloned()
            .collect()
    } else {
        settings.arch.clone()
    };
    if let Some(uri) = &settings.remote {
        let remote_arches: Vec<String> = settings
            .arch
            .iter()
            .filter(|arch| !local_arches.contains(arch))
            .cloned()
            .collect();
        if !remote_arches.is_empty() {
            let local = !local_disabled && (settings.arch.is_empty() || !local_arches.is_empty());
            return if local {
                Builder::Hybrid {
                    uri: uri.clone(),
                    local_arches,
                    remote_arches,
                }
            } else {
                Builder::Remote { uri: uri.clone() }
            };
        }
    }
    if let Some(pack) = &settings.pack {
        return Builder::Pack {
            builder: pack.builder.clone(),
            buildpacks: pack.buildpacks.clone(),
            arch: local_arches
                .first()
                .cloned()
                .unwrap_or_else(|| machine_arch.to_string()),
        };
    }
    if driver.starts_with("cloud") {
        return Builder::Cloud;
    }
    Builder::Local
}

/// `--cache-from` and `--cache-to` for `builder.cache`, as Kamal writes them: the registry
/// cache image defaults to `<image>-build-cache` on the app's registry; for GitHub Actions only
/// the options that name the cache are read back.
fn cache_settings(config: &Config) -> (Option<String>, Option<String>) {
    let Some(cache) = &config.builder.cache else {
        return (None, None);
    };
    let options = cache.options.as_deref();
    match cache.kind.as_str() {
        "gha" => {
            let read_options = options
                .into_iter()
                .flat_map(|options| options.split(','))
                .filter(|option| {
                    ["url=", "url_v2=", "token=", "scope=", "timeout="]
                        .iter()
                        .any(|prefix| option.starts_with(prefix))
                });
            let from: Vec<&str> = std::iter::once("type=gha").chain(read_options).collect();
            let to: Vec<&str> = std::iter::once("type=gha").chain(options).collect();
            (Some(from.join(",")), Some(to.join(",")))
        }
        "registry" => {
            let image = cache
                .image
                .clone()
                .unwrap_or_else(|| format!("{}-build-cache", config.image));
            let reference = match &config.registry.server {
                Some(server) => format!("{server}/{image}"),
                None => image,
            };
            let from = format!("type=registry,ref={reference}");
            let to: Vec<&str> = [from.as_str()].into_iter().chain(options).collect();
            (Some(from.clone()), Some(to.join(",")))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> BuildPlan {
        BuildPlan {
            service: "app".into(),
            repository: "registry.test/app".into(),
            image: "registry.test/app:abc".into(),
            latest: "registry.test/app:latest".into(),
            dockerfile: "Dockerfile".into(),
            context: None,
            target: None,
            args: [("RUBY_VERSION".to_string(), "3.3".to_string())].into(),
            secrets: vec!["GITHUB_TOKEN".into()],
            arches: vec!["amd64".into()],
            driver: "docker-container".into(),
            builder: Builder::Local,
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
            plan().buildx_args(&BuildOptions::push(false)).join(" "),
            "buildx build --output=type=registry --platform linux/amd64 --builder kamal-local-docker-container \
             -t registry.test/app:abc -t registry.test/app:latest --label service=app \
             --build-arg RUBY_VERSION=3.3 --secret id=GITHUB_TOKEN --file Dockerfile ."
        );
        let mut docker_driver = plan();
        docker_driver.driver = "docker".into();
        assert!(
            !docker_driver
                .buildx_args(&BuildOptions::push(false))
                .contains(&"--builder".to_string())
        );
        assert!(docker_driver.create_commands().is_empty());
    }

    #[test]
    fn dev_builds_tag_as_dirty_and_no_cache_comes_before_the_context() {
        let options = BuildOptions {
            output: "docker".into(),
            no_cache: true,
            tag_as_dirty: true,
        };
        let args = plan().buildx_args(&options).join(" ");
        assert!(
            args.starts_with("buildx build --output=type=docker "),
            "{args}"
        );
        assert!(
            args.contains("-t registry.test/app:abc-dirty -t registry.test/app:latest-dirty"),
            "{args}"
        );
        assert!(args.ends_with("--no-cache ."), "{args}");
    }

    #[test]
    fn a_remote_builder_is_a_docker_context_and_a_buildx_builder_on_it() {
        let mut remote = plan();
        remote.builder = Builder::Remote {
            uri: "ssh://root@10.0.0.1".into(),
        };
        assert_eq!(remote.builder_name(), "kamal-remote-ssh---root-10-0-0-1");
        let lines: Vec<String> = remote
            .create_commands()
            .iter()
            .map(|words| words.join(" "))
            .collect();
        assert_eq!(
            lines,
            [
                "context create kamal-remote-ssh---root-10-0-0-1-context --description \
                 kamal-remote-ssh---root-10-0-0-1 host --docker host=ssh://root@10.0.0.1",
                "buildx create --name kamal-remote-ssh---root-10-0-0-1 \
                 kamal-remote-ssh---root-10-0-0-1-context",
            ]
        );
        assert_eq!(
            remote.build_env(),
            [("BUILDKIT_NO_CLIENT_TOKEN".to_string(), "1".to_string())]
        );
    }

    #[test]
    fn pack_passes_secrets_by_name_only() {
        let mut pack = plan();
        pack.builder = Builder::Pack {
            builder: "heroku/builder:24".into(),
            buildpacks: vec!["heroku/ruby".into()],
            arch: "amd64".into(),
        };
        let args = pack
            .pack_args(&BuildOptions::push(true))
            .expect("a pack build")
            .join(" ");
        assert_eq!(
            args,
            "build registry.test/app --platform linux/amd64 --creation-time now --builder heroku/builder:24 \
             --buildpack heroku/ruby --buildpack paketo-buildpacks/image-labels \
             -t registry.test/app:abc -t registry.test/app:latest --clear-cache \
             --env BP_IMAGE_LABELS=service=app --env RUBY_VERSION=3.3 --env GITHUB_TOKEN --path ."
        );
    }
}
