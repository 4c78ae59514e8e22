//! The command line of kamal-proxy v0.9.2, as Kamal and gantry call it.
//!
//! Flags follow Go's pflag conventions, which Kamal relies on: `--flag=value` or `--flag value`;
//! booleans as a bare `--flag` or `--flag=false` (never `--flag false`); list flags repeated or
//! comma-separated (`--host=a,b`); durations in Go syntax (`30s`). Every flag of v0.9.2 is
//! accepted; flags added after v0.9.2 are refused, as v0.9.2 refuses them. Defaults and the
//! client-side checks (`deploy`'s pre-run validation) are kamal-proxy's.
//!
//! Output: a [`Command`] for the server, or [`RunConfig`] for `run`. No I/O beyond reading the
//! environment for defaults.

mod deploy;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use self::deploy::DeployArgs;
use crate::control::Command;
use crate::duration;
use crate::server::RunConfig;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `kamal-proxy`: HTTP proxy for zero downtime deployments (the test bed's stand-in).
#[derive(Debug, Parser)]
#[command(
    name = "kamal-proxy",
    about = "HTTP proxy for zero downtime deployments (test bed stand-in)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the server
    Run(RunArgs),
    /// Deploy a target host
    Deploy(Box<DeployArgs>),
    /// Remove the service
    #[command(alias = "rm")]
    Remove { service: String },
    /// List the services currently running
    #[command(alias = "ls")]
    List,
    /// Pause a service
    Pause(PauseArgs),
    /// Stop a service
    Stop(StopArgs),
    /// Resume a service
    Resume { service: String },
    /// Set and manage rollout targets
    #[command(subcommand)]
    Rollout(RolloutCommand),
}

/// `run`: flags, else `KAMAL_PROXY_<NAME>` or `<NAME>` in the environment, else defaults.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Include debugging logs
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    debug: Option<bool>,
    /// Port to serve HTTP traffic on
    #[arg(long)]
    http_port: Option<u16>,
    /// Port to serve HTTPS traffic on (accepted; TLS is not implemented)
    #[arg(long)]
    https_port: Option<u16>,
    /// Publish metrics on the specified port (accepted; metrics are not implemented)
    #[arg(long)]
    metrics_port: Option<u16>,
    /// Enable HTTP/3 (accepted; not implemented)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_parser = go_bool)]
    http3: Option<bool>,
}

impl RunArgs {
    /// The server's settings.
    pub fn resolve(&self) -> RunConfig {
        RunConfig {
            debug: self.debug.unwrap_or_else(|| {
                env_value("DEBUG")
                    .and_then(|v| go_bool(&v).ok())
                    .unwrap_or(false)
            }),
            http_port: self.http_port.unwrap_or_else(|| env_port("HTTP_PORT", 80)),
            https_port: self
                .https_port
                .unwrap_or_else(|| env_port("HTTPS_PORT", 443)),
            metrics_port: self
                .metrics_port
                .unwrap_or_else(|| env_port("METRICS_PORT", 0)),
            http3: self.http3.unwrap_or(false),
        }
    }
}
/// `pause <service>`.
#[derive(Debug, Args)]
pub struct PauseArgs {
    service: String,
    /// How long to allow in-flight requests to complete
    #[arg(long, value_parser = go_duration)]
    drain_timeout: Option<Duration>,
    /// How long to enqueue requests before shedding load
    #[arg(long, value_parser = go_duration)]
    max_pause: Option<Duration>,
}

/// `stop <service>`.
#[derive(Debug, Args)]
pub struct StopArgs {
    service: String,
    /// How long to allow in-flight requests to complete
    #[arg(long, value_parser = go_duration)]
    drain_timeout: Option<Duration>,
    /// Message to display to clients while stopped
    #[arg(long, default_value = "")]
    message: String,
}

/// `rollout deploy|set|stop <service>`.
#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Deploy the rollout target
    Deploy {
        service: String,
        #[arg(long = "target", value_delimiter = ',', required = true)]
        targets: Vec<String>,
        #[arg(long = "read-target", value_delimiter = ',')]
        read_targets: Vec<String>,
        #[arg(long, value_parser = go_duration)]
        deploy_timeout: Option<Duration>,
        #[arg(long, value_parser = go_duration)]
        drain_timeout: Option<Duration>,
    },
    /// Set the rollout split
    Set {
        service: String,
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
        percent: Option<u8>,
        #[arg(long, value_delimiter = ',')]
        list: Vec<String>,
    },
    /// Stop the rollout
    Stop { service: String },
}

impl CliCommand {
    /// The command for the server; `None` for `run`, which is the server.
    pub fn into_command(self) -> Result<Option<Command>, String> {
        Ok(Some(match self {
            CliCommand::Run(_) => return Ok(None),
            CliCommand::Deploy(args) => args.into_command()?,
            CliCommand::Remove { service } => Command::Remove { service },
            CliCommand::List => Command::List,
            CliCommand::Pause(args) => Command::Pause {
                service: args.service,
                drain_timeout: args.drain_timeout.unwrap_or(DEFAULT_TIMEOUT),
                max_pause: args.max_pause.unwrap_or(DEFAULT_TIMEOUT),
            },
            CliCommand::Stop(args) => Command::Stop {
                service: args.service,
                drain_timeout: args.drain_timeout.unwrap_or(DEFAULT_TIMEOUT),
                message: args.message,
            },
            CliCommand::Resume { service } => Command::Resume { service },
            CliCommand::Rollout(RolloutCommand::Deploy {
                service,
                targets,
                read_targets,
                deploy_timeout,
                drain_timeout,
            }) => Command::RolloutDeploy {
                service,
                targets,
                readers: read_targets,
                deploy_timeout: deploy_timeout.unwrap_or(DEFAULT_TIMEOUT),
                drain_timeout: drain_timeout.unwrap_or(DEFAULT_TIMEOUT),
            },
            CliCommand::Rollout(RolloutCommand::Set {
                service,
                percent,
                list,
            }) => Command::RolloutSet {
                service,
                percent: percent.unwrap_or(0),
                allowlist: list,
            },
            CliCommand::Rollout(RolloutCommand::Stop { service }) => {
                Command::RolloutStop { service }
            }
        }))
    }
}

/// pflag's boolean syntax (Go's `strconv.ParseBool`).
fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {text:?}: invalid syntax"
        )),
    }
}

fn go_duration(text: &str) -> Result<Duration, String> {
    duration::parse(text).map_err(|error| error.to_string())
}

/// `KAMAL_PROXY_<NAME>`, else `<NAME>`.
fn env_value(name: &str) -> Option<String> {
    std::env::var(format!("KAMAL_PROXY_{name}"))
        .ok()
        .or_else(|| std::env::var(name).ok())
}

/// A port from the environment; an unparsable value falls back to the default, as in
/// kamal-proxy.
fn env_port(name: &str, default: u16) -> u16 {
    env_value(name)
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Command>, String> {
        let mut argv = vec!["kamal-proxy"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv)
            .map_err(|error| error.to_string())?
            .command
            .into_command()
    }

    #[test]
    fn parses_the_other_commands() {
        assert_eq!(
            parse(&["rm", "app-web"]),
            Ok(Some(Command::Remove {
                service: "app-web".into()
            }))
        );
        assert_eq!(parse(&["ls"]), Ok(Some(Command::List)));
        assert_eq!(
            parse(&[
                "stop",
                "app-web",
                "--drain-timeout=10s",
                "--message=Back soon"
            ]),
            Ok(Some(Command::Stop {
                service: "app-web".into(),
                drain_timeout: Duration::from_secs(10),
                message: "Back soon".into()
            }))
        );
        assert_eq!(
            parse(&["pause", "app-web"]),
            Ok(Some(Command::Pause {
                service: "app-web".into(),
                drain_timeout: DEFAULT_TIMEOUT,
                max_pause: DEFAULT_TIMEOUT
            }))
        );
        assert_eq!(
            parse(&["resume", "app-web"]),
            Ok(Some(Command::Resume {
                service: "app-web".into()
            }))
        );
        assert_eq!(parse(&["run", "--http-port=8080", "--debug"]), Ok(None));
        assert_eq!(
            parse(&["rollout", "set", "app-web", "--percent=10", "--list=a,b"]),
            Ok(Some(Command::RolloutSet {
                service: "app-web".into(),
                percent: 10,
                allowlist: vec!["a".into(), "b".into()]
            }))
        );
        assert!(parse(&["rollout", "set", "app-web", "--percent=101"]).is_err());
    }

    #[test]
    fn run_flags_beat_defaults() {
        let cli = Cli::try_parse_from([
            "kamal-proxy",
            "run",
            "--http-port=8080",
            "--debug",
            "--metrics-port",
            "9090",
        ])
        .unwrap();
        let CliCommand::Run(args) = cli.command else {
            panic!("not run")
        };
        let config = args.resolve();
        assert_eq!(config.http_port, 8080);
        assert!(config.debug);
        assert_eq!(config.metrics_port, 9090);
    }
}
