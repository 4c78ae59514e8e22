//! `gantry details`: what runs where, from the same observation `plan` makes.

use crate::session::Exit;

use std::collections::BTreeMap;

use clap::Args;
use miette::miette;

use super::GlobalArgs;
use super::session;
use super::session::{PlanFlags, TargetArgs, VersionNeed, read_local_file};
use crate::naming::ServiceNames;
use crate::pipeline;
use crate::report::details;

/// `gantry details` flags.
/// `--version` and `--parallelism` are accepted, as Kamal accepts its global flags everywhere,
/// but mean nothing here: help does not list them.
#[derive(Clone, Debug, Args)]
#[command(mut_arg("parallelism", |arg| arg.hide(true)))]
pub struct DetailsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Also show the other services on the same hosts (their containers; every service's
    /// routes are shown anyway).
    #[arg(long, conflicts_with = "json")]
    pub all: bool,
}

/// Observes and prints.
pub fn run(global: &GlobalArgs, args: &DetailsArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Optional)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(PlanFlags::default().choices(), &read);
    let desired = pipeline::desired(&request).map_err(|error| miette!("{error}"))?;
    let (observed, last_deploys) = session::runtime()?.block_on(async {
        let connections = session::connect(&prepared, &desired).await?;
        let observed = crate::observe::observe_all(
            &desired,
            &connections,
            session::observe_width(&connections),
        )
        .await;
        let last_deploys = if args.all {
            other_services_last_changes(&observed, &connections).await
        } else {
            BTreeMap::new()
        };
        Ok::<_, miette::Report>((observed, last_deploys))
    })?;
    let names = ServiceNames::for_config(&prepared.loaded.config);
    let hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();
    let text = if args.json {
        serde_json::to_string_pretty(&details::to_json(&observed, &names, &hosts))
            .unwrap_or_default()
    } else {
        let mut text = details::render(&observed, &names, &hosts);
        if args.all {
            text.push_str(&details::render_other_services(
                &observed,
                &hosts,
                &last_deploys,
            ));
        }
        text
    };
    sayln!("{}", prepared.redactor.redact(text.trim_end()));
    let unreachable = observed.hosts.values().any(|host| host.state().is_none());
    Ok(if unreachable {
        Exit::Failed
    } else {
        Exit::Success
    })
}

/// Per host, the last line of each other app's audit log (who changed what, when); a log that
/// cannot be read is left out.
async fn other_services_last_changes(
    observed: &crate::observe::Observed,
    connections: &crate::pipeline::Connections,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut last_changes = BTreeMap::new();
    for (host_name, host) in &observed.hosts {
        let (Some(state), Some(Ok(connection))) = (host.state(), connections.get(host_name)) else {
            continue;
        };
        let logs = details::other_audit_logs(state);
        let paths: Vec<String> = logs.values().cloned().collect();
        let Ok(contents) = connection.read_files(&paths).await else {
            continue;
        };
        let lines: BTreeMap<String, String> = logs
            .into_iter()
            .filter_map(|(service, path)| {
                let line = details::last_audit_line(contents.get(&path)?.as_deref()?)?;
                Some((service, line))
            })
            .collect();
        last_changes.insert(host_name.clone(), lines);
    }
    last_changes
}
