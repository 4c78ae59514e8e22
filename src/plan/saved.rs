//! Saved plans (`gantry plan -o FILE`, `gantry apply FILE`), Terraform's sealed plan.
//!
//! A saved plan records what it was made from (configuration file, destination, version, host
//! and role filters, options), a fingerprint of every host's observed state, the plan's
//! canonical text, and its sealed text: every field of every action (container specs, route
//! options, files, dependencies, compensations), with each secret value an action carries
//! (env files, a container's secret env, registry passwords) as a digest. `apply FILE` refuses
//! when the configuration file or destination is not the plan's, observes again and refuses
//! when any host changed since (a stale plan), then plans again from the same inputs and
//! refuses unless it gets exactly the saved sealed text, showing the difference as a diff. The
//! action-list text alone would not do: for a new version every container is replaced whatever
//! its env, volumes or options, so the list reads the same after they change. What runs is
//! therefore exactly what was shown. The file holds no secret values: only digests and text.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::EnvValue;
use crate::observe::{Observed, ObservedHost};
use crate::plan::{Action, Plan};

/// The format of saved plan files: 2 added the sealed text.
pub const SAVED_PLAN_FORMAT: u32 = 2;

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
    /// SHA-256 of `sealed_text`.
    pub plan_fingerprint: String,
    /// The canonical text of the plan, for people.
    pub plan_text: String,
    /// Every field of every action, secret values as digests: what `apply FILE` compares.
    pub sealed_text: String,
}

/// Why a saved plan cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SavedPlanError {
    #[error("the saved plan file is not valid: {0}")]
    Invalid(String),
    #[error("the saved plan has format {0}; this gantry reads format {SAVED_PLAN_FORMAT} only")]
    UnknownFormat(u32),
    #[error("the saved plan was made for {saved}, not {now}")]
    OtherInputs { saved: String, now: String },
    #[error("the saved plan is stale: {0} changed since the plan was made")]
    Stale(String),
    #[error(
        "the configuration or secrets changed since the plan was made; the plan now differs \
         (- saved, + now):\n{diff}"
    )]
    PlanDiffers { diff: String },
}

impl SavedPlan {
    /// A saved plan for `plan`, made from `inputs` against `observed`.
    pub fn new(plan: &Plan, inputs: PlanInputs, observed: &Observed) -> Self {
        let sealed_text = sealed_text(plan);
        SavedPlan {
            format: SAVED_PLAN_FORMAT,
            gantry_version: env!("CARGO_PKG_VERSION").to_string(),
            inputs,
            host_fingerprints: host_fingerprints(observed),
            plan_fingerprint: text_fingerprint(&sealed_text),
            plan_text: plan.to_string(),
            sealed_text,
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

    /// Refuses unless the plan was made from this configuration file and destination.
    pub fn check_inputs(
        &self,
        config_file: &str,
        destination: Option<&str>,
    ) -> Result<(), SavedPlanError> {
        let describe = |file: &str, destination: Option<&str>| match destination {
            Some(destination) => format!("{file} with destination {destination}"),
            None => format!("{file} without a destination"),
        };
        let saved = (
            self.inputs.config_file.as_str(),
            self.inputs.destination.as_deref(),
        );
        if saved == (config_file, destination) {
            Ok(())
        } else {
            Err(SavedPlanError::OtherInputs {
                saved: describe(saved.0, saved.1),
                now: describe(config_file, destination),
            })
        }
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

    /// Refuses unless `plan` is exactly the saved one, field for field and secret for secret.
    pub fn check_plan(&self, plan: &Plan) -> Result<(), SavedPlanError> {
        let now = sealed_text(plan);
        if text_fingerprint(&now) == self.plan_fingerprint && now == self.sealed_text {
            return Ok(());
        }
        let diff = similar::TextDiff::from_lines(&self.sealed_text, &now)
            .unified_diff()
            .context_radius(2)
            .to_string();
        Err(SavedPlanError::PlanDiffers { diff })
    }
}

/// The plan as `apply` would run it: its canonical text, then per action (in plan order) its
/// host, scope, dependencies, best-effort flag and every field of the action and of its
/// compensation, with the secret values each carries as one digest.
pub fn sealed_text(plan: &Plan) -> String {
    let mut text = plan.to_string();
    for (id, node) in plan.actions() {
        let after: Vec<usize> = plan
            .dependencies(id)
            .into_iter()
            .map(|dependency| plan.number(dependency))
            .collect();
        let _ = writeln!(
            text,
            "\n#{} on {} (scope {}, after {after:?}, best effort {})",
            plan.number(id),
            node.host,
            node.scope,
            node.best_effort
        );
        write_action(&mut text, "do", &node.action);
        if let Some(compensation) = &node.compensation {
            write_action(&mut text, "undo", compensation);
        }
    }
    text
}

fn write_action(text: &mut String, label: &str, action: &Action) {
    let _ = writeln!(text, "{label}: {action:#?}");
    if let Some(digest) = secret_digest(action) {
        let _ = writeln!(text, "{label} file contents and secret values: {digest}");
    }
}

/// SHA-256 (first 16 hex digits) over the file contents and secret values `action` carries,
/// which its `Debug` form shows only as `[REDACTED]`: a rotated secret changes the sealed text, its value never
/// appears there.
fn secret_digest(action: &Action) -> Option<String> {
    let mut values: Vec<(&str, &[u8])> = Vec::new();
    match action {
        Action::PullImage {
            auth: Some(auth), ..
        } => values.push(("registry password", auth.password.expose().as_bytes())),
        Action::WriteFile { file } => values.push((file.path.as_str(), file.contents.expose())),
        Action::RunContainer { spec } => {
            for (name, value) in &spec.env {
                if let EnvValue::Secret(secret) = value {
                    values.push((name.as_str(), secret.expose().as_bytes()));
                }
            }
        }
        _ => {}
    }
    if values.is_empty() {
        return None;
    }
    let mut hasher = Sha256::new();
    for (name, value) in values {
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value);
    }
    Some(hex::encode(&hasher.finalize()[..8]))
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
