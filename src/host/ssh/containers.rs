//! Containers and networks through the Engine API: list, inspect, create, start, stop, remove,
//! rename; list and create networks. Each method is one request (create network: a look, then
//! one request), converted by `create_body` and `inspect`.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
    RenameContainerOptions, StopContainerOptions,
};

use crate::host::ssh::{SshHost, create_body, inspect};
use crate::host::{ContainerDetails, ContainerFilter, ContainerSpec, ContainerSummary, HostError};

impl SshHost {
    pub(super) async fn docker_list_containers(
        &self,
        filter: &ContainerFilter,
    ) -> Result<Vec<ContainerSummary>, HostError> {
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        if !filter.labels.is_empty() {
            filters.insert("label".into(), filter.labels.clone());
        }
        if let Some(name) = &filter.name {
            filters.insert("name".into(), vec![format!("^/{name}$")]);
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..ListContainersOptions::default()
        };
        let rows = self
            .call(
                "list containers",
                self.settings.command_timeout,
                self.docker.list_containers(Some(options)),
            )
            .await?;
        Ok(rows.into_iter().map(inspect::container_summary).collect())
    }

    pub(super) async fn docker_inspect_container(
        &self,
        id_or_name: &str,
    ) -> Result<Option<ContainerDetails>, HostError> {
        Ok(self
            .call_optional(
                "inspect container",
                self.docker.inspect_container(id_or_name, None),
            )
            .await?
            .map(inspect::container_details))
    }

    pub(super) async fn docker_list_networks(&self) -> Result<Vec<String>, HostError> {
        let networks = self
            .call(
                "list networks",
                self.settings.command_timeout,
                self.docker.list_networks(None::<ListNetworksOptions>),
            )
            .await?;
        let mut names: Vec<String> = networks
            .into_iter()
            .filter_map(|network| network.name)
            .collect();
        names.sort();
        Ok(names)
    }

    pub(super) async fn docker_create_network(&self, name: &str) -> Result<(), HostError> {
        // Docker before 25 happily creates a second network of the same name when the client
        // does not ask it to check; look first.
        if self
            .docker_list_networks()
            .await?
            .iter()
            .any(|network| network == name)
        {
            return Ok(());
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            ..NetworkCreateRequest::default()
        };
        match self
            .call(
                "create network",
                self.settings.command_timeout,
                self.docker.create_network(request),
            )
            .await
        {
            Ok(_) => Ok(()),
            // `docker network create kamal` on a host that has it: Kamal ignores this too.
            Err(HostError::Docker { message, .. }) if message.contains("already exists") => Ok(()),
            Err(error) => Err(error),
        }
    }

    pub(super) async fn docker_create_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<String, HostError> {
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..CreateContainerOptions::default()
        };
        let created = self
            .call(
                "create container",
                self.settings.command_timeout,
                self.docker
                    .create_container(Some(options), create_body::create_body(spec)),
            )
            .await?;
        Ok(created.id)
    }

    pub(super) async fn docker_start(&self, id_or_name: &str) -> Result<(), HostError> {
        self.call(
            "start container",
            self.settings.command_timeout,
            self.docker.start_container(id_or_name, None),
        )
        .await
    }

    pub(super) async fn docker_stop(
        &self,
        id_or_name: &str,
        timeout: Option<Duration>,
    ) -> Result<(), HostError> {
        let options = StopContainerOptions {
            t: timeout.map(|t| i32::try_from(t.as_secs()).unwrap_or(i32::MAX)),
            ..StopContainerOptions::default()
        };
        // Docker waits up to `t` (10 s by default) before killing: give the call that long too.
        let limit = self.settings.command_timeout + timeout.unwrap_or(Duration::from_secs(10));
        self.call(
            "stop container",
            limit,
            self.docker.stop_container(id_or_name, Some(options)),
        )
        .await
    }

    pub(super) async fn docker_remove(&self, id_or_name: &str) -> Result<(), HostError> {
        let options = RemoveContainerOptions {
            force: true,
            ..RemoveContainerOptions::default()
        };
        self.call(
            "remove container",
            self.settings.command_timeout,
            self.docker.remove_container(id_or_name, Some(options)),
        )
        .await
    }

    pub(super) async fn docker_rename(
        &self,
        id_or_name: &str,
        new_name: &str,
    ) -> Result<(), HostError> {
        let options = RenameContainerOptions {
            name: new_name.to_string(),
        };
        self.call(
            "rename container",
            self.settings.command_timeout,
            self.docker.rename_container(id_or_name, options),
        )
        .await
    }
}
