//! `gantry exec CMD` (also `gantry app exec`): a command in a new one-off container of each
//! selected role on every selected host (Kamal's `<prefix>-exec-<version>-<6 hex>`, removed when
//! it exits), or with `--reuse` in the container that runs. `-i` runs it interactively on one
//! host (the first selected: the primary role's first host unless `--hosts` says otherwise),
//! with a pseudo-terminal over SSH (`docker run -it` / `docker exec -it`), the local terminal in
//! raw mode, and the command's exit code passed through.
//!
//! The one-off container is the role's: same image version as the running container, its clear
//! env, its env file (secrets stay on the host), its volumes, the `kamal` network. Each run is
//! recorded in Kamal's audit log. No lock: nothing of the deployment changes.

use crate::session::Exit;

use clap::Args;

use super::GlobalArgs;
use super::locked::Day2;
use super::logs::connected;
use super::output::{Job, prefix, run_interactive, run_labelled, summarize};
use super::session::{TargetArgs, runtime};
use crate::day2::{current_container, shell};
use crate::desired::{DesiredApp, expand_home};
use crate::host::{ContainerFilter, Host, HostError};
use futures_util::future::join_all;

/// `gantry exec` flags.
#[derive(Clone, Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Interactive, with a terminal (a console, a shell), on one host.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Run in the running container instead of a new one.
    #[arg(long)]
    pub reuse: bool,
    /// Leave the new container running in the background (not with -i or --reuse).
    #[arg(long, conflicts_with_all = ["interactive", "reuse"])]
    pub detach: bool,
    /// Set an environment variable for the command (`KEY:VALUE`, as Kamal's; repeatable).
    #[arg(short = 'e', long = "env", value_name = "KEY:VALUE", value_parser = env_pair, action = clap::ArgAction::Append)]
    pub env: Vec<(String, Option<String>)>,
    /// The command, as shell text (quote it when it has options of its own).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `KEY:VALUE` (Kamal's hash option syntax), `KEY=VALUE`, or `KEY` alone (no value, as
/// Kamal's hash option reads it).
fn env_pair(text: &str) -> Result<(String, Option<String>), String> {
    let (key, value) = match text.split_once(':').or_else(|| text.split_once('=')) {
        Some((key, value)) => (key, Some(value.to_string())),
        None => (text, None),
    };
    if key.is_empty() {
        return Err(format!("expected KEY:VALUE, got {text:?}"));
    }
    Ok((key.to_string(), value))
}

/// Runs the command.
pub fn run(global: &GlobalArgs, args: &ExecArgs) -> Result<Exit, miette::Report> {
    let day2 = Day2::load(global, &args.target, "app", Some("exec"))?;
    let command = args.command.join(" ");
    let rt = runtime()?;
    let result = rt.block_on(async {
        let connections = day2.connect().await?;
        let mut targets = Vec::new();
        for host in &day2.desired.hosts {
            for app in &host.apps {
                targets.push((host, app));
            }
        }
        if args.interactive {
            let Some((host, app)) = targets.first() else {
                return Err(miette::miette!("no host runs the selected roles"));
            };
            let connection =
                connected(&connections, &host.name).map_err(|e| miette::miette!("{e}"))?;
            let line = command_line(&day2, connection.as_ref(), app, &command, args, true)
                .await
                .map_err(|e| miette::miette!("{e}"))?;
            audit(&day2, connection.as_ref(), &command).await;
            let code = run_interactive(connection.as_ref(), &line)
                .await
                .map_err(|e| miette::miette!("{e}"))?;
            return Ok(Exit::from_command_status(code));
        }
        // Every host's command line and audit line at once, then every command at once.
        let targets = join_all(targets.into_iter().map(|(host, app)| async {
            let label = prefix(&host.name, &app.role, host.apps.len());
            let job = async {
                let connection = connected(&connections, &host.name)?;
                let line =
                    command_line(&day2, connection.as_ref(), app, &command, args, false).await?;
                audit(&day2, connection.as_ref(), &command).await;
                Ok(Job {
                    host: connection,
                    command: line,
                    prefix: label.clone(),
                })
            };
            (label.clone(), job.await)
        }))
        .await;
        Ok(summarize(&run_labelled(targets).await))
    });
    // Standard input may still be read by a blocking thread: do not wait for it.
    rt.shutdown_background();
    result
}

/// The command line on one host: `docker exec` in the running container (`--reuse`), or
/// `docker run --rm` of a one-off container of the running version.
async fn command_line(
    day2: &Day2,
    host: &dyn Host,
    app: &DesiredApp,
    command: &str,
    args: &ExecArgs,
    interactive: bool,
) -> Result<String, HostError> {
    let filter = ContainerFilter::labels(day2.names.app_filters(Some(&app.role)));
    let containers = host.list_containers(&filter).await?;
    let current = current_container(&containers);
    if args.reuse {
        let Some(current) = current else {
            return Err(HostError::Command {
                host: host.name().to_string(),
                message: format!(
                    "no running container of role {} to reuse; run without --reuse, or deploy first",
                    app.role
                ),
            });
        };
        return Ok(shell::exec_in_container(
            &current.name,
            command,
            &exec_options(args, interactive),
        ));
    }
    let home = host.home_dir().await?;
    let mut spec = expand_home(&app.container, &home);
    let version = match current {
        Some(current) => {
            spec.image = current.image.clone();
            day2.names
                .version_of(&app.role, &current.name)
                .unwrap_or(&day2.prepared.version)
                .to_string()
        }
        None if day2.prepared.version == crate::cli::session::UNKNOWN_VERSION => {
            return Err(HostError::Command {
                host: host.name().to_string(),
                message: format!(
                    "no running container of role {} and no version to start one of; deploy first, or pass --version",
                    app.role
                ),
            });
        }
        None => day2.prepared.version.clone(),
    };
    let hex = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
    let name = shell::exec_container_name(&day2.names.container_prefix(&app.role), &version, &hex);
    Ok(shell::run_one_off(
        &spec,
        &name,
        &app.env_file.path,
        command,
        &exec_options(args, interactive),
    ))
}

fn exec_options(args: &ExecArgs, interactive: bool) -> shell::ExecOptions {
    shell::ExecOptions {
        interactive,
        detach: args.detach,
        env: args.env.clone(),
    }
}

/// Kamal's audit line for a command run on a host (best effort).
async fn audit(day2: &Day2, host: &dyn Host, command: &str) {
    crate::records::audit::record_command(
        host,
        &day2.names,
        &day2.identity.performer,
        &day2.prepared.redactor,
        command,
    )
    .await;
}
