//! A kamal-proxy v0.9.2 stand-in for gantry's test bed: a real reverse proxy with kamal-proxy's
//! command line, routing, health-check gate, drain and state file, so that the real Kamal 2.11
//! (and gantry) can deploy through it on hosts that cannot pull `basecamp/kamal-proxy`.
//!
//! Test bed only; never part of gantry. TLS/ACME, HTTP/3, metrics, rollouts, request/response
//! buffering and read/write splitting are accepted on the command line but not implemented (see
//! `specs/testbed.md`).
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
mod router;
mod routes;
mod server;
mod state;
mod table;
mod target;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, CliCommand};
use crate::control::Reply;

fn main() -> ExitCode {
    let cli = Cli::parse();
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

fn fail(message: &str) -> ExitCode {
    eprintln!("Error: {message}");
    ExitCode::FAILURE
}
