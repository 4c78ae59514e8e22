//! `gantry logs` (also `gantry app logs`): the logs of each selected role's current container
//! on every selected host, each line prefixed with its host. `-f` streams from every host at once
//! until Ctrl-C. The command line on each host is Kamal's `docker logs ... 2>&1 | grep ...`
//! ([`crate::day2::shell::logs`]); nothing changes on any host and no lock is taken.

use crate::session::Exit;
use std::sync::Arc;

use clap::Args;

use super::GlobalArgs;
use super::locked::Day2;
use super::output::{Job, prefix, run_labelled, run_prefixed, summarize};
use super::session::{TargetArgs, runtime};
use crate::day2::current_container;
use crate::day2::shell::{self, LogsOptions};
use crate::host::{ContainerFilter, Host};
use crate::pipeline::Connections;

/// How much of the logs, and which lines.
#[derive(Clone, Debug, Default, Args)]
pub struct LogFlags {
    /// Keep streaming new lines from every host (until Ctrl-C).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The last N lines of each container (default 100 unless following or filtering).
    #[arg(short = 'n', long)]
    pub lines: Option<u64>,
    /// Only lines since a time or a duration (`2026-11-26T10:00:00`, `10m`).
    #[arg(short = 's', long)]
    pub since: Option<String>,
    /// Only lines matching this pattern (grep's basic regular expression).
    #[arg(short = 'g', long)]
    pub grep: Option<String>,
    /// More options for grep (`-i`).
    #[arg(long, requires = "grep", allow_hyphen_values = true)]
    pub grep_options: Option<String>,
    /// No Docker timestamps on the lines.
    #[arg(short = 'T', long)]
    pub skip_timestamps: bool,
}

impl LogFlags {
    /// The options of the `docker logs` command line.
    pub fn options(&self) -> LogsOptions {
        LogsOptions {
            follow: self.follow,
            lines: self.lines,
            since: self.since.clone(),
            grep: self.grep.clone(),
            grep_options: self.grep_options.clone(),
            timestamps: !self.skip_timestamps,
        }
        .with_default_lines()
    }
}

/// `gantry logs` flags.
#[derive(Clone, Debug, Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub flags: LogFlags,
    /// The logs of this container (an id or a name) instead of each role's current one.
    #[arg(long)]
    pub container_id: Option<String>,
}

/// Shows the app's logs.
pub fn run(global: &GlobalArgs, args: &LogsArgs) -> Result<Exit, miette::Report> {
    let day2 = Day2::load(global, &args.target, "app", Some("logs"))?;
    let options = args.flags.options();
    runtime()?.block_on(async {
        let connections = day2.connect().await?;
        let mut jobs = Vec::new();
        let mut results = Vec::new();
        for host in &day2.desired.hosts {
            let connection = match connected(&connections, &host.name) {
                Ok(connection) => connection,
                Err(error) => {
                    results.push((host.name.clone(), Err(error)));
                    continue;
                }
            };
            if let Some(container) = &args.container_id {
                jobs.push((
                    host.name.clone(),
                    Job {
                        host: connection.clone(),
                        command: shell::logs(container, &options),
                        prefix: host.name.clone(),
                    },
                ));
                continue;
            }
            for app in &host.apps {
                let filter = ContainerFilter::labels(day2.names.app_filters(Some(&app.role)));
                let label = prefix(&host.name, &app.role, host.apps.len());
                match connection.list_containers(&filter).await {
                    Ok(containers) => match current_container(&containers) {
                        Some(container) => jobs.push((
                            label.clone(),
                            Job {
                                host: connection.clone(),
                                command: shell::logs(&container.id, &options),
                                prefix: label,
                            },
                        )),
                        None => tellln!("{label}  no running container of role {}", app.role),
                    },
                    Err(error) => results.push((label, Err(error))),
                }
            }
        }
        let (labels, jobs): (Vec<String>, Vec<Job>) = jobs.into_iter().unzip();
        let ran = run_prefixed(jobs).await;
        results.extend(labels.into_iter().zip(ran));
        Ok(grep_summary(results, options.grep.is_some()))
    })
}

/// The connection to `host`, or why there is none.
pub(super) fn connected(
    connections: &Connections,
    host: &str,
) -> Result<Arc<dyn Host>, crate::host::HostError> {
    match connections.get(host) {
        Some(Ok(connection)) => Ok(connection.clone()),
        Some(Err(reason)) => Err(crate::host::HostError::Unreachable {
            host: host.to_string(),
            message: reason.clone(),
        }),
        None => Err(crate::host::HostError::Unreachable {
            host: host.to_string(),
            message: "not connected".to_string(),
        }),
    }
}

/// grep exits 1 when nothing matched: no lines is not a failure of `logs`.
pub(super) fn grep_summary(
    results: Vec<(String, Result<i64, crate::host::HostError>)>,
    grep: bool,
) -> Exit {
    let results: Vec<_> = results
        .into_iter()
        .map(|(label, result)| match result {
            Ok(1) if grep => (label, Ok(0)),
            other => (label, other),
        })
        .collect();
    summarize(&results)
}

/// Logs of one named container (an accessory, the proxy) on each host, prefixed.
pub(super) async fn container_logs(
    connections: &Connections,
    containers: Vec<(String, String)>,
    options: &LogsOptions,
) -> Exit {
    let targets = containers
        .into_iter()
        .map(|(host, container)| {
            let job = connected(connections, &host).map(|connection| Job {
                host: connection,
                command: shell::logs(&container, options),
                prefix: host.clone(),
            });
            (host, job)
        })
        .collect();
    grep_summary(run_labelled(targets).await, options.grep.is_some())
}
