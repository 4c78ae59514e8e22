//! `gantry accessory boot|reboot|remove|details|logs NAME|all`.
//!
//! `boot` creates missing accessories and starts stopped ones; `reboot` replaces the container
//! (the image pulled when the host lacks it) and keeps the data; `remove` deletes the accessory
//! with its data, after asking (`-y` skips; without a terminal it refuses unless `-y`). Those
//! three take the deploy lock and run through the plan and the executor. `details` and `logs`
//! only read.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use miette::miette;

use super::GlobalArgs;
use super::locked::{Confirm, Day2};
use super::logs::{LogFlags, container_logs};
use super::session::{TargetArgs, runtime};
use crate::day2::accessory::{self, Which};

/// `gantry accessory` subcommands.
#[derive(Clone, Debug, Args)]
pub struct AccessoryArgs {
    #[command(subcommand)]
    pub command: AccessoryCommand,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What to do with an accessory (`all` for every one).
#[derive(Clone, Debug, Subcommand)]
pub enum AccessoryCommand {
    /// Boot the accessory where it is missing, start it where it is stopped.
    Boot { name: String },
    /// Replace the accessory's container; its data stays.
    Reboot { name: String },
    /// Remove the accessory with its image, env file and data directories.
    Remove {
        name: String,
        /// Do not ask for confirmation.
        #[arg(short = 'y', long = "yes", alias = "confirmed")]
        yes: bool,
    },
    /// Show the accessory's container on each host.
    Details { name: String },
    /// Show the accessory's logs.
    Logs {
        name: String,
        #[command(flatten)]
        flags: LogFlags,
    },
}

impl AccessoryCommand {
    fn name_and_word(&self) -> (&str, &'static str) {
        match self {
            AccessoryCommand::Boot { name } => (name, "boot"),
            AccessoryCommand::Reboot { name } => (name, "reboot"),
            AccessoryCommand::Remove { name, .. } => (name, "remove"),
            AccessoryCommand::Details { name } => (name, "details"),
            AccessoryCommand::Logs { name, .. } => (name, "logs"),
        }
    }
}

/// Runs an accessory subcommand.
pub fn run(global: &GlobalArgs, args: &AccessoryArgs) -> Result<ExitCode, miette::Report> {
    let (name, word) = args.command.name_and_word();
    let which = Which::parse(name);
    let mut day2 = Day2::load(global, &args.target, "accessory", Some(word))?;
    let config = &day2.prepared.loaded.config;
    if let Which::Named(name) = &which
        && !config
            .accessories
            .iter()
            .any(|accessory| &accessory.name == name)
    {
        let known: Vec<&str> = config.accessories.iter().map(|a| a.name.as_str()).collect();
        return Err(miette!(
            help = format!("accessories in deploy.yml: {}, or `all`", known.join(", ")),
            "no accessory `{name}` in deploy.yml"
        ));
    }
    // Only the hosts that run a selected accessory.
    day2.desired
        .hosts
        .retain(|host| host.accessories.iter().any(|a| which.includes(&a.name)));
    runtime()?.block_on(async {
        let connections = day2.connect().await?;
        match &args.command {
            AccessoryCommand::Details { .. } => {
                let observed = day2.observe(&connections).await;
                say!("{}", accessory::details(&day2.desired, &observed, &which));
                Ok(ExitCode::SUCCESS)
            }
            AccessoryCommand::Logs { flags, .. } => {
                let containers = day2
                    .desired
                    .hosts
                    .iter()
                    .flat_map(|host| {
                        host.accessories
                            .iter()
                            .filter(|a| which.includes(&a.name))
                            .map(|a| (host.name.clone(), a.container.name.clone()))
                    })
                    .collect();
                Ok(container_logs(&connections, containers, &flags.options()).await)
            }
            command => {
                day2.with_lock(&connections, async {
                    let observed = day2.observe(&connections).await;
                    let desired = &day2.desired;
                    let label = &day2.identity.command;
                    let question = format!(
                        "This removes the containers, images and data directories of {name}. Are you sure?"
                    );
                    let (changes, confirm) = match command {
                        AccessoryCommand::Boot { .. } => {
                            (accessory::boot(desired, &observed, &which), Confirm::No)
                        }
                        AccessoryCommand::Reboot { .. } => (
                            accessory::reboot(desired, &observed, &which, label),
                            Confirm::No,
                        ),
                        _ => (
                            accessory::remove(desired, &observed, &which, label),
                            Confirm::Destructive {
                                yes: matches!(command, AccessoryCommand::Remove { yes: true, .. }),
                                question: &question,
                            },
                        ),
                    };
                    day2.execute(changes, &observed, &connections, confirm).await
                })
                .await
            }
        }
    })
}
