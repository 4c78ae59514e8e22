//! The `app` commands that only read: `containers`, `details`, `images` run Kamal's own docker
//! command lines on every selected host (so the table is docker's, as Kamal prints it), each
//! line prefixed with its host; `version` and `stale_containers` read the observation gantry
//! plans from. No lock: nothing changes.

use crate::session::Exit;

use super::super::locked::Day2;
use super::super::logs::connected;
use super::super::output::{Job, prefix, run_labelled, summarize};
use crate::day2::{app, shell};
use crate::desired::DesiredHost;
use crate::observe::{Observed, ObservedHost};
use crate::pipeline::Connections;

/// Which listing to run on the hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// `app containers`: every app container on each host, in any state.
    Containers,
    /// `app details`: each role's running containers.
    Details,
    /// `app images`: the app's images on each host.
    Images,
}

/// The shell command lines of `listing` on one host, each with the prefix of its lines.
fn listing_commands(day2: &Day2, host: &DesiredHost, listing: Listing) -> Vec<(String, String)> {
    match listing {
        Listing::Containers => vec![(
            host.name.clone(),
            shell::list_containers(&day2.names.app_filters(None)),
        )],
        Listing::Images => vec![(
            host.name.clone(),
            shell::list_images(&day2.prepared.loaded.config.repository()),
        )],
        Listing::Details => host
            .apps
            .iter()
            .map(|app| {
                (
                    prefix(&host.name, &app.role, host.apps.len()),
                    shell::list_running_containers(&day2.names.app_filters(Some(&app.role))),
                )
            })
            .collect(),
    }
}

/// Runs `listing` on every selected host at once, each output line prefixed.
pub async fn list(day2: &Day2, connections: &Connections, listing: Listing) -> Exit {
    let mut targets = Vec::new();
    for host in &day2.desired.hosts {
        for (label, command) in listing_commands(day2, host, listing) {
            let job = connected(connections, &host.name).map(|connection| Job {
                host: connection,
                command,
                prefix: label.clone(),
            });
            targets.push((label, job));
        }
    }
    summarize(&run_labelled(targets).await)
}

/// `app version`: per host, the version its first selected role runs (Kamal's `app version`),
/// or `-` where none runs.
pub fn versions(day2: &Day2, observed: &Observed) -> (String, Exit) {
    let mut text = String::new();
    let mut exit = Exit::Success;
    for host in &day2.desired.hosts {
        let Some(role) = host.apps.first().map(|app| app.role.as_str()) else {
            continue;
        };
        let line = match observed.hosts.get(&host.name) {
            Some(ObservedHost::Reachable(state)) => {
                app::role_containers(state, role).current.map_or_else(
                    || "-".to_string(),
                    |current| app::version_of(&day2.names, role, current),
                )
            }
            Some(ObservedHost::Unreachable { reason }) => {
                exit = Exit::Failed;
                format!("unreachable: {reason}")
            }
            None => continue,
        };
        text.push_str(&format!("{}  {line}\n", host.name));
    }
    (text, exit)
}

/// `app stale_containers`: per host and role, each live container beside the current one.
pub fn stale(day2: &Day2, observed: &Observed) -> String {
    let mut text = String::new();
    for host in &day2.desired.hosts {
        let Some(state) = observed.hosts.get(&host.name).and_then(ObservedHost::state) else {
            continue;
        };
        for desired_app in &host.apps {
            for container in app::role_containers(state, &desired_app.role).stale {
                text.push_str(&format!(
                    "{}  Detected stale container for role {} with version {} (use `gantry app \
                     stale_containers --stop` to stop)\n",
                    host.name,
                    desired_app.role,
                    app::version_of(&day2.names, &desired_app.role, container)
                ));
            }
        }
    }
    text
}
