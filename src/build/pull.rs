//! `build pull` on one host, as Kamal's `pull_on_hosts` does it: drop the local copy of the
//! image (so the pull asks the registry again), pull it, and check that it is the service's
//! image (its `service` label), which is what `deploy` would refuse to run otherwise.

use crate::host::{Host, HostError};
use crate::model::RegistryAuth;
use crate::naming::LABEL_SERVICE;

/// Why the pull on a host failed.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Host(#[from] HostError),
    #[error("{host}: image {image} is missing the '{LABEL_SERVICE}' label {service}")]
    NotTheService {
        host: String,
        image: String,
        service: String,
    },
}

/// Pulls `image` on `host` afresh and checks its `service` label.
pub async fn pull_on_host(
    host: &dyn Host,
    image: &str,
    auth: Option<&RegistryAuth>,
    service: &str,
) -> Result<(), PullError> {
    // Absent is fine: a first pull.
    let _ = host.remove_image(image, true).await;
    host.pull_image(image, auth).await?;
    let labelled = host.inspect_image(image).await?.is_some_and(|details| {
        details.labels.get(LABEL_SERVICE).map(String::as_str) == Some(service)
    });
    if labelled {
        Ok(())
    } else {
        Err(PullError::NotTheService {
            host: host.name().to_string(),
            image: image.to_string(),
            service: service.to_string(),
        })
    }
}
