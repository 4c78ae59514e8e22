//! `gantry drift`: for cron. Observes like `plan`, compares with the version that runs, and
//! reports what differs (`specs/drift.md`): silent with exit 0 when nothing drifted; exit 2
//! and a short report (or `--json`) when something did; exit 1 when a host of deploy.yml could
//! not be checked (the others are still checked and reported) or on an error.
//!
//! Never takes the deploy lock and never changes a host: it only observes, and lists the
//! containers of hosts deploy.yml no longer names. The only thing it writes is its own state
//! file on this machine, for `--notify`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use crate::session::Exit;

use clap::Args;
use miette::{IntoDiagnostic, miette};
use sha2::{Digest, Sha256};

use super::GlobalArgs;
use super::session;
use super::session::{
    PlanFlags, Prepared, TargetArgs, VersionNeed, connect, connect_hosts, read_local_file, runtime,
};
use crate::diff::{self, DiffOptions};
use crate::drift::{self, DriftReport, orphans};
use crate::naming::ServiceNames;
use crate::pipeline::{self, PlanRequest};

/// `gantry drift` flags; the global `--version` names the version to compare with (default: the
/// one most hosts run).
#[derive(Clone, Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print the report as JSON, also when nothing drifted.
    #[arg(long)]
    pub json: bool,
    /// Run this command (through `sh -c`) with the JSON report on stdin when drift is found and
    /// differs from the last report (state in $XDG_STATE_HOME/gantry/drift/).
    #[arg(long, value_name = "COMMAND")]
    pub notify: Option<String>,
}

/// Observes, compares with the running version, reports, notifies.
pub fn run(global: &GlobalArgs, args: &DriftArgs) -> Result<Exit, miette::Report> {
    let prepared = super::session::load(global, VersionNeed::Optional)?;
    let report = runtime()?.block_on(check(&prepared, global.version.as_deref()))?;
    let json = prepared
        .redactor
        .redact(&serde_json::to_string_pretty(&report).into_diagnostic()?);
    if global.quiet {
        // Exit code only.
    } else if args.json {
        sayln!("{json}");
    } else {
        say!("{}", prepared.redactor.redact(&report.to_text()));
    }
    if let Some(command) = &args.notify {
        notify_if_new(global, &report, command, &json)?;
    }
    Ok(if report.has_unreachable() {
        Exit::Failed
    } else if report.is_clean() {
        Exit::Success
    } else {
        Exit::Changes
    })
}

/// The drift report: observe deploy.yml's hosts, diff against the chosen version, then check
/// the hosts deploy.yml no longer names (unless `--hosts`/`--roles` narrowed the check).
async fn check(
    prepared: &Prepared,
    requested_version: Option<&str>,
) -> Result<DriftReport, miette::Report> {
    let config = &prepared.loaded.config;
    let names = ServiceNames::for_config(config);
    let ignore = &config.gantry.drift_ignore;
    let read = |path: &str| read_local_file(path);
    let desired_error = |error: crate::desired::DesiredError| {
        miette!(
            help = "fix the configuration or the secrets it names",
            "{error}"
        )
    };
    // What to observe does not depend on the version; what to compare with does.
    let observe_desired =
        pipeline::desired(&prepared.request(PlanFlags::default().choices(), &read))
            .map_err(desired_error)?;
    let connections = connect(prepared, &observe_desired).await?;
    let observed = crate::observe::observe_all(
        &observe_desired,
        &connections,
        session::observe_width(&connections),
    )
    .await;
    let (version, version_source) =
        drift::choose_version(requested_version, &observed, &names, &prepared.version);
    let request = PlanRequest {
        version: &version,
        ..prepared.request(PlanFlags::default().choices(), &read)
    };
    let desired = pipeline::desired(&request).map_err(desired_error)?;
    let changes = diff::diff(&desired, &observed, DiffOptions::default());
    let mut items = drift::classify(&changes, ignore);
    let mut hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();

    let narrowed = !prepared.selection.hosts.is_empty() || !prepared.selection.roles.is_empty();
    if !narrowed {
        let former: Vec<String> = orphans::former_hosts(&observed, &config.all_hosts())
            .into_iter()
            .filter(|host| {
                !ignore
                    .iter()
                    .any(|pattern| drift::ignore_matches(pattern, host))
            })
            .collect();
        if !former.is_empty() {
            let former_connections = connect_hosts(prepared, &former).await?;
            items.extend(
                orphans::check_former_hosts(&names, former_connections.into_iter().collect()).await,
            );
            hosts.extend(former);
        }
    }
    let round_trips = pipeline::log_round_trips(&connections);
    Ok(DriftReport {
        round_trips,
        format_version: drift::FORMAT_VERSION.to_string(),
        service: config.service.clone(),
        destination: config.destination.clone(),
        version,
        version_source,
        hosts,
        deploy_lock: drift::deploy_lock(&changes),
        maintenance: drift::maintenance(&changes),
        items,
    })
}

/// Runs `command` with `json` on stdin when the report drifted and differs from the last one,
/// then records this report's fingerprint (a clean report too, so drift that comes back alerts
/// again). A command that fails leaves the record alone: the next run tries again.
fn notify_if_new(
    global: &GlobalArgs,
    report: &DriftReport,
    command: &str,
    json: &str,
) -> Result<(), miette::Report> {
    let path = state_file(global);
    let fingerprint = report.fingerprint();
    let last = std::fs::read_to_string(&path).unwrap_or_default();
    if last.trim() == fingerprint {
        return Ok(());
    }
    if !report.is_clean() {
        notify(command, json)?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| {
            miette!(
                help = "set XDG_STATE_HOME to a writable directory",
                "cannot create {}: {error}",
                parent.display()
            )
        })?;
    }
    std::fs::write(&path, format!("{fingerprint}\n")).map_err(|error| {
        miette!(
            help = "set XDG_STATE_HOME to a writable directory",
            "cannot write {}: {error}",
            path.display()
        )
    })
}

/// `$XDG_STATE_HOME/gantry/drift/<hash>` (`~/.local/state` when unset or relative): the
/// fingerprint of the last report, one file per configuration file and destination.
fn state_file(global: &GlobalArgs) -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .unwrap_or_else(|| crate::host::ssh::home_dir().join(".local").join("state"));
    let config = std::fs::canonicalize(global.config_file())
        .unwrap_or_else(|_| global.config_file().to_path_buf());
    let key = format!(
        "{}\0{}",
        config.display(),
        global.destination.as_deref().unwrap_or("")
    );
    base.join("gantry")
        .join("drift")
        .join(hex::encode(&Sha256::digest(key.as_bytes())[..8]))
}

/// Runs the notify command with the JSON report on stdin; a failure is an error (exit 1).
fn notify(command: &str, json: &str) -> Result<(), miette::Report> {
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|error| miette!("--notify `{command}` could not start: {error}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is no failure of ours.
        let _ = stdin.write_all(json.as_bytes());
    }
    let status = child
        .wait()
        .map_err(|error| miette!("--notify `{command}`: {error}"))?;
    if !status.success() {
        return Err(miette!(
            help = "the next `gantry drift` runs it again; test it with `gantry drift --json | COMMAND`",
            "--notify `{command}` failed ({status})"
        ));
    }
    Ok(())
}
