//! `gantry rollback [VERSION]`: run an earlier version whose containers are still on the hosts.
//!
//! Without VERSION, it lists the versions every host can run again and picks the previous one
//! (the newest that is not running; kamal#1658). A version missing on some host is refused with
//! the hosts that lack it. Then this is `gantry apply --version VERSION`: the retained containers
//! start again (no pull), routes switch back with kamal-proxy's health gate, and the running
//! version is stopped and kept.

use std::process::ExitCode;

use clap::Args;
use miette::miette;

use super::GlobalArgs;
use super::apply::{self, ApplyArgs};
use super::session;
use super::session::{PlanFlags, Prepared, VersionNeed, read_local_file};
use crate::naming::ServiceNames;
use crate::observe::Versions;
use crate::pipeline;

/// `gantry rollback` flags.
#[derive(Clone, Debug, Args)]
pub struct RollbackArgs {
    /// The version to go back to (default: the previous one).
    #[arg(value_name = "VERSION")]
    pub rollback_version: Option<String>,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

/// Chooses the version, then applies it.
pub fn run(global: &GlobalArgs, args: &RollbackArgs) -> Result<ExitCode, miette::Report> {
    let prepared = Prepared::load(global, &args.apply.target, VersionNeed::Optional)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(&PlanFlags::default(), &read);
    let desired = pipeline::desired(&request).map_err(|error| miette!("{error}"))?;
    let observed = session::connect_and_observe(&prepared, &desired)?;
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
    let versions = Versions::from_observed(
        &observed,
        &ServiceNames::for_config(&prepared.loaded.config),
    );
    let complete = versions.complete();
    let version = match &args.rollback_version {
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
            version.clone()
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
            })?
        }
    };
    tellln!("Rolling back to {version}");
    let mut apply_args = args.apply.clone();
    apply_args.target.version = Some(version);
    apply::run(global, &apply_args, None, "rollback")
}

fn listing(versions: &[String]) -> String {
    if versions.is_empty() {
        "none".to_string()
    } else {
        versions.join(", ")
    }
}
