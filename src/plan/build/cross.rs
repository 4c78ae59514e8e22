//! The rules across hosts: accessories before apps (7), the primary-role barrier (8), boot
//! groups (9), each between its own `pre-app-boot` and `post-app-boot` hooks, and the canary
//! stage before the rest (10).

use crate::plan::build::{Builder, HostBoot, RoleDeploy};
use crate::plan::{Action, ActionId};

impl Builder<'_> {
    pub(super) fn cross_host_edges(&mut self) {
        let accessory_finals = std::mem::take(&mut self.accessory_finals);
        let app_starts = std::mem::take(&mut self.app_starts);
        for &start in &app_starts {
            self.edges(&accessory_finals, start);
        }

        let role_deploys = std::mem::take(&mut self.role_deploys);
        let canaries = self.canary_hosts(&role_deploys);
        // With canaries, the barrier is the primary role's first canary: a barrier on a later
        // stage's host would hold back the canaries that must go first.
        let primary_deploys = role_deploys
            .get(&self.options.primary_role)
            .map(|deploys| deploys.iter().filter(|deploy| deploy.primary))
            .into_iter()
            .flatten();
        let primary_gate = primary_deploys
            .clone()
            .find(|deploy| canaries.contains(&deploy.host))
            .or_else(|| primary_deploys.clone().next())
            .map(|deploy| (deploy.gate, deploy.host.clone()));
        if let Some((gate, gate_host)) = &primary_gate {
            let gate_is_canary = canaries.contains(gate_host);
            for deploy in role_deploys.values().flatten().filter(|d| !d.primary) {
                if gate_is_canary || !canaries.contains(&deploy.host) {
                    self.edge(*gate, deploy.start);
                }
            }
        }

        let limit = self.options.boot.limit;
        let hooks = self.options.app_boot_hooks.clone();
        if limit.is_none() && hooks.is_empty() && canaries.is_empty() {
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
        // Stage 1 (the canaries), then stage 2 (the rest); one stage without canaries.
        let (first, rest): (Vec<HostBoot>, Vec<HostBoot>) = hosts
            .into_iter()
            .partition(|(host, _, _)| canaries.is_empty() || canaries.contains(host));
        let stages: Vec<Vec<HostBoot>> = [first, rest]
            .into_iter()
            .filter(|stage| !stage.is_empty())
            .collect();
        // Per group, where it begins and where it ends: its hooks when the project has them.
        let mut bounds: Vec<(Vec<ActionId>, Vec<ActionId>)> = Vec::new();
        // The index in `bounds` of stage 2's first group.
        let mut second_stage = None;
        let total_hosts = self.total_hosts;
        let groups = stages.iter().enumerate().flat_map(|(stage_index, stage)| {
            let group_size = limit.map_or(stage.len(), |limit| limit.hosts_at_once(total_hosts));
            stage
                .chunks(group_size)
                .enumerate()
                .map(move |(group_index, group)| (stage_index > 0 && group_index == 0, group))
        });
        for (starts_second_stage, group) in groups {
            if starts_second_stage {
                second_stage = Some(bounds.len());
            }
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
        let canary_exit = match second_stage {
            Some(index) => bounds[index - 1].1.clone(),
            None => bounds
                .last()
                .map(|(_, exit)| exit.clone())
                .unwrap_or_default(),
        };
        let verdict = (!canaries.is_empty())
            .then(|| self.canary_verdict(&role_deploys, &canaries, &canary_exit));
        for (index, pair) in bounds.windows(2).enumerate() {
            let (previous_exit, next_entry) = (&pair[0].1, &pair[1].0);
            if let Some(verdict) = verdict.as_ref().filter(|_| Some(index + 1) == second_stage) {
                // Rule 10: stage 2 begins once the canaries passed.
                for &entry in next_entry {
                    self.edges(verdict, entry);
                }
                continue;
            }
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
