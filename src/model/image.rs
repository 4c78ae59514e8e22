//! Images: their configuration, a tag listing, the credentials a pull sends, how far a pull
//! has come, and how a reference splits into repository and tag.

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

/// How far a pull under way has come, as the registry's stream tells it: layers done of the
/// layers the image has, bytes downloaded of the bytes announced so far. A layer the host
/// already has counts as done and adds no bytes; a layer's size is announced only when its
/// download starts, so `bytes` can grow while the pull runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    pub layers_done: usize,
    pub layers: usize,
    pub bytes_done: u64,
    pub bytes: u64,
}

impl std::fmt::Display for PullProgress {
    /// `3/7 layers, 12.4 of 45.1 MB`; bytes only once a download has announced its size, both
    /// figures in the unit of the total.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{} layers", self.layers_done, self.layers)?;
        if self.bytes == 0 {
            return Ok(());
        }
        let (scale, unit) = [(1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
            .into_iter()
            .find(|(scale, _)| self.bytes as f64 >= *scale)
            .unwrap_or((1.0, "B"));
        if scale == 1.0 {
            write!(f, ", {} of {} B", self.bytes_done, self.bytes)
        } else {
            let done = self.bytes_done as f64 / scale;
            let total = self.bytes as f64 / scale;
            write!(f, ", {done:.1} of {total:.1} {unit}")
        }
    }
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

    #[test]
    fn pull_progress_reads_as_layers_then_megabytes() {
        let waiting = PullProgress {
            layers_done: 1,
            layers: 3,
            ..PullProgress::default()
        };
        assert_eq!(waiting.to_string(), "1/3 layers");
        let downloading = PullProgress {
            layers_done: 1,
            layers: 3,
            bytes_done: 12_400_000,
            bytes: 45_060_000,
        };
        assert_eq!(downloading.to_string(), "1/3 layers, 12.4 of 45.1 MB");
        let small = PullProgress {
            bytes_done: 0,
            bytes: 312,
            ..downloading
        };
        assert_eq!(small.to_string(), "1/3 layers, 0 of 312 B");
        let kilobytes = PullProgress {
            bytes_done: 1_500,
            bytes: 2_000,
            ..downloading
        };
        assert_eq!(kilobytes.to_string(), "1/3 layers, 1.5 of 2.0 kB");
        let gigabytes = PullProgress {
            bytes_done: 250_000_000,
            bytes: 1_200_000_000,
            ..downloading
        };
        assert_eq!(gigabytes.to_string(), "1/3 layers, 0.2 of 1.2 GB");
    }
}
