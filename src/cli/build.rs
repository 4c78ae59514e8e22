//! `gantry build push|pull|deliver|create|remove|details|dev`: Kamal's `kamal build` commands.
//!
//! `push` builds with the project's builder and pushes (Kamal's `pre-connect` and `pre-build`
//! hooks first); `pull` pulls the image on the app hosts over gantry's connections and checks
//! its `service` label, each pull in the host's audit log; `deliver` is `push` then `pull`;
//! `create`, `remove` and `details` manage Kamal's buildx builder; `dev` builds the working
//! directory into this machine's images, tagged `-dirty`. `deploy` builds through
//! [`build_and_push`] too. Build output streams to stderr while it runs, each line prefixed
//! (JSON events on stdout for `deploy --json`).

use std::collections::BTreeMap;
use std::path::Path;

use clap::{Args, Subcommand};
use miette::{IntoDiagnostic, miette};

use super::GlobalArgs;
use super::hooking::Hooks;
use super::session::{PlanFlags, VersionNeed, connect, runtime};
use crate::build::{self, BuildLog, BuildOptions, BuildPlan, Builder};
use crate::secret::Secret;
use crate::session::{Exit, Prepared};

/// `gantry build` subcommands.
#[derive(Clone, Debug, Args)]
pub struct BuildArgs {
    #[command(subcommand)]
    pub command: BuildCommand,
}

/// What to build, push or pull.
#[derive(Clone, Debug, Subcommand)]
pub enum BuildCommand {
    /// Build app and push app image to registry then pull image on servers.
    Deliver,
    /// Build and push app image to registry.
    Push(ExportArgs<Registry>),
    /// Pull app image from registry onto servers.
    Pull,
    /// Create a build setup (Kamal's buildx builder).
    Create,
    /// Remove build setup.
    Remove,
    /// Show build setup.
    Details,
    /// Build using the working directory, tag it as dirty, and push to local image store.
    Dev(ExportArgs<LocalStore>),
}

/// `--output` and `--no-cache`, with `D`'s default output.
#[derive(Clone, Debug, Args)]
pub struct ExportArgs<D: DefaultOutput> {
    /// Exported type for the build result, and may be any exported type supported by 'buildx
    /// --output'.
    #[arg(long, value_name = "export_type", default_value = D::OUTPUT)]
    pub output: String,
    /// Build without using Docker's build cache.
    #[arg(long)]
    pub no_cache: bool,
    #[arg(skip)]
    _default: std::marker::PhantomData<D>,
}

/// Where a build goes unless `--output` says otherwise.
pub trait DefaultOutput: Clone + std::fmt::Debug + Send + Sync + 'static {
    const OUTPUT: &'static str;
}

/// `build push`: the registry.
#[derive(Clone, Debug)]
pub struct Registry;
impl DefaultOutput for Registry {
    const OUTPUT: &'static str = "registry";
}

/// `build dev`: this machine's images.
#[derive(Clone, Debug)]
pub struct LocalStore;
impl DefaultOutput for LocalStore {
    const OUTPUT: &'static str = "docker";
}

/// Runs a build subcommand.
pub fn run(global: &GlobalArgs, args: &BuildArgs) -> Result<Exit, miette::Report> {
    match &args.command {
        BuildCommand::Push(export) => {
            let prepared = super::session::load(global, VersionNeed::Required)?;
            push(
                global,
                &prepared,
                "push",
                &BuildOptions::push(export.no_cache),
                export,
            )?;
            Ok(Exit::Success)
        }
        BuildCommand::Deliver => {
            let prepared = super::session::load(global, VersionNeed::Required)?;
            push(
                global,
                &prepared,
                "deliver",
                &BuildOptions::push(false),
                &ExportArgs::<Registry>::default(),
            )?;
            pull(global, &prepared)
        }
        BuildCommand::Pull => {
            let prepared = super::session::load(global, VersionNeed::Required)?;
            pull(global, &prepared)
        }
        BuildCommand::Dev(export) => dev(global, export),
        BuildCommand::Create => setup(global, Setup::Create),
        BuildCommand::Remove => setup(global, Setup::Remove),
        BuildCommand::Details => details(global),
    }
}

impl<D: DefaultOutput> Default for ExportArgs<D> {
    fn default() -> Self {
        ExportArgs {
            output: D::OUTPUT.to_string(),
            no_cache: false,
            _default: std::marker::PhantomData,
        }
    }
}

/// `build push` (and `deliver`'s push): `pre-connect`, `pre-build`, then the build.
fn push<D: DefaultOutput>(
    global: &GlobalArgs,
    prepared: &Prepared,
    subcommand: &str,
    options: &BuildOptions,
    export: &ExportArgs<D>,
) -> Result<(), miette::Report> {
    let hooks = Hooks::new(global, prepared, Vec::new(), "build", Some(subcommand));
    runtime()?.block_on(async {
        hooks.pre_connect().await?;
        hooks.run("pre-build", false, None).await
    })?;
    let options = BuildOptions {
        output: export.output.clone(),
        ..options.clone()
    };
    build_and_push(prepared, &options, log_for(global, false).as_ref())
}

/// Where build output goes: stderr, prefixed (nothing with `-q`), or JSON events on stdout.
pub(super) fn log_for(global: &GlobalArgs, json: bool) -> Box<dyn BuildLog> {
    if json {
        Box::new(JsonLog)
    } else if global.quiet {
        Box::new(build::Silent)
    } else {
        Box::new(TerminalLog)
    }
}

/// Build output on stderr, each line prefixed so it reads apart from gantry's own lines.
struct TerminalLog;

impl BuildLog for TerminalLog {
    fn line(&self, line: &str) {
        tellln!("  build | {line}");
    }
}

/// Build output as `{"event": "build_output", "line": ...}` lines on stdout.
struct JsonLog;

impl BuildLog for JsonLog {
    fn line(&self, line: &str) {
        let event = serde_json::json!({
            "event": "build_output",
            "line": line,
            "at": crate::records::audit::now_rfc3339(),
        });
        sayln!("{event}");
    }
}

/// Builds the version `prepared` names with the project's builder, from Kamal's context (a
/// clean checkout of `HEAD` unless `builder.context` is set), and exports it as `options` say.
pub(super) fn build_and_push(
    prepared: &Prepared,
    options: &BuildOptions,
    log: &dyn BuildLog,
) -> Result<(), miette::Report> {
    let project_dir = std::env::current_dir().into_diagnostic()?;
    let plan = BuildPlan::from_config(&prepared.loaded.config, &prepared.version, &engine_arch()?);
    let clean_checkout = plan.context.is_none() && !options.tag_as_dirty;
    runtime()?.block_on(async {
        let checkout;
        let directory = if clean_checkout {
            checkout = build::clean_checkout(&project_dir).await.map_err(|error| {
                miette!(
                    help = "`builder.context: .` builds the working directory instead",
                    "{error}"
                )
            })?;
            checkout.path().to_path_buf()
        } else {
            project_dir.clone()
        };
        run_build(prepared, &plan, options, &directory, log).await
    })
}

async fn run_build(
    prepared: &Prepared,
    plan: &BuildPlan,
    options: &BuildOptions,
    directory: &Path,
    log: &dyn BuildLog,
) -> Result<(), miette::Report> {
    let config = &prepared.loaded.config;
    let auth = crate::desired::registry_auth(&config.registry, &prepared.secrets)
        .map_err(|error| miette!("{error}"))?;
    let secrets: BTreeMap<String, Secret> = config
        .builder
        .secrets
        .iter()
        .filter_map(|name| {
            prepared
                .secrets
                .get(name)
                .map(|value| (name.clone(), value.clone()))
        })
        .collect();
    let [image, latest] = plan.tags(options);
    tellln!("Building {image} ({} builder) ...", plan.builder.kind());
    let started = std::time::Instant::now();
    let ssh = prepared.ssh_settings();
    build::Build {
        plan,
        options,
        directory,
        auth: auth.as_ref(),
        secrets: &secrets,
        redactor: &prepared.redactor,
        log,
        ssh: &ssh,
    }
    .run()
    .await
    .map_err(|error| miette!(help = help_for(plan, &error), "{error}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if options.output == "registry" {
        tellln!("Pushed {image} and {latest} in {seconds:.1}s");
    } else {
        tellln!(
            "Built {image} and {latest} ({}) in {seconds:.1}s",
            options.output
        );
    }
    Ok(())
}

fn help_for(plan: &BuildPlan, error: &build::ImageError) -> String {
    if let build::ImageError::MissingDockerfile(_) = error {
        return match &plan.context {
            // Kamal checks builder.dockerfile from the directory it runs in, not the context.
            Some(context) => format!(
                "builder.dockerfile is read from the project directory, as Kamal reads it, \
                 also with builder.context set: set it to the file's path from there, e.g. \
                 `dockerfile: {}/Dockerfile`",
                context.trim_end_matches('/')
            ),
            None => {
                "add a Dockerfile to the repository, or set builder.dockerfile to its path".into()
            }
        };
    }
    match plan.builder {
        Builder::Pack { .. } => "`gantry build details` shows the buildpacks builder".into(),
        _ => format!(
            "`gantry build details` shows the builder; `gantry build remove` then `gantry build \
             create` sets up {} again",
            plan.builder_name()
        ),
    }
}

/// `build pull`: the image on every selected app host at once, each pull audited.
fn pull(global: &GlobalArgs, prepared: &Prepared) -> Result<Exit, miette::Report> {
    let config = &prepared.loaded.config;
    let desired = prepared
        .desired_at(&prepared.version, PlanFlags::default().choices())
        .map_err(|error| miette!("{error}"))?;
    let hosts: Vec<String> = desired
        .hosts
        .iter()
        .filter(|host| !host.apps.is_empty())
        .map(|host| host.name.clone())
        .collect();
    let image = format!("{}:{}", config.repository(), prepared.version);
    let auth = crate::desired::registry_auth(&config.registry, &prepared.secrets)
        .map_err(|error| miette!("{error}"))?;
    let names = crate::naming::ServiceNames::for_config(config);
    let performer = crate::session::identity::performer();
    let hooks = Hooks::new(global, prepared, hosts.clone(), "build", Some("pull"));
    let rt = runtime()?;
    let failures = rt.block_on(async {
        hooks.pre_connect().await?;
        let connections = connect(prepared, &desired).await?;
        let pulls = hosts.iter().map(|name| {
            let connection = super::logs::connected(&connections, name);
            let (image, auth, names, performer) = (&image, auth.as_ref(), &names, &performer);
            async move {
                let host = connection.map_err(|error| error.to_string())?;
                let line = crate::records::audit::line(
                    &crate::records::audit::now_rfc3339(),
                    performer,
                    names.destination(),
                    None,
                    &format!("Pulled image with version {}", prepared.version),
                );
                let _ = crate::records::audit::record(host.as_ref(), names, &line).await;
                build::pull_on_host(host.as_ref(), image, auth, &config.service)
                    .await
                    .map_err(|error| error.to_string())
            }
        });
        let results = futures_util::future::join_all(pulls).await;
        let mut failures = 0;
        for (host, result) in hosts.iter().zip(results) {
            match result {
                Ok(()) => tellln!("Pulled {image} on {host}"),
                Err(error) => {
                    failures += 1;
                    tellln!("{}", prepared.redactor.redact(&error));
                }
            }
        }
        Ok::<_, miette::Report>(failures)
    });
    rt.shutdown_background();
    match failures? {
        0 => Ok(Exit::Success),
        _ => Ok(Exit::Failed),
    }
}

/// `build dev`: the working directory, tagged `-dirty`, into this machine's images.
fn dev(global: &GlobalArgs, export: &ExportArgs<LocalStore>) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Required)?;
    let options = BuildOptions {
        output: export.output.clone(),
        no_cache: export.no_cache,
        tag_as_dirty: true,
    };
    build_and_push(&prepared, &options, log_for(global, false).as_ref())?;
    Ok(Exit::Success)
}

enum Setup {
    Create,
    Remove,
}

/// `build create` and `build remove`: Kamal's buildx builder (and a remote builder's docker
/// context). Without buildx there is nothing to set up: the Engine API needs no builder.
fn setup(global: &GlobalArgs, setup: Setup) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Optional)?;
    let plan = BuildPlan::from_config(&prepared.loaded.config, &prepared.version, &engine_arch()?);
    let log = log_for(global, false);
    runtime()?.block_on(async {
        if !matches!(plan.builder, Builder::Pack { .. }) && !build::has_buildx().await {
            tellln!(
                "docker buildx is not installed: gantry builds through the Docker Engine API{}, \
                 which needs no builder",
                match &plan.builder {
                    Builder::Remote { uri } => format!(" of {uri}"),
                    _ => String::new(),
                }
            );
            return Ok(Exit::Success);
        }
        let commands = match setup {
            Setup::Create => plan.create_commands(),
            Setup::Remove => plan.remove_commands(),
        };
        tellln!("Using builder: {}", plan.builder_name());
        for words in commands {
            build::run_docker(&words, &prepared.redactor, log.as_ref())
                .await
                .map_err(|error| miette!("{error}"))?;
        }
        Ok(Exit::Success)
    })
}

/// `build details`: the builder's kind, then `docker context ls` and `docker buildx ls` (for
/// buildpacks, `pack builder inspect`).
fn details(global: &GlobalArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Optional)?;
    let plan = BuildPlan::from_config(&prepared.loaded.config, &prepared.version, &engine_arch()?);
    sayln!("Builder: {}", plan.builder.kind());
    let commands: Vec<(&str, Vec<&str>)> = match &plan.builder {
        Builder::Pack { builder, .. } => vec![("pack", vec!["builder", "inspect", builder])],
        _ => vec![
            ("docker", vec!["context", "ls"]),
            ("docker", vec!["buildx", "ls"]),
        ],
    };
    for (program, args) in commands {
        match std::process::Command::new(program).args(&args).output() {
            Ok(output) if output.status.success() => {
                say!(
                    "{}",
                    prepared
                        .redactor
                        .redact(&String::from_utf8_lossy(&output.stdout))
                );
            }
            _ if program == "docker" && args[0] == "buildx" => sayln!(
                "docker buildx is not installed: builds go through the Docker Engine API{}",
                match &plan.builder {
                    Builder::Remote { uri } => format!(" of {uri}, over SSH"),
                    _ => " of this machine".to_string(),
                }
            ),
            _ if program == "pack" => {
                sayln!("the `pack` CLI is not installed: builder.pack needs it (buildpacks.io)")
            }
            Ok(output) => {
                return Err(miette!(
                    "{program} {} failed: {}",
                    args.join(" "),
                    prepared
                        .redactor
                        .redact(String::from_utf8_lossy(&output.stderr).trim())
                ));
            }
            Err(error) => return Err(miette!("{program} {}: {error}", args.join(" "))),
        }
    }
    Ok(Exit::Success)
}

/// The local engine's architecture, as Kamal asks it.
fn engine_arch() -> Result<String, miette::Report> {
    Ok(runtime()?.block_on(build::engine_arch()))
}
