//! The actions of one app deployment (pull, run or start, gate, retire) and of one accessory
//! boot; rule 5 of `build`'s module docs is here: the gate comes before any stop.

use crate::diff::{
    AccessoryBoot, AppDeployment, AssetBridge, OlderVersions, PreviousRoute, StartMode,
};
use crate::plan::build::{Builder, HostNodes, RoleDeploy};
use crate::plan::{Action, ActionId, ContainerTarget};

impl Builder<'_> {
    /// One role's deployment on one host: pull, label check, start, gate, retire, prune.
    pub(super) fn app(
        &mut self,
        host: &str,
        at: (usize, usize),
        deployment: &AppDeployment,
        nodes: &mut HostNodes,
    ) {
        let spec = &deployment.spec;
        let mut before_start = Vec::new();
        let pull = deployment
            .pull
            .as_ref()
            .map(|pull| self.pull(host, at, &pull.image, pull.auth.clone(), nodes));
        before_start.extend(pull);
        if let Some(assets) = &deployment.assets {
            // The assets are in place before the container that mounts them starts.
            before_start.push(self.assets(host, at, assets, pull, &deployment.start));
        }
        if !matches!(deployment.start, StartMode::StartExisting(_)) {
            // After the pull, before the container: where Kamal checks the label.
            let check = self.add(
                host,
                at,
                Action::CheckServiceLabel {
                    image: spec.image.clone(),
                    service: deployment.service_label.clone(),
                },
                None,
            );
            self.edges(&before_start, check);
            before_start.push(check);
        }
        let start = self.app_start(host, at, deployment, &mut before_start);
        // Rule 2: the image and the env file come first.
        self.edges(&before_start, start);
        if !matches!(deployment.start, StartMode::StartExisting(_)) {
            nodes.container_creators.push(start);
            nodes.app_creators.push(start);
        }
        self.app_starts.push(start);

        // Rule 5: the new container is ready before anything of the old one stops.
        let gate = self.app_gate(host, at, deployment, nodes);
        self.edge(start, gate);
        let finals = self.retire(host, at, deployment, gate);
        for older in &deployment.prune_versions {
            // After the old containers stopped, as Kamal cleans up; best effort, like removals.
            let id = self.prune_older_versions(host, at, older, nodes);
            self.edges(&finals, id);
        }
        nodes.roles.push((start, finals.clone()));
        self.role_deploys
            .entry(deployment.role.clone())
            .or_default()
            .push(RoleDeploy {
                host: host.to_string(),
                primary: deployment.primary,
                start,
                gate,
                container: spec.name.clone(),
                finals,
            });
    }

    /// The new container's start: run it, start the stopped one of the same version, or rename
    /// the clashing one out of the way first (that rename joins `before_start`).
    fn app_start(
        &mut self,
        host: &str,
        at: (usize, usize),
        deployment: &AppDeployment,
        before_start: &mut Vec<ActionId>,
    ) -> ActionId {
        let spec = &deployment.spec;
        match &deployment.start {
            StartMode::Create => {
                self.run_app_container(host, at, spec.clone(), deployment.stop_timeout)
            }
            StartMode::StartExisting(container) => {
                let start = Action::StartContainer {
                    container: container.clone(),
                };
                let stop = Action::StopContainer {
                    container: ContainerTarget::Existing(container.clone()),
                    timeout: deployment.stop_timeout,
                };
                self.add(host, at, start, Some(stop))
            }
            StartMode::RenameAndCreate {
                existing,
                rename_to,
            } => {
                let rename = Action::RenameContainer {
                    container: existing.clone(),
                    new_name: rename_to.clone(),
                };
                // Not renamed back on a rollback: the new container, kept stopped, holds the
                // name (Kamal leaves the `_replaced_` name too).
                before_start.push(self.add(host, at, rename, None));
                self.run_app_container(host, at, spec.clone(), deployment.stop_timeout)
            }
        }
    }

    /// What says the new container is ready: its route deployed (kamal-proxy's health check), or
    /// Docker's health check for a role without the proxy.
    fn app_gate(
        &mut self,
        host: &str,
        at: (usize, usize),
        deployment: &AppDeployment,
        nodes: &mut HostNodes,
    ) -> ActionId {
        let container = deployment.spec.name.clone();
        if let Some(route) = &deployment.route {
            let target = ContainerTarget::Named(container);
            let id = self.deploy_route(host, at, route, target, &deployment.previous_route);
            nodes.route_deploys.push(id);
            return id;
        }
        let (timeout, readiness_delay) = match deployment.readiness {
            crate::desired::Readiness::Docker {
                timeout,
                readiness_delay,
            } => (timeout, readiness_delay),
            crate::desired::Readiness::Proxy => (30, 0),
        };
        let wait = Action::WaitReady {
            container,
            timeout,
            readiness_delay,
        };
        self.add(host, at, wait, None)
    }

    /// The old containers' stops, after the gate; started again on rollback. The deployment's
    /// last actions: the stops, or the gate when nothing is retired.
    fn retire(
        &mut self,
        host: &str,
        at: (usize, usize),
        deployment: &AppDeployment,
        gate: ActionId,
    ) -> Vec<ActionId> {
        let mut finals = Vec::new();
        for old in &deployment.retire {
            let stop = Action::StopContainer {
                container: ContainerTarget::Existing(old.clone()),
                timeout: deployment.stop_timeout,
            };
            let start = Action::StartContainer {
                container: old.clone(),
            };
            let stop = self.add(host, at, stop, Some(start));
            self.edge(gate, stop);
            finals.push(stop);
        }
        if finals.is_empty() {
            finals.push(gate);
        }
        finals
    }

    pub(super) fn accessory(
        &mut self,
        host: &str,
        at: (usize, usize),
        boot: &AccessoryBoot,
        nodes: &mut HostNodes,
    ) {
        let mut before = Vec::new();
        for directory in &boot.directories {
            before.push(self.add(
                host,
                at,
                Action::MakeDirectory {
                    directory: directory.clone(),
                },
                None,
            ));
        }
        for file in &boot.files {
            before.push(self.add(host, at, Action::WriteFile { file: file.clone() }, None));
        }
        if let Some(pull) = &boot.pull {
            before.push(self.pull(host, at, &pull.image, pull.auth.clone(), nodes));
        }
        if let Some(old) = &boot.replaces {
            // Recreating an accessory is asked for explicitly; its data lives in volumes and
            // directories that the removal leaves alone.
            before.push(self.add(
                host,
                at,
                Action::RemoveContainer {
                    container: ContainerTarget::Existing(old.clone()),
                    stop_first: true,
                },
                None,
            ));
        }
        let run = self.add(
            host,
            at,
            Action::RunContainer {
                spec: Box::new(boot.spec.clone()),
            },
            None,
        );
        self.edges(&before, run);
        nodes.container_creators.push(run);
        let mut last = run;
        if let Some(route) = &boot.route {
            let id = self.deploy_route(
                host,
                at,
                route,
                ContainerTarget::Named(boot.spec.name.clone()),
                &PreviousRoute::Absent,
            );
            self.edge(run, id);
            nodes.route_deploys.push(id);
            last = id;
        }
        self.accessory_finals.push(last);
    }

    /// Extraction, then the merge; returns the merge. Undone by removing this version's
    /// directories when the container is new (nothing else mounts them then).
    fn assets(
        &mut self,
        host: &str,
        at: (usize, usize),
        assets: &AssetBridge,
        pull: Option<ActionId>,
        start: &StartMode,
    ) -> ActionId {
        let undo = |path: &str| match start {
            StartMode::Create => Some(Action::RemovePath {
                path: path.to_string(),
            }),
            _ => None,
        };
        let extract = self.add(
            host,
            at,
            Action::ExtractAssets {
                image: assets.image.clone(),
                container: assets.container.clone(),
                asset_path: assets.asset_path.clone(),
                directory: assets.extracted.clone(),
            },
            undo(&assets.extracted),
        );
        if let Some(pull) = pull {
            self.edge(pull, extract);
        }
        let merge = self.add(
            host,
            at,
            Action::MergeAssets {
                merges: assets.merges.clone(),
            },
            undo(&assets.volume),
        );
        self.edge(extract, merge);
        merge
    }

    /// One clean-up per directory and host, however many roles ask for it.
    fn prune_older_versions(
        &mut self,
        host: &str,
        at: (usize, usize),
        older: &OlderVersions,
        nodes: &mut HostNodes,
    ) -> ActionId {
        if let Some(&id) = nodes.prunes.get(older) {
            return id;
        }
        let id = self.add_best_effort(
            host,
            at,
            Action::RemoveOlderVersions {
                directory: older.directory.clone(),
                prefix: older.prefix.clone(),
                keep: older.keep.clone(),
            },
        );
        nodes.prunes.insert(older.clone(), id);
        nodes.path_removals.push(id);
        id
    }
}
