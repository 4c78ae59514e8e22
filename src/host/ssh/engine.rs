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
use tracing::Instrument;

use crate::host::ssh::{SshHost, create_body, inspect};
use crate::host::{
    CommandOutput, ContainerDetails, ContainerFilter, ContainerSpec, ContainerSummary, HostError,
    ImageDetails, ImageSummary, RegistryAuth,
};

/// Pulls stream for as long as the registry sends; this bounds a stalled one. bollard's own
/// timeout covers only the response headers.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// `docker exec` runs kamal-proxy's `deploy`, which waits for health checks and draining.
const EXEC_TIMEOUT: Duration = Duration::from_secs(600);

/// `repo:tag` split as Docker does: a `:` after the last `/` starts the tag.
pub fn split_reference(reference: &str) -> (&str, Option<&str>) {
    let last_slash = reference.rfind('/').map_or(0, |index| index + 1);
    match reference[last_slash..].rfind(':') {
        Some(colon) if !reference.contains('@') => {
            let colon = last_slash + colon;
            (&reference[..colon], Some(&reference[colon + 1..]))
        }
        _ => (reference, None),
    }
}

impl SshHost {
    /// An answer from dockerd (an error status, an error in a stream, a body gantry cannot read)
    /// is a Docker error: the request failed. Failing to reach dockerd at all (the SSH
    /// connection dropped, the socket refused because dockerd is down) makes the host
    /// unreachable for this run.
    fn docker_error(&self, operation: &str, error: bollard::errors::Error) -> HostError {
        use bollard::errors::Error;
        let docker = |message: String| HostError::Docker {
            host: self.name.clone(),
            message: format!("{operation}: {message}"),
        };
        match error {
            Error::DockerResponseServerError { message, .. } => docker(message),
            Error::DockerStreamError { error } => docker(error),
            error @ (Error::JsonDataError { .. }
            | Error::JsonSerdeError { .. }
            | Error::DockerContainerWaitError { .. }
            | Error::APIVersionParseError { .. }
            | Error::StrParseError { .. }
            | Error::StrFmtError { .. }
            | Error::URLEncodedError { .. }
            | Error::URLParseError { .. }
            | Error::InvalidURIError { .. }
            | Error::InvalidURIPartsError { .. }
            | Error::HttpHeaderNotFoundError(_)
            | Error::HttpHeaderToStrError { .. }) => docker(error.to_string()),
            Error::RequestTimeoutError => HostError::Timeout {
                host: self.name.clone(),
                operation: operation.to_string(),
                seconds: self.settings.command_timeout.as_secs(),
            },
            other => HostError::Unreachable {
                host: self.name.clone(),
                message: if self.connection_closed() {
                    format!("{operation}: the SSH connection was lost ({other})")
                } else {
                    format!("{operation}: cannot reach dockerd: {other}")
                },
            },
        }
    }

    fn timed_out(&self, operation: &str, limit: Duration) -> HostError {
        if self.connection_closed() {
            return HostError::Unreachable {
                host: self.name.clone(),
                message: format!("{operation}: the SSH connection was lost"),
            };
        }
        HostError::Timeout {
            host: self.name.clone(),
            operation: operation.to_string(),
            seconds: limit.as_secs(),
        }
    }

    /// Runs one API call (streamed bodies included) under `limit`, in a span naming the host.
    async fn call<T>(
        &self,
        operation: &str,
        limit: Duration,
        request: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<T, HostError> {
        let span = tracing::debug_span!("docker", host = %self.name, operation);
        match tokio::time::timeout(limit, request).instrument(span).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.docker_error(operation, error)),
            Err(_) => Err(self.timed_out(operation, limit)),
        }
    }

    /// Like [`SshHost::call`] under the command deadline, with "404 Not Found" read as `None`.
    async fn call_optional<T>(
        &self,
        operation: &str,
        request: impl Future<Output = Result<T, bollard::errors::Error>>,
    ) -> Result<Option<T>, HostError> {
        let not_found_is_none = async {
            match request.await {
                Ok(value) => Ok(Some(value)),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => Ok(None),
                Err(error) => Err(error),
            }
        };
        self.call(operation, self.settings.command_timeout, not_found_is_none)
            .await
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

    pub(super) async fn docker_inspect_image(
        &self,
        reference: &str,
    ) -> Result<Option<ImageDetails>, HostError> {
        Ok(self
            .call_optional("inspect image", self.docker.inspect_image(reference))
            .await?
            .map(inspect::image_details))
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
        Ok(rows.into_iter().map(inspect::image_summary).collect())
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
        self.call("exec", EXEC_TIMEOUT, run).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_colon_only() {
        assert_eq!(split_reference("app:v1"), ("app", Some("v1")));
        assert_eq!(
            split_reference("10.0.0.1:5000/app:v1"),
            ("10.0.0.1:5000/app", Some("v1"))
        );
        assert_eq!(
            split_reference("10.0.0.1:5000/app"),
            ("10.0.0.1:5000/app", None)
        );
        assert_eq!(split_reference("busybox"), ("busybox", None));
    }
}
