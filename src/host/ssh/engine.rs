//! The Docker half of [`SshHost`]: Engine API calls through bollard, errors mapped to
//! [`HostError`] with the host's name, every call under a deadline.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, DownloadFromContainerOptions,
    ListContainersOptions, ListImagesOptions, ListNetworksOptions, LogsOptions,
    RemoveContainerOptions, RemoveImageOptions, RenameContainerOptions, StopContainerOptions,
    TagImageOptions,
};
use futures_util::StreamExt;

use crate::host::ssh::{SshHost, convert};
use crate::host::split_reference;
use crate::host::{
    CommandOutput, ContainerDetails, ContainerFilter, ContainerSpec, ContainerSummary, HostError,
    ImageDetails, ImageSummary, RegistryAuth,
};

/// Pulls stream for as long as the registry sends; this bounds a stalled one.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

impl SshHost {
    /// An answer from dockerd is a Docker error; failing to reach dockerd at all (the SSH
    /// connection dropped, the socket refused because dockerd is down) makes the host
    /// unreachable for this run.
    fn docker_error(&self, error: bollard::errors::Error) -> HostError {
        match error {
            bollard::errors::Error::DockerResponseServerError { message, .. } => {
                HostError::Docker {
                    host: self.name.clone(),
                    message,
                }
            }
            bollard::errors::Error::DockerStreamError { error } => HostError::Docker {
                host: self.name.clone(),
                message: error,
            },
            other => HostError::Unreachable {
                host: self.name.clone(),
                message: if self.connection_closed() {
                    format!("the SSH connection was lost ({other})")
                } else {
                    format!("cannot reach dockerd: {other}")
                },
            },
        }
    }

    /// Runs one API call under the command deadline.
    async fn call<T>(
        &self,
        operation: &str,
        limit: Duration,
        request: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, HostError> {
        match tokio::time::timeout(limit, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.docker_error(error)),
            Err(_) => Err(HostError::Timeout {
                host: self.name.clone(),
                operation: operation.to_string(),
                seconds: limit.as_secs(),
            }),
        }
    }

    /// Like [`SshHost::call`], with "404 Not Found" read as `None`.
    async fn call_optional<T>(
        &self,
        operation: &str,
        request: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<Option<T>, HostError> {
        let limit = self.settings.command_timeout;
        match tokio::time::timeout(limit, request).await {
            Ok(Ok(value)) => Ok(Some(value)),
            Ok(Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            })) => Ok(None),
            Ok(Err(error)) => Err(self.docker_error(error)),
            Err(_) => Err(HostError::Timeout {
                host: self.name.clone(),
                operation: operation.to_string(),
                seconds: limit.as_secs(),
            }),
        }
    }

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
        Ok(rows.into_iter().map(convert::container_summary).collect())
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
            .map(convert::container_details))
    }

    pub(super) async fn docker_inspect_image(
        &self,
        reference: &str,
    ) -> Result<Option<ImageDetails>, HostError> {
        Ok(self
            .call_optional("inspect image", self.docker.inspect_image(reference))
            .await?
            .map(convert::image_details))
    }

    pub(super) async fn docker_list_images(
        &self,
        label: Option<&str>,
    ) -> Result<Vec<ImageSummary>, HostError> {
        let filters =
            label.map(|label| HashMap::from([("label".to_string(), vec![label.to_string()])]));
        let options = ListImagesOptions {
            filters,
            ..ListImagesOptions::default()
        };
        let rows = self
            .call(
                "list images",
                self.settings.command_timeout,
                self.docker.list_images(Some(options)),
            )
            .await?;
        Ok(rows.into_iter().map(convert::image_summary).collect())
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

    pub(super) async fn docker_pull(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<(), HostError> {
        let (image, tag) = split_reference(reference);
        let options = CreateImageOptions {
            from_image: Some(image.to_string()),
            tag: Some(tag.unwrap_or("latest").to_string()),
            ..CreateImageOptions::default()
        };
        let credentials = auth.map(|auth| DockerCredentials {
            username: Some(auth.username.clone()),
            password: Some(auth.password.expose().to_string()),
            serveraddress: Some(auth.server.clone()),
            ..DockerCredentials::default()
        });
        let pull = async {
            let mut stream = self.docker.create_image(Some(options), None, credentials);
            while let Some(progress) = stream.next().await {
                let progress = progress?;
                if let Some(error) = progress.error_detail.and_then(|detail| detail.message) {
                    return Err(bollard::errors::Error::DockerStreamError { error });
                }
            }
            Ok(())
        };
        self.call(&format!("pull {reference}"), PULL_TIMEOUT, pull)
            .await
    }

    pub(super) async fn docker_tag(&self, source: &str, target: &str) -> Result<(), HostError> {
        let (repo, tag) = split_reference(target);
        let options = TagImageOptions {
            repo: Some(repo.to_string()),
            tag: tag.map(str::to_string),
        };
        self.call(
            "tag image",
            self.settings.command_timeout,
            self.docker.tag_image(source, Some(options)),
        )
        .await
    }

    pub(super) async fn docker_remove_image(
        &self,
        reference: &str,
        force: bool,
    ) -> Result<(), HostError> {
        let options = RemoveImageOptions {
            force,
            ..RemoveImageOptions::default()
        };
        self.call(
            "remove image",
            self.settings.command_timeout,
            self.docker.remove_image(reference, Some(options), None),
        )
        .await
        .map(|_| ())
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
                    .create_container(Some(options), convert::create_body(spec)),
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
            t: timeout.map(|t| t.as_secs() as i32),
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

    pub(super) async fn docker_exec(
        &self,
        container: &str,
        argv: &[String],
    ) -> Result<CommandOutput, HostError> {
        let run = async {
            let exec = self
                .docker
                .create_exec(
                    container,
                    CreateExecOptions {
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        cmd: Some(argv.to_vec()),
                        ..CreateExecOptions::default()
                    },
                )
                .await?;
            let mut output = CommandOutput::default();
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = self.docker.start_exec(&exec.id, None).await?
            {
                while let Some(chunk) = stream.next().await {
                    match chunk? {
                        bollard::container::LogOutput::StdErr { message } => {
                            output.stderr.push_str(&String::from_utf8_lossy(&message));
                        }
                        other => output.stdout.push_str(&other.to_string()),
                    }
                }
            }
            output.exit_code = self
                .docker
                .inspect_exec(&exec.id)
                .await?
                .exit_code
                .unwrap_or(-1);
            Ok(output)
        };
        // kamal-proxy deploy waits for health and drain: give it the longest deadline.
        self.call("exec", PULL_TIMEOUT, run).await
    }

    pub(super) async fn docker_read_file(
        &self,
        container: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, HostError> {
        let options = DownloadFromContainerOptions {
            path: path.to_string(),
        };
        let download = async {
            let mut stream = self
                .docker
                .download_from_container(container, Some(options));
            let mut archive = Vec::new();
            while let Some(chunk) = stream.next().await {
                archive.extend_from_slice(&chunk?);
            }
            Ok(archive)
        };
        let Some(archive) = self.call_optional("read file", download).await? else {
            return Ok(None);
        };
        let mut entries = tar::Archive::new(archive.as_slice());
        let mut contents = Vec::new();
        let read = entries.entries().and_then(|mut entries| {
            if let Some(entry) = entries.next() {
                std::io::Read::read_to_end(&mut entry?, &mut contents)?;
            }
            Ok(())
        });
        read.map_err(|error| HostError::Docker {
            host: self.name.clone(),
            message: format!("reading {path} from {container}: {error}"),
        })?;
        Ok(Some(contents))
    }

    pub(super) async fn docker_logs(
        &self,
        container: &str,
        tail: usize,
    ) -> Result<String, HostError> {
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            tail: tail.to_string(),
            ..LogsOptions::default()
        };
        let collect = async {
            let mut stream = self.docker.logs(container, Some(options));
            let mut text = String::new();
            while let Some(chunk) = stream.next().await {
                text.push_str(&chunk?.to_string());
            }
            Ok(text)
        };
        self.call("logs", self.settings.command_timeout, collect)
            .await
    }
}
