//! The command line: clap definitions and one handler per command, no business logic.
//!
//! [`Cli`] holds the global flags ([`GlobalArgs`]) and one [`Command`] variant per subcommand;
//! each handler lives in its own file and turns arguments into plain options for the stages.
//! [`run`] dispatches and returns the exit code; `main` only renders errors. Adding a command
//! means one enum variant and one handler file. Only commands that work are listed.

mod apply;
mod config;
mod deploy;
mod details;
mod drift;
mod init;
mod lock;
mod plan;
mod rollback;
mod session;
mod version;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::config::{ConfigDiagnostic, LoadOptions, Loaded, SecretsOptions};

/// gantry: plan and apply Kamal 2 deployments.
#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version,
    about,
    // `-h` is `--hosts`, as in Kamal; help is `--help`.
    disable_help_flag = true
)]
pub struct Cli {
    /// Print help.
    #[arg(long, action = ArgAction::Help, global = true)]
    help: Option<bool>,
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Clone, Debug, Args)]
pub struct GlobalArgs {
    /// Path to the configuration file.
    #[arg(short = 'c', long, global = true, default_value = "config/deploy.yml")]
    pub config_file: PathBuf,
    /// Destination: also read deploy.DESTINATION.yml and .kamal/secrets.DESTINATION.
    #[arg(short = 'd', long, global = true)]
    pub destination: Option<String>,
    /// More output (repeat for more detail).
    #[arg(short = 'v', long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short = 'q', long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Refuse `$(...)` command substitution in secrets files (also GANTRY_SECRET_COMMANDS=0).
    #[arg(long, global = true)]
    pub no_secret_commands: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `apply` would change on every host (nothing changes).
    Plan(plan::PlanArgs),
    /// Converge every host to deploy.yml, or run a saved plan.
    Apply(apply::ApplyCommand),
    /// Build and push the image, then apply that version.
    Deploy(deploy::DeployArgs),
    /// Go back to an earlier version still kept on the hosts (default: the previous one).
    Rollback(rollback::RollbackArgs),
    /// Report hosts that no longer match deploy.yml (for cron: exit 2 on drift).
    Drift(drift::DriftArgs),
    /// Show what runs where: containers, versions, routes, the proxy.
    Details(details::DetailsArgs),
    /// Show, take or release the deploy lock.
    Lock(lock::LockArgs),
    /// Show the resolved configuration (secrets appear by name only).
    Config(config::ConfigArgs),
    /// Create a starter config/deploy.yml and .kamal/secrets.
    Init(init::InitArgs),
    /// Show gantry's version.
    Version,
}

impl GlobalArgs {
    /// What to load, from `-c` and `-d`.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            config_file: self.config_file.clone(),
            destination: self.destination.clone(),
        }
    }

    /// Whether secrets files may run commands: not with `--no-secret-commands`, nor with
    /// `GANTRY_SECRET_COMMANDS=0`.
    pub fn secrets_options(&self) -> SecretsOptions {
        let disabled_by_env =
            std::env::var("GANTRY_SECRET_COMMANDS").is_ok_and(|value| value.trim() == "0");
        SecretsOptions {
            allow_commands: !self.no_secret_commands && !disabled_by_env,
        }
    }

    /// Loads the configuration and shows its warnings on stderr (unless `-q`).
    pub fn load(&self) -> Result<Loaded, miette::Report> {
        let loaded = crate::config::load(&self.load_options())?;
        if !self.quiet {
            show_warnings(&loaded.warnings);
        }
        Ok(loaded)
    }
}

fn show_warnings(warnings: &[ConfigDiagnostic]) {
    for warning in warnings {
        eprintln!("{:?}", miette::Report::new(warning.clone()));
    }
}

/// Parses the process's arguments (exits with clap's message on a usage error).
pub fn parse() -> Cli {
    Cli::parse()
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode, miette::Report> {
    init_logging(&cli.global);
    match &cli.command {
        Command::Plan(args) => plan::run(&cli.global, args),
        Command::Apply(args) => apply::run_command(&cli.global, args),
        Command::Deploy(args) => deploy::run(&cli.global, args),
        Command::Rollback(args) => rollback::run(&cli.global, args),
        Command::Drift(args) => drift::run(&cli.global, args),
        Command::Details(args) => details::run(&cli.global, args),
        Command::Lock(args) => lock::run(&cli.global, args),
        Command::Config(args) => config::run(&cli.global, args),
        Command::Init(args) => init::run(&cli.global, args),
        Command::Version => version::run(),
    }
}

/// Log lines go to stderr: warnings by default, more with `-v`, errors only with `-q`;
/// `GANTRY_LOG` (an env filter) overrides.
fn init_logging(global: &GlobalArgs) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GANTRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // A second initialisation (tests running several commands in one process) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap's own checks (unique names, valid defaults) for every subcommand.
    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_reach_the_load_and_secrets_options() {
        let cli = Cli::try_parse_from([
            "gantry",
            "config",
            "-c",
            "other/deploy.yml",
            "-d",
            "staging",
            "--no-secret-commands",
        ])
        .expect("parses");
        let options = cli.global.load_options();
        assert_eq!(options.config_file, PathBuf::from("other/deploy.yml"));
        assert_eq!(options.destination.as_deref(), Some("staging"));
        assert!(!cli.global.secrets_options().allow_commands);
        let cli = Cli::try_parse_from(["gantry", "-vv", "version"]).expect("parses");
        assert_eq!(cli.global.verbose, 2);
        assert_eq!(
            cli.global.load_options().config_file,
            PathBuf::from("config/deploy.yml")
        );
        assert!(Cli::try_parse_from(["gantry", "-q", "-v", "version"]).is_err());
    }
}
