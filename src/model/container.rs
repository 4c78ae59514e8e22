//! Containers as gantry wants them ([`ContainerSpec`]) and as a host reports them
//! ([`ContainerDetails`], [`ContainerSummary`]).
//!
//! Both sides describe their options with the same
//! [`ContainerOptions`](super::ContainerOptions), so the diff compares them field by field.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::options::{ContainerOptions, LogConfig, PortBinding, RestartPolicy};
use super::secret::Secret;

/// One row of `docker ps -a`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    pub image: String,
    /// The image's id (`sha256:...`).
    pub image_id: String,
    pub labels: BTreeMap<String, String>,
    pub state: ContainerStatus,
    /// Unix seconds.
    pub created: i64,
    /// The ports it publishes on the host (the rows of `docker ps`'s ports with a host port).
    #[serde(default)]
    pub published_ports: Vec<PortBinding>,
}

/// Docker's container state, as `State.Status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl ContainerStatus {
    /// Parses Docker's word for it; unknown words read as `Dead`, the state gantry trusts least.
    pub fn parse(word: &str) -> Self {
        match word {
            "created" => ContainerStatus::Created,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "restarting" => ContainerStatus::Restarting,
            "removing" => ContainerStatus::Removing,
            "exited" => ContainerStatus::Exited,
            _ => ContainerStatus::Dead,
        }
    }

    /// Running or about to be: what Kamal counts as a live container.
    pub fn is_live(self) -> bool {
        matches!(self, ContainerStatus::Running | ContainerStatus::Restarting)
    }
}

impl fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
        };
        f.write_str(word)
    }
}

/// The health of a container that has a health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Starting,
    Healthy,
    Unhealthy,
}

/// An environment variable's value: clear values may be shown, secrets never.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    Clear(String),
    Secret(Secret),
}

impl EnvValue {
    /// The value to hand to the container.
    pub fn expose(&self) -> &str {
        match self {
            EnvValue::Clear(value) => value,
            EnvValue::Secret(secret) => secret.expose(),
        }
    }

    /// True for values that come from `.kamal/secrets`.
    pub fn is_secret(&self) -> bool {
        matches!(self, EnvValue::Secret(_))
    }
}

/// Everything needed to create one container, as gantry wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    /// Full reference, registry included (`registry.example.com/app:abc123`).
    pub image: String,
    /// `None`: the image's default command.
    pub cmd: Option<Vec<String>>,
    /// Clear values and secrets, as the container will see them.
    pub env: BTreeMap<String, EnvValue>,
    pub labels: BTreeMap<String, String>,
    pub hostname: Option<String>,
    /// The network the container joins (`kamal`).
    pub network: Option<String>,
    pub restart_policy: RestartPolicy,
    pub log_config: LogConfig,
    /// `--volume` arguments with `$PWD` already expanded (`/root/.kamal/...:/assets:ro`).
    pub binds: Vec<String>,
    pub ports: Vec<PortBinding>,
    pub options: ContainerOptions,
}

/// A container as the host reports it (`docker inspect`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDetails {
    pub id: String,
    pub name: String,
    /// The reference the container was created from (`Config.Image`).
    pub image: String,
    /// The image's id (`sha256:...`).
    pub image_id: String,
    /// RFC 3339, as Docker reports it.
    pub created: String,
    pub status: ContainerStatus,
    pub health: Option<Health>,
    pub exit_code: Option<i64>,
    /// RFC 3339; empty when never started.
    pub started_at: String,
    pub cmd: Vec<String>,
    /// `K=V` pairs as Docker stores them: the image's env, then the container's.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub hostname: String,
    /// The networks the container is attached to.
    pub networks: Vec<String>,
    pub restart_policy: RestartPolicy,
    pub log_config: LogConfig,
    pub binds: Vec<String>,
    pub ports: Vec<PortBinding>,
    pub options: ContainerOptions,
}

impl ContainerDetails {
    /// The first 12 characters of the id: what Kamal hands to kamal-proxy as the target.
    pub fn short_id(&self) -> &str {
        self.id.get(..12).unwrap_or(&self.id)
    }
}
