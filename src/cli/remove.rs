//! `gantry remove`: everything of this service (and destination) off the selected hosts: routes,
//! app and accessory containers, their images, env files, accessory data, `.kamal/apps/<svc>`,
//! and kamal-proxy where no other app uses it (Kamal counts the entries of `.kamal/apps`). Asks
//! first (`-y` skips; without a terminal it refuses unless `-y`). Under the deploy lock, through
//! the plan and the executor.

use std::process::ExitCode;

use clap::Args;
use futures_util::future::join_all;

use super::GlobalArgs;
use super::locked::{Confirm, Day2};
use super::session::{TargetArgs, runtime};
use crate::day2::cleanup::{self, AppsOnHosts};
use crate::day2::shell;

/// `gantry remove` flags.
#[derive(Clone, Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes", alias = "confirmed")]
    pub yes: bool,
}

/// Removes the app.
pub fn run(global: &GlobalArgs, args: &RemoveArgs) -> Result<ExitCode, miette::Report> {
    let day2 = Day2::load(global, &args.target, "remove", None)?;
    runtime()?.block_on(async {
        let connections = day2.connect().await?;
        let code = day2
            .with_lock(&connections, async {
                let observed = day2.observe(&connections).await;
                let apps: AppsOnHosts = join_all(connections.iter().filter_map(|(name, host)| {
                    let host = host.as_ref().ok()?.clone();
                    Some(async move {
                        let listing = host.run_command(&shell::list_apps()).await;
                        let apps: Vec<String> = listing
                            .ok()
                            .filter(|output| output.success())?
                            .stdout
                            .lines()
                            .map(str::to_string)
                            .collect();
                        Some((name.clone(), apps))
                    })
                }))
                .await
                .into_iter()
                .flatten()
                .collect();
                let changes = cleanup::remove(&day2.desired, &observed, &apps, &day2.identity.command);
                day2.execute(
                    changes,
                    &observed,
                    &connections,
                    Confirm::Destructive {
                        yes: args.yes,
                        question: "This removes every container, image, route and data directory of this app and its accessories. Are you sure?",
                    },
                )
                .await
            })
            .await?;
        // The run's journal is written into `.kamal/apps/<svc>` after the plan; an app
        // directory left behind would make Kamal count the app as still deployed.
        if code == ExitCode::SUCCESS {
            for host in connections.values().flatten() {
                let _ = host.remove_path(&day2.names.app_dir()).await;
            }
        }
        Ok(code)
    })
}
