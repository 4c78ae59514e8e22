//! Diff: desired state × observed state → the changes each host needs.
//!
//! `diff(desired, observed, options)` is pure. For every host it compares each resource (the
//! network, the proxy container, env files, each role's app container, proxy routes,
//! accessories, retained containers, images and the `latest` tag) and returns one [`Change`]
//! per resource that differs, with the field-level differences and a typed [`Reason`]. A
//! resource that matches produces nothing: a world that matches gives empty changes.
//!
//! Each change also carries its [`Work`]: exactly the data the planner needs to turn it into
//! actions, decided here where the comparison is made (which container to start, which to
//! retire, whether an image must be pulled). Secret values are compared and carried in work
//! payloads, never in fields or reasons.

mod accessory;
mod app;
mod cleanup;
mod conflicts;
pub mod container;
mod host;
mod routes;
mod types;

use crate::desired::Desired;
use crate::observe::{Observed, ObservedHost};

pub use accessory::accessory_boot;
pub use app::container_ref;
pub use conflicts::conflicts_between;
pub use host::proxy_boot;
pub use types::*;

/// Choices that change what counts as a change (not what is observed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffOptions {
    /// Replace a kamal-proxy container whose image or options differ (`--reboot-proxy`);
    /// without it the difference is reported and left alone.
    pub reboot_proxy: bool,
    /// Replace accessories whose configuration differs (`--recreate-accessories`).
    pub recreate_accessories: bool,
}

/// Compares every desired host with what was observed on it.
pub fn diff(desired: &Desired, observed: &Observed, options: DiffOptions) -> Changes {
    let hosts = desired
        .hosts
        .iter()
        .map(
            |desired_host| match observed.hosts.get(&desired_host.name) {
                Some(ObservedHost::Reachable(state)) => {
                    host::diff_host(desired, desired_host, state, options)
                }
                Some(ObservedHost::Unreachable { reason }) => HostChanges {
                    host: desired_host.name.clone(),
                    reach: Reach::Unreachable {
                        reason: reason.clone(),
                    },
                    changes: Vec::new(),
                    notes: Vec::new(),
                },
                None => HostChanges {
                    host: desired_host.name.clone(),
                    reach: Reach::Unreachable {
                        reason: "not observed".to_string(),
                    },
                    changes: Vec::new(),
                    notes: Vec::new(),
                },
            },
        )
        .collect();
    Changes { hosts }
}

#[cfg(test)]
mod tests;
