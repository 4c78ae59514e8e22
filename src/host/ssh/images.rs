//! Images through the Engine API: inspect, list, pull (with per-request registry credentials,
//! never `docker login` on the host), tag, remove.
//!
//! A pull streams progress for as long as the registry sends, tallied for
//! [`Host::pull_progress`](crate::host::Host::pull_progress); an error can arrive inside that
//! stream with a 200 status, and it fails the pull all the same.

use std::collections::HashMap;
use std::time::Duration;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{
    CreateImageOptions, ListImagesOptions, RemoveImageOptions, TagImageOptions,
};
use futures_util::StreamExt;

use crate::host::ssh::pull_tally::{PullEntry, PullTally};
use crate::host::ssh::{SshHost, inspect};
use crate::host::{HostError, ImageDetails, ImageSummary, RegistryAuth, split_reference};

/// Pulls stream for as long as the registry sends; this bounds a stalled one. bollard's own
/// timeout covers only the response headers.
const PULL_TIMEOUT: Duration = Duration::from_secs(600);

/// How long observe waits for a registry to name a tag's digest; it runs beside the container
/// inspects, so a slow registry delays the plan by at most this.
const REGISTRY_DIGEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Credentials as the Engine API takes them, per request.
fn credentials(auth: &RegistryAuth) -> DockerCredentials {
    DockerCredentials {
        username: Some(auth.username.clone()),
        password: Some(auth.password.expose().to_string()),
        serveraddress: Some(auth.server.clone()),
        ..DockerCredentials::default()
    }
}

impl SshHost {
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

    pub(super) async fn docker_pull(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<(), HostError> {
        let (image, tag) = split_reference(reference);
        let by_digest = reference.contains('@');
        let options = CreateImageOptions {
            from_image: Some(image.to_string()),
            // Without a tag the daemon pulls every tag of the repository.
            tag: (!by_digest).then(|| tag.unwrap_or("latest").to_string()),
            ..CreateImageOptions::default()
        };
        let pull = async {
            let _entry = PullEntry {
                pulls: &self.pulls_under_way,
                reference,
            };
            let mut tally = PullTally::default();
            let mut stream = self
                .docker
                .create_image(Some(options), None, auth.map(credentials));
            while let Some(message) = stream.next().await {
                let message = message?;
                if let Some(error) = message.error_detail.and_then(|detail| detail.message) {
                    return Err(bollard::errors::Error::DockerStreamError { error });
                }
                let detail = message.progress_detail.unwrap_or_default();
                tally.record(
                    message.id.as_deref(),
                    message.status.as_deref(),
                    detail.current,
                    detail.total,
                );
                self.pulls_under_way.update(reference, tally.progress());
            }
            Ok(())
        };
        self.call(&format!("pull {reference}"), PULL_TIMEOUT, pull)
            .await
    }

    /// A registry that does not answer within [`REGISTRY_DIGEST_TIMEOUT`] is a failed request,
    /// not a lost host: dockerd, and the connection to it, still answer.
    pub(super) async fn docker_registry_digest(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
    ) -> Result<Option<String>, HostError> {
        let request = self.call_optional(
            "ask the registry",
            self.docker
                .inspect_registry_image(reference, auth.map(credentials)),
        );
        match tokio::time::timeout(REGISTRY_DIGEST_TIMEOUT, request).await {
            Ok(Ok(inspect)) => Ok(inspect.and_then(|inspect| inspect.descriptor.digest)),
            Ok(Err(error)) if !matches!(error, HostError::Timeout { .. }) => Err(error),
            Ok(Err(_)) | Err(_) => Err(HostError::Command {
                host: self.name.clone(),
                message: format!(
                    "the registry did not give the digest of {reference} within {}s",
                    REGISTRY_DIGEST_TIMEOUT.as_secs()
                ),
            }),
        }
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
}
