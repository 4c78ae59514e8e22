//! `gantry config`: the resolved configuration as YAML, or JSON with `--json`.
//!
//! Secrets are not read here unless `--check-secrets` asks: then the secrets files are read and
//! every secret deploy.yml names but no file sets is reported at the YAML line naming it, as
//! `plan` does before it connects; values are never shown. Otherwise secret references appear
//! by name. A literal registry password written into deploy.yml is shown as `[REDACTED]`.

use std::process::ExitCode;

use clap::Args;
use miette::IntoDiagnostic;

use super::GlobalArgs;
use crate::config::Config;
use crate::secret::REDACTED;

/// `gantry config` flags.
#[derive(Clone, Debug, Args)]
pub struct ConfigArgs {
    /// Print JSON instead of YAML.
    #[arg(long)]
    pub json: bool,
    /// Also read the secrets files and report secrets deploy.yml names that none sets.
    #[arg(long)]
    pub check_secrets: bool,
}

/// Loads and prints the configuration.
pub fn run(global: &GlobalArgs, args: &ConfigArgs) -> Result<ExitCode, miette::Report> {
    let loaded = global.load()?;
    if args.check_secrets {
        // The same check as before `plan` connects: a missing secret fails, at its YAML line.
        let secrets = crate::config::load_secrets(&loaded, &global.secrets_options())?;
        tellln!(
            "Every secret deploy.yml names is set ({} in the secrets files).",
            secrets.iter().count()
        );
    }
    let value = to_value(&loaded.config).into_diagnostic()?;
    let text = if args.json {
        serde_json::to_string_pretty(&value).into_diagnostic()?
    } else {
        serde_saphyr::to_string(&value).into_diagnostic()?
    };
    sayln!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// The configuration as a JSON value, with literal registry passwords redacted.
pub fn to_value(config: &Config) -> Result<serde_json::Value, serde_json::Error> {
    let mut value = serde_json::to_value(config)?;
    redact_password(value.get_mut("registry"));
    if let Some(accessories) = value.get_mut("accessories").and_then(|a| a.as_array_mut()) {
        for accessory in accessories {
            redact_password(accessory.get_mut("registry"));
        }
    }
    Ok(value)
}

fn redact_password(registry: Option<&mut serde_json::Value>) {
    let literal = registry
        .and_then(|registry| registry.get_mut("password"))
        .and_then(|password| password.get_mut("value"));
    if let Some(literal) = literal {
        *literal = serde_json::Value::String(REDACTED.to_string());
    }
}
