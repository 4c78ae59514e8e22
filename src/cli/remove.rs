//! `gantry remove`: everything of this service (and destination) off the selected hosts: routes,
//! app and accessory containers, their images, env files, accessory data, `.kamal/apps/<svc>`,
//! and kamal-proxy where no other app uses it (Kamal counts the entries of `.kamal/apps`). Asks
//! first (`-y` skips; without a terminal it refuses unless `-y`). Under the deploy lock, through
//! the plan and the executor.

use crate::session::{Exit, Question};

use clap::Args;
use futures_util::future::join_all;

use super::GlobalArgs;
use super::locked::Day2;
use super::session::{TargetArgs, runtime};
use crate::day2::cleanup::{self, AppsOnHosts};
use crate::day2::shell;
use crate::pipeline::Connections;

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
pub fn run(global: &GlobalArgs, args: &RemoveArgs) -> Result<Exit, miette::Report> {
    let day2 = Day2::load(global, &args.target, "remove", None)?;
    runtime()?.block_on(async {
        let session = day2.start(args.yes)?;
        let connections = day2.connect_for(&session).await?;
        // The selected hosts; a lock host outside the selection is connected for its lock only.
        let selected: Vec<_> = connections
            .iter()
            .filter(|(name, _)| day2.desired.hosts.iter().any(|host| &host.name == *name))
            .collect();
        let code = session
            .with_lock(&connections, async {
                let observed = day2.observe(&connections).await;
                let apps = apps_on_hosts(&day2, &connections).await;
                let changes = cleanup::remove(&day2.desired, &observed, &apps, &day2.identity.command);
                session
                    .execute_changes(
                        changes,
                        &observed,
                        &connections,
                        Some(Question::Destructive(
                            "This removes every container, image, route and data directory of this app and its accessories. Are you sure?".to_string(),
                        )),
                    )
                    .await
            })
            .await?;
        // The run's journal is written into `.kamal/apps/<svc>` after the plan; an app
        // directory left behind would make Kamal count the app as still deployed.
        if code == Exit::Success {
            for (_, host) in &selected {
                let Ok(host) = host else { continue };
                let _ = host.remove_path(&day2.names.app_dir()).await;
            }
        }
        Ok(code)
    })
}

/// The apps each selected host has (the entries of `.kamal/apps`); a host whose listing failed
/// has no entry.
pub(super) async fn apps_on_hosts(day2: &Day2, connections: &Connections) -> AppsOnHosts {
    let selected = connections
        .iter()
        .filter(|(name, _)| day2.desired.hosts.iter().any(|host| &host.name == *name));
    join_all(selected.filter_map(|(name, host)| {
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
            Some((name.to_string(), apps))
        })
    }))
    .await
    .into_iter()
    .flatten()
    .collect()
}
