//! `gantry accessory boot|reboot|remove|details|logs NAME|all`.
//!
//! `boot` creates missing accessories and starts stopped ones; `reboot` replaces the container
//! (the image pulled when the host lacks it) and keeps the data; `remove` deletes the accessory
//! with its data, after asking (`-y` skips; without a terminal it refuses unless `-y`). Those
//! three take the deploy lock and run through the plan and the executor. `details` and `logs`
//! only read.

use crate::session::{Exit, Question};

use clap::{Args, Subcommand};
use miette::miette;

use super::GlobalArgs;
use super::locked::Day2;
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
    /// Kamal 1 to 2 upgrade: gantry reads Kamal 2 configuration only, so there is nothing to do.
    Upgrade(super::UpgradeArgs),
}

impl AccessoryCommand {
    fn name_and_word(&self) -> (&str, &'static str) {
        match self {
            AccessoryCommand::Boot { name } => (name, "boot"),
            AccessoryCommand::Reboot { name } => (name, "reboot"),
            AccessoryCommand::Remove { name, .. } => (name, "remove"),
            AccessoryCommand::Details { name } => (name, "details"),
            AccessoryCommand::Logs { name, .. } => (name, "logs"),
            AccessoryCommand::Upgrade(_) => ("all", "upgrade"),
        }
    }
}

/// Runs an accessory subcommand.
pub fn run(global: &GlobalArgs, args: &AccessoryArgs) -> Result<Exit, miette::Report> {
    if let AccessoryCommand::Upgrade(_) = args.command {
        return Err(super::kamal_1_upgrade_refused());
    }
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
        match &args.command {
            AccessoryCommand::Details { .. } => {
                let connections = day2.connect().await?;
                let observed = day2.observe(&connections).await;
                say!("{}", accessory::details(&day2.desired, &observed, &which));
                Ok(Exit::Success)
            }
            AccessoryCommand::Logs { flags, .. } => {
                let connections = day2.connect().await?;
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
                let yes = matches!(command, AccessoryCommand::Remove { yes: true, .. });
                let session = day2.start(yes)?;
                let connections = day2.connect_for(&session).await?;
                session.with_lock(&connections, async {
                    let observed = day2.observe(&connections).await;
                    let desired = &day2.desired;
                    let label = &day2.identity.command;
                    let question = format!(
                        "This removes the containers, images and data directories of {name}. Are you sure?"
                    );
                    let (changes, question) = match command {
                        AccessoryCommand::Boot { .. } => {
                            (accessory::boot(desired, &observed, &which), None)
                        }
                        AccessoryCommand::Reboot { .. } => {
                            (accessory::reboot(desired, &observed, &which, label), None)
                        }
                        _ => (
                            accessory::remove(desired, &observed, &which, label),
                            Some(Question::Destructive(question)),
                        ),
                    };
                    session
                        .execute_changes(changes, &observed, &connections, question)
                        .await
                })
                .await
            }
        }
    })
}
