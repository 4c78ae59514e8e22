//! Images: their configuration, a tag listing, the credentials a pull sends, and how a
//! reference splits into repository and tag.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::options::HealthcheckConfig;
use super::secret::Secret;

/// An image's own configuration, the defaults a container inherits.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageDetails {
    pub id: String,
    pub repo_tags: Vec<String>,
    /// `<repository>@sha256:...` of each registry manifest the image was pulled as: what tells
    /// whether a tag moved in the registry since the pull.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub healthcheck: Option<HealthcheckConfig>,
    pub exposed_ports: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub stop_signal: String,
}

/// One image with its tags (`docker image ls`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Unix seconds.
    pub created: i64,
}

/// Credentials for one registry, sent with a pull and never stored on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryAuth {
    pub server: String,
    pub username: String,
    pub password: Secret,
}

/// `repo:tag` split as Docker splits it: a `:` after the last `/` starts the tag (a registry's
/// port comes before the last `/`); references by digest are not split.
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
