//! The rules across hosts: accessories before apps (7), the primary-role barrier (8), and boot
//! groups (9).

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

        let Some(limit) = self.options.boot.limit else {
            return;
        };
        // Kamal boots hosts in groups: every role on a host is in the host's group.
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
        let group_size = limit.hosts_at_once(self.total_hosts);
        let groups: Vec<&[HostBoot]> = hosts.chunks(group_size).collect();
        for pair in groups.windows(2) {
            let finals: Vec<ActionId> = pair[0].iter().flat_map(|(_, _, f)| f.clone()).collect();
            let next_starts: Vec<ActionId> =
                pair[1].iter().flat_map(|(_, s, _)| s.clone()).collect();
            let barrier = match self.options.boot.wait {
                Some(seconds) if seconds > 0 => {
                    let (host, starts, _) = &pair[1][0];
                    let change = self.graph[starts[0]].change;
                    let sleep = self.add(host, change, Action::Sleep { seconds }, None);
                    self.edges(&finals, sleep);
                    vec![sleep]
                }
                _ => finals,
            };
            for start in next_starts {
                self.edges(&barrier, start);
            }
        }
    }
}
