//! `gantry rollback [VERSION]`: run an earlier version whose containers are still on the hosts.
//!
//! Without VERSION, it lists the versions every host can run again and picks the previous one
//! (the newest that is not running; kamal#1658). A version missing on some host is refused with
//! the hosts that lack it. Then this is `gantry apply --version VERSION`, on the same
//! connections (the project is loaded and the hosts connected once): the retained containers
//! start again (no pull), routes switch back with kamal-proxy's health gate, and the running
//! version is stopped and kept.

use crate::session::Exit;

use clap::Args;
use miette::miette;

use super::GlobalArgs;
use super::apply::{self, ApplyArgs};
use super::hooking::Hooks;
use super::session::{PlanFlags, VersionNeed, connect_hosts, runtime};
use crate::naming::ServiceNames;
use crate::observe::Observed;
use crate::observe::Versions;
use crate::session::{Prepared, lock_hosts, observe_width};

/// `gantry rollback` flags. The version is given one way, as Kamal takes it: `rollback
/// VERSION`; the global `--version` is refused here, with the argument to use instead.
#[derive(Clone, Debug, Args)]
pub struct RollbackArgs {
    /// The version to go back to (default: the previous one).
    #[arg(value_name = "VERSION")]
    pub rollback_version: Option<String>,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

/// Chooses the version, then applies it, on the same connections.
pub fn run(global: &GlobalArgs, args: &RollbackArgs) -> Result<Exit, miette::Report> {
    if let Some(version) = &global.version {
        return Err(miette!(
            help = format!("give the version as `gantry rollback {version}`"),
            "rollback takes the version as its argument, not --version"
        ));
    }
    let mut prepared = super::session::load(global, VersionNeed::Optional)?;
    let desired = prepared
        .desired_at(&prepared.version, PlanFlags::default().choices())
        .map_err(|error| miette!("{error}"))?;
    if let Some(version) = &args.rollback_version {
        prepared.version = version.clone();
    }
    runtime()?.block_on(async {
        let mut hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();
        // Kamal runs `pre-connect` before the first connection; the apply below does not run
        // it again.
        Hooks::new(global, &prepared, hosts.clone(), "rollback", None)
            .pre_connect()
            .await?;
        for lock_host in lock_hosts(&prepared.loaded.config, &prepared.selection) {
            if !hosts.contains(&lock_host) {
                hosts.push(lock_host);
            }
        }
        let connections = connect_hosts(&prepared, &hosts).await?;
        let observed =
            crate::observe::observe_all(&desired, &connections, observe_width(&connections)).await;
        let version = choose_version(&prepared, &observed, args.rollback_version.as_deref())?;
        tellln!("Rolling back to {version}");
        prepared.version = version;
        apply::apply(
            global,
            &prepared,
            &args.apply,
            None,
            "rollback",
            Some(connections),
        )
        .await
    })
}

/// The version to go back to: `requested`, if every selected host still has it, else the
/// previous one.
fn choose_version(
    prepared: &Prepared,
    observed: &Observed,
    requested: Option<&str>,
) -> Result<String, miette::Report> {
    if let Some((host, _)) = observed
        .hosts
        .iter()
        .find(|(_, host)| host.state().is_none())
    {
        return Err(miette!(
            help = "a rollback needs every host: bring it back, or narrow the run with --hosts",
            "{host} is unreachable"
        ));
    }
    let versions =
        Versions::from_observed(observed, &ServiceNames::for_config(&prepared.loaded.config));
    let complete = versions.complete();
    match requested {
        Some(version) => {
            let missing = versions.missing(version);
            if !missing.is_empty() {
                let places: Vec<String> = missing
                    .iter()
                    .map(|(host, role)| format!("{host} ({role})"))
                    .collect();
                return Err(miette!(
                    help = format!("versions every host still has: {}", listing(&complete)),
                    "version {version} is not retained on {}",
                    places.join(", ")
                ));
            }
            Ok(version.to_string())
        }
        None => {
            tellln!(
                "Versions every host can run again, newest first: {}",
                listing(&complete)
            );
            versions.previous().ok_or_else(|| {
                miette!(
                    help = "`gantry rollback VERSION` names one; `gantry details` shows what each host keeps",
                    "there is no earlier version retained on every host"
                )
            })
        }
    }
}

fn listing(versions: &[String]) -> String {
    if versions.is_empty() {
        "none".to_string()
    } else {
        versions.join(", ")
    }
}
