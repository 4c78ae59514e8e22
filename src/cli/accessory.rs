//! `gantry accessory boot|reboot|start|stop|restart|remove|details|logs|exec NAME|all`.
//!
//! `boot` creates missing accessories and starts stopped ones; `reboot` replaces the container
//! (the image pulled when the host lacks it) and keeps the data; `stop`, `start` and `restart`
//! (stop, then start, under one lock) work on the existing container, so its data stays as it
//! is; `remove` deletes the accessory with its data, after asking (`-y` skips; without a
//! terminal it refuses unless `-y`). Those take the deploy lock and run through the plan and the
//! executor. `details` and `logs` only read; `exec` runs a command in a new container of the
//! accessory's image (or in the running one with `--reuse`), as `gantry exec` does for the app.

use crate::session::{Exit, Question};

use clap::{Args, Subcommand};
use miette::miette;

use super::GlobalArgs;
use super::locked::Day2;
use super::logs::{LogFlags, connected, container_logs};
use super::output::{Job, prefix, run_interactive, run_labelled, summarize};
use super::session::{TargetArgs, runtime};
use crate::day2::accessory::{self, Which};
use crate::day2::shell;
use crate::desired::{DesiredAccessory, expand_home};
use crate::host::{Host, HostError};
use crate::records::audit;
use futures_util::future::join_all;

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
    /// Start the accessory's existing container and deploy its route again.
    Start { name: String },
    /// Remove the accessory's route, then stop its container; its data stays.
    Stop { name: String },
    /// Stop, then start, under one lock.
    Restart { name: String },
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
    /// Run a command in a new container of the accessory, or in the running one (--reuse).
    Exec(AccessoryExecArgs),
    /// Kamal 1 to 2 upgrade: gantry reads Kamal 2 configuration only, so there is nothing to do.
    Upgrade(super::UpgradeArgs),
}

/// `gantry accessory exec` flags, Kamal's.
#[derive(Clone, Debug, Args)]
pub struct AccessoryExecArgs {
    /// The accessory (its key under `accessories:`).
    pub name: String,
    /// Interactive, with a terminal (a console, a shell), on the accessory's first host.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Run in the running container instead of a new one.
    #[arg(long)]
    pub reuse: bool,
    /// The command, as shell text (quote it when it has options of its own).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl AccessoryCommand {
    fn name_and_word(&self) -> (&str, &'static str) {
        match self {
            AccessoryCommand::Boot { name } => (name, "boot"),
            AccessoryCommand::Reboot { name } => (name, "reboot"),
            AccessoryCommand::Start { name } => (name, "start"),
            AccessoryCommand::Stop { name } => (name, "stop"),
            AccessoryCommand::Restart { name } => (name, "restart"),
            AccessoryCommand::Exec(exec) => (&exec.name, "exec"),
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
    if let AccessoryCommand::Exec(exec) = &args.command {
        return run_exec(&day2, &which, exec);
    }
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
            AccessoryCommand::Start { .. }
            | AccessoryCommand::Stop { .. }
            | AccessoryCommand::Restart { .. } => {
                let session = day2.start(false)?;
                let connections = day2.connect_for(&session).await?;
                session
                    .with_lock(&connections, async {
                        let stops = !matches!(args.command, AccessoryCommand::Start { .. });
                        let starts = !matches!(args.command, AccessoryCommand::Stop { .. });
                        if stops {
                            let observed = day2.observe(&connections).await;
                            let changes = accessory::stop(
                                &day2.desired,
                                &observed,
                                &which,
                                &day2.identity.command,
                            );
                            let stopped = session
                                .execute_changes(changes, &observed, &connections, None)
                                .await?;
                            if stopped != Exit::Success || !starts {
                                return Ok(stopped);
                            }
                        }
                        let observed = day2.observe(&connections).await;
                        let changes = accessory::start(&day2.desired, &observed, &which);
                        session
                            .execute_changes(changes, &observed, &connections, None)
                            .await
                    })
                    .await
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

/// `accessory exec`: the command on every host of the selected accessories (prefixed output),
/// or with `-i` on the first one with the user's terminal. No lock: the accessory stays as it
/// is; each run is recorded in the audit log.
fn run_exec(day2: &Day2, which: &Which, args: &AccessoryExecArgs) -> Result<Exit, miette::Report> {
    let command = args.command.join(" ");
    let targets: Vec<(&str, &DesiredAccessory)> = day2
        .desired
        .hosts
        .iter()
        .flat_map(|host| {
            host.accessories
                .iter()
                .filter(|a| which.includes(&a.name))
                .map(move |accessory| (host.name.as_str(), accessory))
        })
        .collect();
    let rt = runtime()?;
    let result = rt.block_on(async {
        let connections = day2.connect().await?;
        if args.interactive {
            let Some((host_name, accessory)) = targets.first() else {
                return Err(miette!("no selected host runs the accessory"));
            };
            let connection = connected(&connections, host_name).map_err(|e| miette!("{e}"))?;
            let line = exec_line(connection.as_ref(), accessory, &command, args.reuse, true)
                .await
                .map_err(|e| miette!("{e}"))?;
            audit(day2, connection.as_ref(), &accessory.name, &command).await;
            let code = run_interactive(connection.as_ref(), &line)
                .await
                .map_err(|e| miette!("{e}"))?;
            return Ok(Exit::from_command_status(code));
        }
        let accessories_per_host = |host_name: &str| {
            targets
                .iter()
                .filter(|(name, _)| *name == host_name)
                .count()
        };
        // Every host's command line and audit line at once, then every command at once.
        let jobs = join_all(targets.iter().map(|(host_name, accessory)| async {
            let label = prefix(host_name, &accessory.name, accessories_per_host(host_name));
            let job = async {
                let connection = connected(&connections, host_name)?;
                let line =
                    exec_line(connection.as_ref(), accessory, &command, args.reuse, false).await?;
                audit(day2, connection.as_ref(), &accessory.name, &command).await;
                Ok(Job {
                    host: connection,
                    command: line,
                    prefix: label.clone(),
                })
            };
            (label.clone(), job.await)
        }))
        .await;
        Ok(summarize(&run_labelled(jobs).await))
    });
    // Standard input may still be read by a blocking thread: do not wait for it.
    rt.shutdown_background();
    result
}

/// The command line on one host: `docker exec` in the accessory's container (`--reuse`), or
/// `docker run --rm` of a new container of its image, env file, volumes and network.
async fn exec_line(
    host: &dyn Host,
    accessory: &DesiredAccessory,
    command: &str,
    reuse: bool,
    interactive: bool,
) -> Result<String, HostError> {
    let options = shell::ExecOptions {
        interactive,
        ..shell::ExecOptions::default()
    };
    if reuse {
        return Ok(shell::exec_in_container(
            &accessory.container.name,
            command,
            &options,
        ));
    }
    let home = host.home_dir().await?;
    let spec = expand_home(&accessory.container, &home);
    let hex = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let name = format!("{}-exec-{hex}", accessory.container.name);
    Ok(shell::run_one_off(
        &spec,
        &name,
        &accessory.env_file.path,
        command,
        &options,
    ))
}

/// Kamal's audit line for a command run in an accessory, `Executed cmd '<cmd>' on <name>
/// accessory` (best effort: the command runs all the same, as in Kamal).
async fn audit(day2: &Day2, host: &dyn Host, accessory: &str, command: &str) {
    let line = audit::line(
        &audit::now_rfc3339(),
        &day2.identity.performer,
        day2.names.destination(),
        None,
        &format!("Executed cmd '{command}' on {accessory} accessory"),
    );
    let _ = audit::record(host, &day2.names, &day2.prepared.redactor.redact(&line)).await;
}
