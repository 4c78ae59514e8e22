//! `gantry deploy`: build the image, push it, then apply that version (Kamal's muscle memory).
//!
//! The build uses Kamal's context (a clean checkout of `HEAD` unless `builder.context` is set),
//! Kamal's `docker buildx build` when buildx is installed, the local Engine API otherwise. After
//! the push, with the project loaded once, this is exactly `gantry apply -y --version <version>`: same plan, executor, lock,
//! rollback and output. `--skip-push` deploys an image already in the registry. As in Kamal,
//! `pre-connect` and then `pre-build` run before the build (a failure stops before anything is
//! built), and the deploy's own hooks follow in `apply`.

use crate::session::Exit;

use clap::Args;
use miette::{IntoDiagnostic, miette};

use super::GlobalArgs;
use super::apply::{self, ApplyArgs};
use super::hooking::Hooks;
use super::session::{Prepared, VersionNeed, runtime};
use crate::build::{self, BuildPlan};
use crate::report::build_output::BuildOutput;

/// `gantry deploy` flags.
#[derive(Clone, Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Deploy an image already pushed to the registry; build nothing.
    #[arg(short = 'P', long)]
    pub skip_push: bool,
}

/// Builds, pushes, applies.
pub fn run(global: &GlobalArgs, args: &DeployArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Required)?;
    if !args.skip_push {
        let hooks = Hooks::new(global, &prepared, selected_hosts(&prepared), "deploy", None);
        runtime()?.block_on(async {
            hooks.pre_connect().await?;
            hooks.run("pre-build", false, None).await
        })?;
        build_and_push(&prepared, global.quiet)?;
    }
    let mut apply_args = args.apply.clone();
    apply_args.yes = true;
    runtime()?.block_on(apply::apply(
        global,
        &prepared,
        &apply_args,
        None,
        "deploy",
        None,
    ))
}

/// The hosts `--hosts` and `--roles` select, for the hooks' `KAMAL_HOSTS`.
fn selected_hosts(prepared: &Prepared) -> Vec<String> {
    let config = &prepared.loaded.config;
    let selection = &prepared.selection;
    let in_roles: Vec<&str> = config
        .roles
        .iter()
        .filter(|role| selection.includes_role(&role.name))
        .flat_map(|role| role.hosts.iter().map(|host| host.host.as_str()))
        .collect();
    config
        .all_hosts()
        .into_iter()
        .filter(|host| selection.includes_host(host))
        .filter(|host| selection.roles.is_empty() || in_roles.contains(&host.as_str()))
        .collect()
}

/// Builds and pushes the version's image; the build's output shows as it comes (one live
/// line on a terminal, every line otherwise), nothing of it with `-q`.
fn build_and_push(prepared: &Prepared, quiet: bool) -> Result<(), miette::Report> {
    let live = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let config = &prepared.loaded.config;
    let plan =
        BuildPlan::from_config(config, &prepared.version).map_err(|error| miette!("{error}"))?;
    let auth = crate::desired::registry_auth(&config.registry, &prepared.secrets)
        .map_err(|error| miette!("{error}"))?;
    let project_dir = std::env::current_dir().into_diagnostic()?;
    let build_secrets = config
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
    tellln!("Building {} ...", plan.image);
    let started = std::time::Instant::now();
    runtime()?.block_on(async {
        let checkout;
        let context = match &plan.context {
            Some(context) => project_dir.join(context),
            None => {
                checkout = build::clean_checkout(&project_dir).await.map_err(|error| {
                    miette!(
                        help = "`builder.context: .` builds the working directory instead",
                        "{error}"
                    )
                })?;
                checkout.path().to_path_buf()
            }
        };
        let output = (!quiet).then(|| BuildOutput::start(live));
        let show = |line: &str| {
            if let Some(output) = &output {
                output.line(line);
            }
        };
        build::build_and_push(
            &plan,
            &context,
            auth.as_ref(),
            &build_secrets,
            &prepared.redactor,
            &show,
        )
        .await
        .map_err(|error| miette!("{error}"))
    })?;
    tellln!(
        "Pushed {} and {} in {:.1}s",
        plan.image,
        plan.latest,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
