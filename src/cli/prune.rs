//! `gantry prune`: what a deploy tidies at its end, on its own (Kamal's `prune all`): stopped
//! containers of each role beyond `retain_containers` (or `--retain`), and this service's images
//! no container uses, except the current version and `latest`. Under the deploy lock, through
//! the plan and the executor; removals are best effort.

use crate::session::Exit;

use clap::Args;
use miette::miette;

use super::GlobalArgs;
use super::locked::Day2;
use super::session::{TargetArgs, runtime};
use crate::day2::{cleanup, current_version};

/// `gantry prune` flags.
/// `--version` and `--parallelism` are accepted, as Kamal accepts its global flags everywhere,
/// but mean nothing here: help does not list them.
#[derive(Clone, Debug, Args)]
#[command(
    mut_arg("version", |arg| arg.hide(true)),
    mut_arg("parallelism", |arg| arg.hide(true))
)]
pub struct PruneArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Stopped containers to keep per role (default: retain_containers from deploy.yml).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub retain: Option<u64>,
}

/// Prunes.
pub fn run(global: &GlobalArgs, args: &PruneArgs) -> Result<Exit, miette::Report> {
    let day2 = Day2::load(global, &args.target, "prune", Some("all"))?;
    let retain = args
        .retain
        .map_or(day2.desired.retain_containers, |retain| retain as usize);
    runtime()?.block_on(async {
        let session = day2.start(false)?;
        let connections = day2.connect_for(&session).await?;
        session
            .with_lock(&connections, async {
                let observed = day2.observe(&connections).await;
                let version = match &day2.requested_version {
                    Some(version) => version.clone(),
                    None => current_version(&observed, &day2.names).ok_or_else(|| {
                        miette!("nothing to prune: this app has no container on the selected hosts")
                    })?,
                };
                let desired = day2.at(&version)?;
                let changes = cleanup::prune(&desired, &observed, retain);
                session
                    .execute_changes(changes, &observed, &connections, None)
                    .await
            })
            .await
    })
}
