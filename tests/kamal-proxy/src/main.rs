//! A kamal-proxy v0.9.2 stand-in for gantry's test bed: a real reverse proxy with kamal-proxy's
//! command line, routing, health-check gate, drain and state file, so that the real Kamal 2.11
//! (and gantry) can deploy through it on hosts that cannot pull `basecamp/kamal-proxy`.
//!
//! Test bed only; never part of gantry. TLS with static certificates and custom error pages are
//! served; ACME (no CA is reachable), HTTP/3, metrics and read/write splitting are accepted on
//! the command line but not implemented (see `specs/testbed.md`).
//!
//! `run` is the server; every other command is a client that sends one request over the control
//! socket and prints the answer, with `Error: <message>` and exit status 1 on failure.

mod balancer;
mod body;
mod cli;
mod control;
mod duration;
mod error_pages;
mod health;
mod log;
mod pause;
mod proxy;
mod rollout;
mod router;
mod routes;
mod server;
mod state;
mod table;
mod target;
mod tls;

use std::process::ExitCode;

use clap::Parser;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use crate::cli::{Cli, CliCommand};
use crate::control::Reply;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return command_line_failure(&error),
    };
    if let CliCommand::Run(args) = &cli.command {
        return run_server(args.resolve());
    }
    match cli.command.into_command() {
        Ok(Some(command)) => match control::call(&control::socket_path(), &command) {
            Ok(Reply::Done) => ExitCode::SUCCESS,
            Ok(Reply::List { services }) => {
                print!("{}", table::render(&services));
                ExitCode::SUCCESS
            }
            Ok(Reply::Error { message }) => fail(&message),
            Err(error) => fail(&error.to_string()),
        },
        Ok(None) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn run_server(config: server::RunConfig) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("starting the runtime: {error}")),
    };
    match runtime.block_on(server::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error.to_string()),
    }
}

/// A command line that does not parse, answered as cobra does with `SilenceUsage`: help exits
/// 0; anything else prints `Error: <message>` alone and exits 1 (an unknown flag is
/// `unknown flag: --name`).
fn command_line_failure(error: &clap::Error) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    if error.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(argument)) = error.get(ContextKind::InvalidArg)
        && argument.starts_with("--")
    {
        let flag = argument.split('=').next().unwrap_or(argument);
        return fail(&format!("unknown flag: {flag}"));
    }
    let rendered = error.render().to_string();
    let message = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ");
    fail(message)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("Error: {message}");
    ExitCode::FAILURE
}
