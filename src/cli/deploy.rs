//! `gantry deploy`: build the image, push it, then apply that version (Kamal's muscle memory).
//!
//! The build uses Kamal's context (a clean checkout of `HEAD` unless `builder.context` is set),
//! Kamal's `docker buildx build` when buildx is installed, the local Engine API otherwise. After
//! the push, with the project loaded once, this is exactly `gantry apply -y --version <version>`: same plan, executor, lock,
//! rollback and output. `--skip-push` deploys an image already in the registry. As in Kamal,
//! `pre-connect` and then `pre-build` run before the build (`--no-cache` rebuilds every layer;
//! the build's output streams while it runs, as JSON events with `--json`) (a failure stops before anything is
//! built), and the deploy's own hooks follow in `apply`.

use crate::session::Exit;

use clap::Args;

use super::GlobalArgs;
use super::apply::{self, ApplyArgs};
use super::canary::CanaryArgs;
use super::hooking::Hooks;
use super::session::{Prepared, VersionNeed, runtime};
use crate::build::BuildOptions;

/// `gantry deploy` flags.
#[derive(Clone, Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Deploy an image already pushed to the registry; build nothing.
    #[arg(short = 'P', long)]
    pub skip_push: bool,
    /// Build without using Docker's build cache.
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub canary: CanaryArgs,
}

/// Builds, pushes, applies.
pub fn run(global: &GlobalArgs, args: &DeployArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Required)?;
    // Before the build: a canary flag that cannot be followed stops the deploy early.
    let canary = args.canary.rollout(&prepared.loaded.config)?;
    if !args.skip_push {
        let hooks = Hooks::new(global, &prepared, selected_hosts(&prepared), "deploy", None);
        runtime()?.block_on(async {
            hooks.pre_connect().await?;
            hooks.run("pre-build", false, None).await
        })?;
        let log = super::build::log_for(global, args.apply.json);
        super::build::build_and_push(&prepared, &BuildOptions::push(args.no_cache), log.as_ref())?;
    }
    let mut apply_args = args.apply.clone();
    apply_args.yes = true;
    apply_args.canary = canary;
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
