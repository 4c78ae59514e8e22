//! The canary stage (rule 10): the canaries' deployments, a watch of their new containers for
//! the wait, the optional local check, and the verdict every later boot group waits for.
//!
//! The canaries share one rollback scope, [`CANARY_SCOPE`]: when the watch or the check fails,
//! every canary's completed actions are undone, newest first (the old container started again,
//! the route switched back to it, the new container stopped), while stage 2 never starts,
//! since its first actions depend on the verdict. Removals and the `latest` tag on a canary
//! wait for the verdict too, so a rollback finds everything it needs.

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::build::{Builder, RoleDeploy};
use crate::plan::{Action, ActionId, CanaryStage};

/// The rollback scope of every action on a canary host (without `--atomic`).
pub const CANARY_SCOPE: &str = "canary";

impl Builder<'_> {
    /// The canary hosts among the hosts whose apps this plan deploys (none without a canary
    /// rollout), and stage 2's hosts, recorded for the plan.
    pub(super) fn canary_hosts(
        &mut self,
        role_deploys: &BTreeMap<String, Vec<RoleDeploy>>,
    ) -> BTreeSet<String> {
        let Some(canary) = &self.options.canary else {
            return BTreeSet::new();
        };
        let mut deploys: Vec<&RoleDeploy> = role_deploys.values().flatten().collect();
        deploys.sort_by_key(|deploy| deploy.start);
        let mut candidates: Vec<String> = Vec::new();
        for deploy in deploys {
            if !candidates.contains(&deploy.host) {
                candidates.push(deploy.host.clone());
            }
        }
        let hosts = canary.hosts.select(&candidates);
        if hosts.is_empty() {
            return BTreeSet::new();
        }
        let rest = candidates
            .into_iter()
            .filter(|host| !hosts.contains(host))
            .collect();
        let selected = hosts.iter().cloned().collect();
        self.canary_stage = Some(CanaryStage {
            hosts,
            rest,
            wait_seconds: canary.wait_seconds,
            check: canary.check.clone(),
        });
        selected
    }

    /// The watch of each canary after `canary_exit` (the end of its boot groups), then the
    /// check; returns what stage 2 waits for. The canaries' clean-ups wait for it as well.
    pub(super) fn canary_verdict(
        &mut self,
        role_deploys: &BTreeMap<String, Vec<RoleDeploy>>,
        canaries: &BTreeSet<String>,
        canary_exit: &[ActionId],
    ) -> Vec<ActionId> {
        let Some(stage) = self.canary_stage.clone() else {
            return canary_exit.to_vec();
        };
        let mut watches = Vec::new();
        for host in &stage.hosts {
            let host_deploys: Vec<&RoleDeploy> = role_deploys
                .values()
                .flatten()
                .filter(|deploy| deploy.host == *host)
                .collect();
            let Some(first) = host_deploys.first() else {
                continue;
            };
            let change = self.graph[first.start].change;
            let watch = Action::WatchCanary {
                containers: host_deploys.iter().map(|d| d.container.clone()).collect(),
                seconds: stage.wait_seconds,
            };
            let watch = self.add(host, change, watch, None);
            self.edges(canary_exit, watch);
            watches.push(watch);
        }
        let verdict = match (&stage.check, watches.first()) {
            (Some(command), Some(&first_watch)) => {
                let host = self.graph[first_watch].host.clone();
                let change = self.graph[first_watch].change;
                let check = Action::CheckCanary {
                    command: command.clone(),
                    hosts: stage.hosts.clone(),
                };
                let check = self.add(&host, change, check, None);
                self.edges(&watches, check);
                vec![check]
            }
            _ => watches,
        };
        for host in canaries {
            let cleanups = self.cleanups.get(host).cloned().unwrap_or_default();
            for cleanup in cleanups {
                self.edges(&verdict, cleanup);
            }
        }
        verdict
    }

    /// Puts every action on a canary host in [`CANARY_SCOPE`], so the canaries roll back
    /// together; `--atomic` already rolls back everything together.
    pub(super) fn canary_scope(&mut self) {
        let Some(stage) = &self.canary_stage else {
            return;
        };
        if self.options.atomic {
            return;
        }
        let ids: Vec<ActionId> = self.graph.node_indices().collect();
        for id in ids {
            if stage.hosts.contains(&self.graph[id].host) {
                self.graph[id].scope = CANARY_SCOPE.to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::config::{Boot, BootLimit, Canary, CanaryHosts, Config, Env};
    use crate::diff::{DiffOptions, diff};
    use crate::plan::{ActionId, CANARY_SCOPE, CanaryStage, Plan, PlanOptions, build, render};
    use crate::testing::{self, observed_of};

    /// The plan of v2 over hosts at v1, with `canary`.
    fn plan(config: &Config, canary: CanaryHosts, check: Option<&str>) -> Plan {
        let observed = observed_of(&testing::desired(config, "v1"));
        let desired = testing::desired(config, "v2");
        let options = PlanOptions {
            atomic: false,
            boot: config.boot.clone(),
            primary_role: config.primary_role.clone(),
            app_boot_hooks: Vec::new(),
            canary: Some(Canary {
                hosts: canary,
                wait_seconds: 30,
                check: check.map(str::to_string),
            }),
        };
        let plan = build(diff(&desired, &observed, DiffOptions::default()), &options);
        assert!(!plan.is_empty(), "a cycle empties a plan");
        plan
    }

    fn names(hosts: &[&str]) -> Vec<String> {
        hosts.iter().map(|host| host.to_string()).collect()
    }

    fn find(plan: &Plan, host: &str, text: &str) -> ActionId {
        plan.actions()
            .find(|(_, node)| node.host == host && node.action.to_string().contains(text))
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("no {text} on {host}:\n{plan}"))
    }

    /// Every action `id` waits for, directly or not.
    fn ancestors(plan: &Plan, id: ActionId) -> BTreeSet<ActionId> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![id];
        while let Some(next) = todo.pop() {
            for dependency in plan.dependencies(next) {
                if seen.insert(dependency) {
                    todo.push(dependency);
                }
            }
        }
        seen
    }

    /// Nothing on `host` that changes what it serves runs before `verdict`.
    fn held_back(plan: &Plan, host: &str, verdict: ActionId) {
        for (id, node) in plan.actions().filter(|(_, node)| node.host == host) {
            if matches!(
                node.action.kind(),
                "run_container" | "stop_container" | "deploy_route" | "tag_image"
            ) {
                assert!(
                    ancestors(plan, id).contains(&verdict),
                    "{host}: {} runs before the verdict\n{plan}",
                    node.action
                );
            }
        }
    }

    #[test]
    fn one_canary_is_watched_and_checked_before_the_other_hosts_boot() {
        let config = testing::config(&["h1", "h2", "h3"]);
        let plan = plan(&config, CanaryHosts::Count(1), Some("./smoke"));
        assert_eq!(
            plan.canary,
            Some(CanaryStage {
                hosts: names(&["h1"]),
                rest: names(&["h2", "h3"]),
                wait_seconds: 30,
                check: Some("./smoke".into()),
            })
        );
        let watch = find(&plan, "h1", "watch canary app-web-v2 for 30s");
        let check = find(&plan, "h1", "run canary check `./smoke` (KAMAL_HOSTS=h1)");
        assert!(ancestors(&plan, watch).contains(&find(&plan, "h1", "stop app-web-v1")));
        assert_eq!(plan.dependencies(check), vec![watch]);
        held_back(&plan, "h2", check);
        held_back(&plan, "h3", check);
        // The canary's `latest` waits for the verdict too; the rollback finds it as it was.
        assert!(ancestors(&plan, find(&plan, "h1", "/app:latest")).contains(&check));
        for (_, node) in plan.actions() {
            let expected = if node.host == "h1" {
                CANARY_SCOPE
            } else {
                &node.host
            };
            assert_eq!(node.scope, expected, "{}", node.action);
        }
    }

    #[test]
    fn a_percentage_rounds_up_and_names_pick_hosts_wherever_they_are() {
        let config = testing::config(&["h1", "h2", "h3"]);
        let stage = |canary| plan(&config, canary, None).canary.expect("a stage");
        assert_eq!(stage(CanaryHosts::Percent(50)).hosts, names(&["h1", "h2"]));
        assert_eq!(stage(CanaryHosts::Percent(10)).hosts, names(&["h1"]));
        let named = plan(&config, CanaryHosts::Named(names(&["h3"])), None);
        let stage = named.canary.clone().expect("a stage");
        assert_eq!(
            (stage.hosts, stage.rest),
            (names(&["h3"]), names(&["h1", "h2"]))
        );
        // Without a check, the watch is the verdict.
        let watch = find(&named, "h3", "watch canary");
        held_back(&named, "h1", watch);
        held_back(&named, "h2", watch);
    }

    #[test]
    fn more_canaries_than_hosts_makes_every_host_a_canary_with_no_second_stage() {
        let config = testing::config(&["h1", "h2"]);
        let plan = plan(&config, CanaryHosts::Count(5), Some("./smoke"));
        let stage = plan.canary.clone().expect("a stage");
        assert_eq!(
            (stage.hosts, stage.rest),
            (names(&["h1", "h2"]), Vec::new())
        );
        let check = find(
            &plan,
            "h1",
            "run canary check `./smoke` (KAMAL_HOSTS=h1,h2)",
        );
        let watches = plan.dependencies(check);
        assert_eq!(watches.len(), 2, "{plan}");
        let text = render::stages_text(plan.canary.as_ref().expect("a stage"));
        assert!(
            text.contains("No stage 2: every host is a canary"),
            "{text}"
        );
    }

    #[test]
    fn boot_limit_groups_the_canaries_and_then_the_rest() {
        let mut config = testing::config(&["h1", "h2", "h3", "h4"]);
        config.boot = Boot {
            limit: Some(BootLimit::Hosts(1)),
            wait: Some(5),
            parallel_roles: false,
        };
        let plan = plan(&config, CanaryHosts::Count(2), Some("./smoke"));
        let run = |host| find(&plan, host, "run app-web-v2");
        let check = find(&plan, "h1", "run canary check");
        // h2 is a canary too, one boot group after h1, `boot.wait` apart.
        let sleep_before_h2 = find(&plan, "h2", "wait 5s before the next boot group");
        assert!(plan.dependencies(run("h2")).contains(&sleep_before_h2));
        assert!(!ancestors(&plan, run("h2")).contains(&check));
        // Stage 2 starts at the verdict, not after a sleep; its groups keep `boot.limit`.
        assert!(plan.dependencies(run("h3")).contains(&check), "{plan}");
        let sleep_before_h4 = find(&plan, "h4", "wait 5s before the next boot group");
        assert!(plan.dependencies(run("h4")).contains(&sleep_before_h4));
        assert!(ancestors(&plan, run("h4")).contains(&run("h3")));
        let watches: Vec<String> = plan
            .dependencies(check)
            .iter()
            .map(|id| plan.node(*id).host.clone())
            .collect();
        assert_eq!(watches, names(&["h1", "h2"]));
    }

    #[test]
    fn a_canary_of_another_role_does_not_wait_for_the_primary_roles_later_stage() {
        // web on h1, h2; workers on h1, h3. h3 is the canary: only workers run there, and the
        // primary role's first host is in stage 2.
        let mut config = testing::config(&["h1", "h2"]);
        config.roles.push(testing::role(
            "workers",
            &["h1", "h3"],
            None,
            Env::default(),
        ));
        let plan = plan(&config, CanaryHosts::Named(names(&["h3"])), None);
        let watch = find(&plan, "h3", "watch canary app-workers-v2");
        held_back(&plan, "h1", watch);
        held_back(&plan, "h2", watch);
        // h1's workers still wait for h1's web, Kamal's barrier within stage 2.
        let web_gate = find(&plan, "h1", "switch route app-web");
        assert!(ancestors(&plan, find(&plan, "h1", "run app-workers-v2")).contains(&web_gate));
    }

    #[test]
    fn the_plan_text_names_both_stages() {
        let config = testing::config(&["h1", "h2", "h3"]);
        let plan = plan(&config, CanaryHosts::Count(1), Some("./smoke"));
        let text = render::render(
            &plan,
            render::RenderOptions::default(),
            &crate::secret::Redactor::default(),
        );
        assert!(
            text.contains("  Stage 1 (canary): h1; watched for 30s, then `./smoke` must pass\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  Stage 2: h2, h3, once the canary passed; if it fails, h1 is rolled back and the run stops\n"
            ),
            "{text}"
        );
    }
}
