//! The rules across hosts: accessories before apps (7), the primary-role barrier (8), and boot
//! groups (9), each between its own `pre-app-boot` and `post-app-boot` hooks.

use crate::plan::build::{Builder, HostBoot, RoleDeploy};
use crate::plan::{Action, ActionId};

impl Builder<'_> {
    pub(super) fn cross_host_edges(&mut self) {
        let accessory_finals = std::mem::take(&mut self.accessory_finals);
        let app_starts = std::mem::take(&mut self.app_starts);
        for &start in &app_starts {
            self.edges(&accessory_finals, start);
        }

        let primary_gate = self
            .role_deploys
            .get(&self.options.primary_role)
            .and_then(|deploys| deploys.first())
            .filter(|deploy| deploy.primary)
            .map(|deploy| deploy.gate);
        let role_deploys = std::mem::take(&mut self.role_deploys);
        if let Some(gate) = primary_gate {
            for deploy in role_deploys.values().flatten().filter(|d| !d.primary) {
                self.edge(gate, deploy.start);
            }
        }

        let limit = self.options.boot.limit;
        let hooks = self.options.app_boot_hooks.clone();
        if limit.is_none() && hooks.is_empty() {
            return;
        }
        // Kamal boots hosts in groups (one without `boot.limit`): every role on a host is in
        // the host's group.
        let mut hosts: Vec<HostBoot> = Vec::new();
        let mut deploys: Vec<&RoleDeploy> = role_deploys.values().flatten().collect();
        deploys.sort_by_key(|deploy| deploy.start);
        for deploy in deploys {
            match hosts.iter_mut().find(|(host, _, _)| *host == deploy.host) {
                Some((_, starts, finals)) => {
                    starts.push(deploy.start);
                    finals.extend(&deploy.finals);
                }
                None => hosts.push((
                    deploy.host.clone(),
                    vec![deploy.start],
                    deploy.finals.clone(),
                )),
            }
        }
        let group_size = limit.map_or(hosts.len().max(1), |limit| {
            limit.hosts_at_once(self.total_hosts)
        });
        // Per group, where it begins and where it ends: its hooks when the project has them.
        let mut bounds: Vec<(Vec<ActionId>, Vec<ActionId>)> = Vec::new();
        for group in hosts.chunks(group_size) {
            let starts: Vec<ActionId> = group.iter().flat_map(|(_, s, _)| s.clone()).collect();
            let finals: Vec<ActionId> = group.iter().flat_map(|(_, _, f)| f.clone()).collect();
            let names: Vec<String> = group.iter().map(|(host, _, _)| host.clone()).collect();
            let (first_host, first_starts, _) = &group[0];
            let change = self.graph[first_starts[0]].change;
            let hook = |builder: &mut Self, name: &str| {
                builder.add(
                    first_host,
                    change,
                    Action::RunHook {
                        hook: name.to_string(),
                        hosts: names.clone(),
                    },
                    None,
                )
            };
            let entry = if hooks.iter().any(|hook| hook == PRE_APP_BOOT) {
                let pre = hook(self, PRE_APP_BOOT);
                self.edges_from(pre, &starts);
                vec![pre]
            } else {
                starts
            };
            let exit = if hooks.iter().any(|hook| hook == POST_APP_BOOT) {
                let post = hook(self, POST_APP_BOOT);
                self.edges(&finals, post);
                vec![post]
            } else {
                finals
            };
            bounds.push((entry, exit));
        }
        for pair in bounds.windows(2) {
            let (previous_exit, next_entry) = (&pair[0].1, &pair[1].0);
            let barrier = match self.options.boot.wait {
                Some(seconds) if seconds > 0 => {
                    let host = self.graph[next_entry[0]].host.clone();
                    let change = self.graph[next_entry[0]].change;
                    let sleep = self.add(&host, change, Action::Sleep { seconds }, None);
                    self.edges(previous_exit, sleep);
                    vec![sleep]
                }
                _ => previous_exit.clone(),
            };
            for &entry in next_entry {
                self.edges(&barrier, entry);
            }
        }
    }
}

/// The hooks Kamal runs before and after each boot group.
pub const PRE_APP_BOOT: &str = "pre-app-boot";
pub const POST_APP_BOOT: &str = "post-app-boot";
