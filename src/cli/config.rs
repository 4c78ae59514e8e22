//! `gantry config`: the resolved configuration as YAML, or JSON with `--json`, or the view
//! `kamal config` prints with `--format kamal` (see [`super::kamal_view`]).
//!
//! Secrets are not read here unless `--check-secrets` asks: then the secrets files are read and
//! every secret deploy.yml names but no file sets is reported at the YAML line naming it, as
//! `plan` does before it connects; values are never shown. Otherwise secret references appear
//! by name. A literal registry password written into deploy.yml is shown as `[REDACTED]`.

use crate::session::Exit;

use clap::{Args, ValueEnum};
use miette::IntoDiagnostic;

use super::GlobalArgs;
use crate::config::Config;
use crate::secret::REDACTED;

/// `gantry config` flags.
#[derive(Clone, Debug, Args)]
pub struct ConfigArgs {
    /// Print JSON instead of YAML (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// What to print: gantry's resolved configuration as YAML or JSON, or what `kamal config`
    /// prints (to compare both tools' reading of one deploy.yml).
    #[arg(long, value_enum, default_value_t = ConfigFormat::Yaml)]
    pub format: ConfigFormat,
    /// Also read the secrets files and report secrets deploy.yml names that none sets.
    #[arg(long)]
    pub check_secrets: bool,
}

/// The views `gantry config` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConfigFormat {
    Yaml,
    Json,
    /// `kamal config`'s view, as YAML.
    Kamal,
}

/// Loads and prints the configuration.
pub fn run(global: &GlobalArgs, args: &ConfigArgs) -> Result<Exit, miette::Report> {
    let loaded = global.load()?;
    if args.check_secrets {
        // The same check as before `plan` connects: a missing secret fails, at its YAML line.
        let secrets = crate::config::load_secrets(&loaded, &global.secrets_options())?;
        tellln!(
            "Every secret deploy.yml names is set ({} in the secrets files).",
            secrets.iter().count()
        );
    }
    let format = if args.json {
        ConfigFormat::Json
    } else {
        args.format
    };
    let value = match format {
        ConfigFormat::Kamal => {
            let project_dir = std::env::current_dir().into_diagnostic()?;
            let version = crate::build::version::resolve(
                global.version.as_deref(),
                std::env::var("VERSION").ok().as_deref(),
                &project_dir,
                loaded.config.builder.context.is_some(),
            )
            .into_diagnostic()?;
            super::kamal_view::kamal_config(&loaded.config, &loaded.raw, &version)
        }
        ConfigFormat::Yaml | ConfigFormat::Json => to_value(&loaded.config).into_diagnostic()?,
    };
    let text = if format == ConfigFormat::Json {
        serde_json::to_string_pretty(&value).into_diagnostic()?
    } else {
        serde_saphyr::to_string(&value).into_diagnostic()?
    };
    sayln!("{}", text.trim_end());
    Ok(Exit::Success)
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
