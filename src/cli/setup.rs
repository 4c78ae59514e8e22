//! `gantry setup`: a first deploy on fresh hosts (Kamal's `setup`). Installs Docker where it is
//! missing (Debian/Ubuntu's `docker.io`, else get.docker.com, as Kamal's `server bootstrap`),
//! runs the `docker-setup` hook, then builds and pushes the image as `deploy` does (`pre-build`
//! first; `-P/--skip-push` deploys an image already pushed, `--no-cache` rebuilds every layer),
//! then applies: accessories boot, the proxy boots, the app deploys, under the deploy lock, with
//! `pre-deploy` and `post-deploy`.
//!
//! Installing Docker needs only SSH: those connections do not ask for Docker. The installation
//! runs before the lock is taken (it is idempotent, and the lock's host may lack Docker too).

use crate::session::Exit;
use std::sync::Arc;

use clap::Args;
use miette::miette;

use super::GlobalArgs;
use super::apply::{self, ApplyArgs};
use super::hooking::Hooks;
use super::output::{PrefixedLines, Stream};
use super::session::{Prepared, VersionNeed, read_local_file, runtime};
use crate::day2::shell;
use crate::host::ssh::SshHost;
use crate::host::{Attached, Host};
use crate::pipeline;

/// `gantry setup` flags: those of `apply`, and the build's.
#[derive(Clone, Debug, Args)]
pub struct SetupArgs {
    #[command(flatten)]
    pub apply: ApplyArgs,
    /// Deploy an image already pushed to the registry; build nothing.
    #[arg(short = 'P', long)]
    pub skip_push: bool,
    /// Build without using Docker's build cache.
    #[arg(long)]
    pub no_cache: bool,
}

/// Installs Docker where missing, runs `docker-setup`, applies.
pub fn run(global: &GlobalArgs, args: &SetupArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Required)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(args.apply.flags.choices(), &read);
    let desired = pipeline::desired(&request).map_err(|error| miette!("{error}"))?;
    let hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();
    let hooks = Hooks::new(global, &prepared, hosts.clone(), "setup", None);
    runtime()?.block_on(async {
        hooks.pre_connect().await?;
        install_docker(&prepared, &hosts).await?;
        hooks.run("docker-setup", false, None).await?;
        if !args.skip_push {
            hooks.run("pre-build", false, None).await?;
        }
        Ok::<_, miette::Report>(())
    })?;
    if !args.skip_push {
        let log = super::build::log_for(global, args.apply.json);
        super::build::build_and_push(
            &prepared,
            &crate::build::BuildOptions::push(args.no_cache),
            log.as_ref(),
        )?;
    }
    let mut apply_args = args.apply.clone();
    apply_args.yes = true;
    runtime()?.block_on(apply::apply(
        global,
        &prepared,
        &apply_args,
        None,
        "setup",
        None,
    ))
}

/// Installs Docker on every host in `hosts` that lacks it (Kamal's `server bootstrap`), each
/// host's output prefixed with its name; fails naming the hosts where it could not.
pub(super) async fn install_docker(
    prepared: &Prepared,
    hosts: &[String],
) -> Result<(), miette::Report> {
    let settings = prepared.ssh_settings();
    let installs = futures_util::future::join_all(hosts.iter().map(|name| {
        let settings = settings.clone();
        async move {
            let host = SshHost::connect_shell(name, &settings)
                .await
                .map(Arc::new)?;
            let io = Attached {
                stdin: None,
                stdout: Box::new(PrefixedLines::new(name.clone(), Stream::Stderr)),
                stderr: Box::new(PrefixedLines::new(name.clone(), Stream::Stderr)),
                terminal: None,
            };
            host.run_attached(&shell::install_docker(), io).await
        }
    }))
    .await;
    let mut failed = Vec::new();
    for (name, result) in hosts.iter().zip(installs) {
        match result {
            Ok(0) => {}
            Ok(code) => failed.push(format!("{name}: the installation exited with {code}")),
            Err(error) => failed.push(prepared.redactor.redact(&error.to_string())),
        }
    }
    if !failed.is_empty() {
        return Err(miette!(
            help = "install Docker by hand (https://docs.docker.com/engine/install/), or log in as root or a user with passwordless sudo",
            "Docker could not be installed: {}",
            failed.join("; ")
        ));
    }
    Ok(())
}
