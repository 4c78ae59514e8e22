//! `gantry drift`: for cron. Silent with exit 0 when every host matches the version it runs;
//! exit 2 and a short report when something drifted; exit 1 when a host could not be checked
//! (the others are still checked and reported). Never takes the lock, never changes a host.

use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};

use clap::Args;
use miette::{IntoDiagnostic, miette};
use sha2::{Digest, Sha256};

use super::GlobalArgs;
use super::session::{
    PlanFlags, Prepared, TargetArgs, VersionNeed, connect, read_local_file, runtime,
};
use crate::diff::{self, DiffOptions};
use crate::drift::{self, DriftReport};
use crate::naming::ServiceNames;
use crate::{observe, pipeline};

/// `gantry drift` flags.
#[derive(Clone, Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the report as JSON (specs/drift.md).
    #[arg(long)]
    pub json: bool,
    /// Run this command (through `sh -c`) with the JSON report on stdin when drift is found and
    /// differs from the last report.
    #[arg(long, value_name = "COMMAND")]
    pub notify: Option<String>,
}

/// Observes, compares with the running version, reports.
pub fn run(global: &GlobalArgs, args: &DriftArgs) -> Result<ExitCode, miette::Report> {
    let prepared = Prepared::load(global, &args.target, VersionNeed::Optional)?;
    let read = |path: &str| read_local_file(path);
    let request = prepared.request(&PlanFlags::default(), &read);
    let provisional = pipeline::desired(&request).map_err(|error| miette!("{error}"))?;
    let config = &prepared.loaded.config;
    let names = ServiceNames::for_config(config);
    let observed = runtime()?.block_on(async {
        let connections = connect(&prepared, &provisional).await?;
        Ok::<_, miette::Report>(
            observe::observe_all(&provisional, &connections, args.target.parallelism).await,
        )
    })?;
    let version = match &args.target.version {
        Some(version) => version.clone(),
        None => {
            drift::running_version(&observed, &names).unwrap_or_else(|| prepared.version.clone())
        }
    };
    let request = crate::pipeline::PlanRequest {
        version: &version,
        ..prepared.request(&PlanFlags::default(), &read)
    };
    let desired = pipeline::desired(&request).map_err(|error| miette!("{error}"))?;
    let changes = diff::diff(&desired, &observed, DiffOptions::default());
    let report = DriftReport {
        format_version: drift::FORMAT_VERSION.to_string(),
        service: config.service.clone(),
        destination: config.destination.clone(),
        version,
        items: drift::classify(&changes, &config.gantry.drift_ignore),
    };
    let json = prepared
        .redactor
        .redact(&serde_json::to_string_pretty(&report).into_diagnostic()?);
    if args.json {
        println!("{json}");
    } else if !global.quiet && !report.is_clean() {
        print!("{}", prepared.redactor.redact(&report.to_text()));
    }
    if !report.is_clean()
        && let Some(command) = &args.notify
        && changed_since_last_report(global, &report)?
    {
        notify(command, &json)?;
    }
    Ok(if report.has_unreachable() {
        ExitCode::from(1)
    } else if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `$XDG_STATE_HOME/gantry/drift/<hash of config file and destination>` (`~/.local/state` by
/// default): the fingerprint of the last report, so a cron job alerts once per new drift.
fn state_file(global: &GlobalArgs) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::host::ssh::home_dir().join(".local").join("state"));
    let config =
        std::fs::canonicalize(&global.config_file).unwrap_or_else(|_| global.config_file.clone());
    let key = format!(
        "{}\0{}",
        config.display(),
        global.destination.as_deref().unwrap_or("")
    );
    base.join("gantry")
        .join("drift")
        .join(hex::encode(&Sha256::digest(key.as_bytes())[..8]))
}

fn changed_since_last_report(
    global: &GlobalArgs,
    report: &DriftReport,
) -> Result<bool, miette::Report> {
    let path = state_file(global);
    let fingerprint = report.fingerprint();
    if std::fs::read_to_string(&path).is_ok_and(|last| last.trim() == fingerprint) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).into_diagnostic()?;
    }
    std::fs::write(&path, &fingerprint).into_diagnostic()?;
    Ok(true)
}

fn notify(command: &str, json: &str) -> Result<(), miette::Report> {
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|error| miette!("--notify `{command}` could not start: {error}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(json.as_bytes());
    }
    let status = child.wait().into_diagnostic()?;
    if !status.success() {
        return Err(miette!("--notify `{command}` failed ({status})"));
    }
    Ok(())
}
