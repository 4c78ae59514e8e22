//! `gantry details`: what runs where, from the same observation `plan` makes.

use crate::session::Exit;

use clap::Args;
use miette::miette;

use super::GlobalArgs;
use super::session;
use super::session::{PlanFlags, TargetArgs, VersionNeed, read_local_file};
use crate::naming::ServiceNames;
use crate::pipeline;
use crate::report::details;

/// `gantry details` flags.
#[derive(Clone, Debug, Args)]
pub struct DetailsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Observes and prints.
pub fn run(global: &GlobalArgs, args: &DetailsArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Optional)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(PlanFlags::default().choices(), &read);
    let desired = pipeline::desired(&request).map_err(|error| miette!("{error}"))?;
    let observed = session::connect_and_observe(&prepared, &desired)?;
    let names = ServiceNames::for_config(&prepared.loaded.config);
    let hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();
    let text = if args.json {
        serde_json::to_string_pretty(&details::to_json(&observed, &names, &hosts))
            .unwrap_or_default()
    } else {
        details::render(&observed, &names, &hosts)
    };
    sayln!("{}", prepared.redactor.redact(text.trim_end()));
    let unreachable = observed.hosts.values().any(|host| host.state().is_none());
    Ok(if unreachable {
        Exit::Failed
    } else {
        Exit::Success
    })
}
