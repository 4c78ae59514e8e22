//! `gantry registry setup|login|logout|remove`: the registry's credentials on this machine and
//! on every selected host, as Kamal's.
//!
//! `setup` and `login` run `docker login` here (`-L`/`--skip-local` skips it) and on each host
//! (`-R`/`--skip-remote`), so plain `docker pull` works there too; `remove` and `logout` run
//! `docker logout`. The password travels on `docker login`'s standard input, never on a command
//! line. With Kamal's local registry (`registry.server: localhost:PORT`), `setup` starts the
//! `kamal-docker-registry` container on this machine and `remove` stops and removes it; the
//! hosts need no login (they pull through the SSH connection), and `login`/`logout` refuse, as
//! Kamal's do. Deploys do not depend on any of this: each pull carries its own credentials.

use crate::session::Exit;

use clap::{Args, Subcommand};
use futures_util::future::join_all;
use miette::miette;

use super::GlobalArgs;
use super::locked::Day2;
use super::logs::connected;
use super::output::{PrefixedLines, Stream, summarize};
use super::session::{TargetArgs, runtime};
use crate::day2::shell;
use crate::host::Attached;
use crate::model::RegistryAuth;

/// `gantry registry` subcommands.
#[derive(Clone, Debug, Args)]
pub struct RegistryArgs {
    #[command(subcommand)]
    pub command: RegistryCommand,
    #[command(flatten)]
    pub target: TargetArgs,
}

/// What to do with the registry.
#[derive(Clone, Debug, Subcommand)]
pub enum RegistryCommand {
    /// Start the local registry, or log in to the registry here and on the hosts.
    Setup(Sides),
    /// Log in to the registry here and on the hosts.
    Login(Sides),
    /// Log out of the registry here and on the hosts.
    Logout(Sides),
    /// Remove the local registry, or log out of the registry here and on the hosts.
    Remove(Sides),
}

/// Where to log in or out.
#[derive(Clone, Copy, Debug, Args)]
pub struct Sides {
    /// Not on this machine.
    #[arg(short = 'L', long)]
    pub skip_local: bool,
    /// Not on the hosts.
    #[arg(short = 'R', long)]
    pub skip_remote: bool,
}

/// Runs a registry subcommand.
pub fn run(global: &GlobalArgs, args: &RegistryArgs) -> Result<Exit, miette::Report> {
    let (word, sides, logs_in) = match &args.command {
        RegistryCommand::Setup(sides) => ("setup", sides, true),
        RegistryCommand::Login(sides) => ("login", sides, true),
        RegistryCommand::Logout(sides) => ("logout", sides, false),
        RegistryCommand::Remove(sides) => ("remove", sides, false),
    };
    let day2 = Day2::load(global, &args.target, "registry", Some(word))?;
    let registry = &day2.prepared.loaded.config.registry;
    if registry.is_local() && matches!(word, "login" | "logout") {
        let instead = if word == "login" { "setup" } else { "remove" };
        return Err(miette!(
            "Cannot use {word} command with a local registry. Use `gantry registry {instead}` instead."
        ));
    }
    runtime()?.block_on(async {
        if let Some(port) = registry.local_port() {
            if sides.skip_local {
                return Ok(Exit::Success);
            }
            if logs_in {
                crate::build::ensure_local_registry(port)
                    .await
                    .map_err(|error| miette!("{error}"))?;
            } else if let Err(error) = crate::build::remove_local_registry().await {
                // Kamal ignores a registry that is not there.
                tellln!("{error}");
            }
            return Ok(Exit::Success);
        }
        let auth = day2.desired.registry_auth.clone();
        let server = match (&auth, &registry.server) {
            (Some(auth), _) => auth.server.clone(),
            (None, Some(server)) => server.clone(),
            (None, None) => "https://index.docker.io/v1/".to_string(),
        };
        let auth = match (logs_in, auth) {
            (true, None) => {
                return Err(miette!(
                    help = "set registry.username and registry.password in deploy.yml",
                    "no registry credentials to log in with"
                ));
            }
            (_, auth) => auth,
        };
        if !sides.skip_local {
            let local = match &auth {
                Some(auth) if logs_in => {
                    crate::build::docker_login(auth, &day2.prepared.redactor).await
                }
                _ => crate::build::docker_logout(&server).await,
            };
            local.map_err(|error| miette!("{error}"))?;
            sayln!(
                "{} {server} on this machine",
                if logs_in {
                    "Logged in to"
                } else {
                    "Logged out of"
                }
            );
        }
        if sides.skip_remote {
            return Ok(Exit::Success);
        }
        let connections = day2.connect().await?;
        let hosts = day2.desired.hosts.iter().map(|host| host.name.clone());
        let results = join_all(hosts.map(|host_name| {
            let connection = connected(&connections, &host_name);
            let auth = auth.as_ref().filter(|_| logs_in);
            let server = server.clone();
            async move {
                let result = match connection {
                    Ok(connection) => on_host(connection.as_ref(), &host_name, auth, &server).await,
                    Err(error) => Err(error),
                };
                (host_name, result)
            }
        }))
        .await;
        Ok(summarize(&results))
    })
}

/// `docker login` (with `auth`) or `docker logout` on one host, its output prefixed with the
/// host's name.
async fn on_host(
    host: &dyn crate::host::Host,
    host_name: &str,
    auth: Option<&RegistryAuth>,
    server: &str,
) -> Result<i64, crate::host::HostError> {
    let (command, stdin) = match auth {
        Some(auth) => (
            shell::registry_login(&auth.server, &auth.username),
            Some(auth.password.expose().as_bytes().to_vec()),
        ),
        None => (shell::registry_logout(server), None),
    };
    let io = Attached {
        stdin: stdin.map(|bytes| {
            Box::new(std::io::Cursor::new(bytes)) as Box<dyn tokio::io::AsyncRead + Send + Unpin>
        }),
        stdout: Box::new(PrefixedLines::new(host_name, Stream::Stdout)),
        stderr: Box::new(PrefixedLines::new(host_name, Stream::Stderr)),
        terminal: None,
    };
    host.run_attached(&command, io).await
}
