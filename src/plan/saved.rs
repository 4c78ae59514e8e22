//! Saved plans (`gantry plan -o FILE`, `gantry apply FILE`), Terraform's sealed plan.
//!
//! A saved plan records what it was made from (configuration file, destination, version, host
//! and role filters, options), a fingerprint of every host's observed state, and the plan's
//! canonical text with its fingerprint. `apply FILE` observes again and refuses when any host
//! changed since (a stale plan), then plans again from the same inputs and refuses unless it gets
//! exactly the saved plan (the configuration or a secret changed). What runs is therefore
//! exactly what was shown. The file holds no secret values: only fingerprints and plan text.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::observe::{Observed, ObservedHost};
use crate::plan::Plan;

/// The format of saved plan files.
pub const SAVED_PLAN_FORMAT: u32 = 1;

/// What a plan was made from: everything `apply FILE` needs to plan again identically.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInputs {
    pub config_file: String,
    pub destination: Option<String>,
    pub version: String,
    pub hosts: Vec<String>,
    pub roles: Vec<String>,
    pub reboot_proxy: bool,
    pub recreate_accessories: bool,
    pub atomic: bool,
}

/// A plan on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: u32,
    pub gantry_version: String,
    pub inputs: PlanInputs,
    /// Per host, a fingerprint of what was observed there.
    pub host_fingerprints: std::collections::BTreeMap<String, String>,
    pub plan_fingerprint: String,
    /// The canonical text of the plan, for people and for the comparison.
    pub plan_text: String,
}

/// Why a saved plan cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SavedPlanError {
    #[error("the saved plan file is not valid: {0}")]
    Invalid(String),
    #[error("the saved plan was made by a newer gantry (format {0})")]
    UnknownFormat(u32),
    #[error("the saved plan is stale: {0} changed since the plan was made")]
    Stale(String),
    #[error("the configuration or secrets changed since the plan was made; the plan now differs")]
    PlanDiffers,
}

impl SavedPlan {
    /// A saved plan for `plan`, made from `inputs` against `observed`.
    pub fn new(plan: &Plan, inputs: PlanInputs, observed: &Observed) -> Self {
        let plan_text = plan.to_string();
        SavedPlan {
            format: SAVED_PLAN_FORMAT,
            gantry_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs,
            host_fingerprints: host_fingerprints(observed),
            plan_fingerprint: text_fingerprint(&plan_text),
            plan_text,
        }
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Reads a saved plan.
    pub fn parse(text: &str) -> Result<SavedPlan, SavedPlanError> {
        let saved: SavedPlan = serde_json::from_str(text)
            .map_err(|error| SavedPlanError::Invalid(error.to_string()))?;
        if saved.format != SAVED_PLAN_FORMAT {
            return Err(SavedPlanError::UnknownFormat(saved.format));
        }
        Ok(saved)
    }

    /// Refuses when any host changed since the plan was made, naming them.
    pub fn check_observed(&self, observed: &Observed) -> Result<(), SavedPlanError> {
        let now = host_fingerprints(observed);
        let mut changed: Vec<&str> = now
            .iter()
            .filter(|(host, fingerprint)| self.host_fingerprints.get(*host) != Some(*fingerprint))
            .map(|(host, _)| host.as_str())
            .collect();
        changed.extend(
            self.host_fingerprints
                .keys()
                .filter(|host| !now.contains_key(*host))
                .map(String::as_str),
        );
        if changed.is_empty() {
            Ok(())
        } else {
            Err(SavedPlanError::Stale(changed.join(", ")))
        }
    }

    /// Refuses unless `plan` is exactly the saved one.
    pub fn check_plan(&self, plan: &Plan) -> Result<(), SavedPlanError> {
        if text_fingerprint(&plan.to_string()) == self.plan_fingerprint {
            Ok(())
        } else {
            Err(SavedPlanError::PlanDiffers)
        }
    }
}

/// Per host, SHA-256 over its observed state, with what changes by itself left out (health
/// checks that flip between probes, the deploy lock and journal), so an untouched host
/// fingerprints the same twice.
pub fn host_fingerprints(observed: &Observed) -> std::collections::BTreeMap<String, String> {
    observed
        .hosts
        .iter()
        .map(|(name, host)| (name.clone(), host_fingerprint(host)))
        .collect()
}

fn host_fingerprint(host: &ObservedHost) -> String {
    let mut stable = host.clone();
    {
        if let ObservedHost::Reachable(state) = &mut stable {
            // The lock and journal are the runs' bookkeeping, not what a plan changes: `apply`
            // holds the lock when it looks again.
            state.lock = None;
            state.journal = None;
            for container in state
                .app_containers
                .iter_mut()
                .chain(state.accessories.iter_mut())
                .chain(state.proxy.iter_mut())
            {
                container.details.health = None;
            }
        }
    }
    text_fingerprint(&serde_json::to_string(&stable).unwrap_or_default())
}

fn text_fingerprint(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}
