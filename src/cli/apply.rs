//! `gantry apply [FILE]`: converge every host, under Kamal's deploy lock.
//!
//! The run is the session's ([`crate::session::Session`]): connect; take the lock; observe and
//! plan (under the lock, so nobody changes the hosts between plan and apply); show the plan; ask
//! on a terminal (`-y` skips); journal, execute, audit; release the lock, also after errors and
//! Ctrl-C. This handler adds Kamal's hooks around it: `pre-connect`, then `pre-deploy` under the
//! lock (a failure stops the run before any host changes), and `post-deploy` after the lock;
//! `pre-app-boot` and `post-app-boot` are the plan's own actions, around each boot group. `deploy`, `setup` and `rollback` end here
//! with the project they loaded, so it is loaded once.
//! With a saved plan FILE, the configuration file and destination must be the plan's, and the
//! plan made again from the file's inputs must match it field for field (`plan::saved`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use miette::{IntoDiagnostic, miette};

use super::GlobalArgs;
use super::canary::CanaryArgs;
use super::hooking::Hooks;
use super::session::{PlanFlags, TargetArgs, VersionNeed, connector, runtime};
use super::ui;
use crate::pipeline::{self, Connections, PlanRequest};
use crate::plan::saved::SavedPlan;
use crate::session::identity::{holder, performer};
use crate::session::run::{RunIdentity, new_run_id};
use crate::session::{Exit, LockWait, Prepared, Question, RunSettings, Session, read_local_file};

/// `gantry apply [FILE]`.
#[derive(Clone, Debug, Args)]
pub struct ApplyCommand {
    /// A plan saved with `gantry plan -o FILE`: apply exactly it, or refuse if stale.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub apply: ApplyArgs,
    #[command(flatten)]
    pub canary: CanaryArgs,
}

/// The flags of every command that applies (`apply`, `deploy`, `rollback`).
#[derive(Clone, Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub flags: PlanFlags,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long = "yes", alias = "auto-approve")]
    pub yes: bool,
    /// Stop everything at the first failure (roll back what is in flight).
    #[arg(long)]
    pub fail_fast: bool,
    /// Wait for a deploy lock held by another automatic deploy (up to --lock-wait-timeout).
    #[arg(long)]
    pub lock_wait: bool,
    /// Seconds to wait for the lock.
    #[arg(long, default_value_t = 900)]
    pub lock_wait_timeout: u64,
    /// Seconds between lock checks.
    #[arg(long, default_value_t = 15)]
    pub lock_wait_interval: u64,
    /// Print progress and the outcome as JSON lines.
    #[arg(long)]
    pub json: bool,
    /// Draw what ran when on which host in FILE once the run is over: an SVG chart, or a page
    /// when FILE ends in .html.
    #[arg(long, value_name = "FILE.svg|FILE.html")]
    pub timeline: Option<PathBuf>,
    /// The canary rollout (`apply` and `deploy` only: their `--canary` flags).
    #[arg(skip)]
    pub canary: Option<crate::config::Canary>,
}

/// `gantry apply [FILE]`.
pub fn run_command(global: &GlobalArgs, command: &ApplyCommand) -> Result<Exit, miette::Report> {
    let mut args = command.apply.clone();
    let mut global = global.clone();
    let saved = match &command.plan_file {
        Some(path) => Some(read_saved_plan(&mut global, path, &mut args)?),
        None => None,
    };
    let prepared = super::session::load(&global, VersionNeed::Required)?;
    args.canary = command.canary.rollout(&prepared.loaded.config)?;
    runtime()?.block_on(apply(
        &global,
        &prepared,
        &args,
        saved.as_ref(),
        "apply",
        None,
    ))
}

/// Reads a plan saved with `gantry plan -o FILE` and takes its inputs (version, hosts, roles,
/// flags) into `args`; the configuration file and destination must be the plan's.
fn read_saved_plan(
    global: &mut GlobalArgs,
    path: &Path,
    args: &mut ApplyArgs,
) -> Result<SavedPlan, miette::Report> {
    let text = std::fs::read_to_string(path).into_diagnostic()?;
    let saved = SavedPlan::parse(&text).map_err(|error| miette!("{}: {error}", path.display()))?;
    saved
        .check_inputs(
            &global.config_file().display().to_string(),
            global.destination.as_deref(),
        )
        .map_err(|error| {
            miette!(
                help =
                    "give the plan's -c and -d, or make the plan again with `gantry plan -o FILE`",
                "{}: {error}",
                path.display()
            )
        })?;
    global.version = Some(saved.inputs.version.clone());
    global.primary = false;
    global.hosts = saved.inputs.hosts.clone();
    global.roles = saved.inputs.roles.clone();
    args.flags.reboot_proxy = saved.inputs.reboot_proxy;
    args.flags.recreate_accessories = saved.inputs.recreate_accessories;
    args.flags.atomic = saved.inputs.atomic;
    Ok(saved)
}

/// Applies `prepared`'s version (also for `deploy`, `setup` and `rollback`, named by `command`
/// in the journal and hooks). `connected`: the hosts a command already connected to (`rollback`
/// looked at them to choose its version), with the lock hosts among them.
pub async fn apply(
    global: &GlobalArgs,
    prepared: &Prepared,
    args: &ApplyArgs,
    saved: Option<&SavedPlan>,
    command: &str,
    connected: Option<Connections>,
) -> Result<Exit, miette::Report> {
    let choices = args.flags.choices();
    let read = |path: &str| read_local_file(path);
    let request = PlanRequest {
        canary: args.canary.clone(),
        ..prepared.request(choices, &read)
    };
    let desired = pipeline::desired(&request).map_err(|error| {
        miette!(
            help = "fix the configuration or the secrets it names",
            "{error}"
        )
    })?;
    let hosts: Vec<String> = desired.hosts.iter().map(|host| host.name.clone()).collect();
    let hooks = Hooks::new(global, prepared, hosts.clone(), command, None);
    let started = Instant::now();
    // A saved plan was reviewed when it was made: it is not asked about again.
    let ui = ui::for_run(&prepared.redactor, args.json, args.yes || saved.is_some());
    let ui = ui::with_timeline(ui, args.timeline.clone(), &prepared.redactor);
    let session = Session::start(
        prepared,
        identity(prepared, command),
        holder(),
        ui,
        RunSettings {
            hooks: Some(Arc::new(hooks.clone())),
            ..args.settings()
        },
        std::env::var("GANTRY_STALE_LOCK_SECONDS").ok().as_deref(),
    )?;
    hooks.pre_connect().await?;
    let connections = match connected {
        Some(connections) => connections,
        None => session.connect(&connector(prepared), &hosts).await?,
    };
    let result = if hooks.will_run("pre-deploy") {
        session
            .with_lock(&connections, async {
                // Pulling early overlaps the pull with observing and planning, but only under
                // the lock: an image pulled by a run still waiting would be an unused image to
                // the run holding it, pruned as a change. A saved plan must be re-planned from
                // the hosts as they were.
                let _prefetch = saved
                    .is_none()
                    .then(|| pipeline::prefetch_app_images(&desired, &connections));
                // A failing pre-deploy hook stops the run before any host changes;
                // `pre-app-boot` and `post-app-boot` are actions of the plan, around each boot
                // group.
                hooks.run("pre-deploy", true, None).await?;
                if session.is_cancelled() {
                    return Ok(session.interrupted_before_changes());
                }
                session
                    .converge(
                        &request,
                        desired.clone(),
                        &connections,
                        saved,
                        Some(Question::Apply),
                    )
                    .await
            })
            .await
    } else {
        // Nothing runs between the lock and the look at the hosts: one script does both.
        session
            .converge_taking_locks(
                &request,
                desired.clone(),
                &connections,
                saved,
                Some(Question::Apply),
            )
            .await
    };
    let round_trips = pipeline::log_round_trips(&connections);
    if args.json {
        let event = serde_json::json!({"event": "round_trips", "hosts": round_trips});
        sayln!("{event}");
    }
    match result {
        Ok(Exit::Success) => hooks
            .run("post-deploy", false, Some(started.elapsed().as_secs()))
            .await
            .map(|()| Exit::Success),
        other => other,
    }
}

impl ApplyArgs {
    /// How the run executes and waits for the lock.
    pub fn settings(&self) -> RunSettings {
        RunSettings {
            parallelism: self.target.parallelism,
            fail_fast: self.fail_fast,
            lock_wait: self.lock_wait.then(|| LockWait {
                timeout: Duration::from_secs(self.lock_wait_timeout),
                interval: Duration::from_secs(self.lock_wait_interval),
            }),
            hooks: None,
        }
    }
}

/// Who runs `command` on `prepared`'s version, with a fresh run id.
pub(super) fn identity(prepared: &Prepared, command: &str) -> RunIdentity {
    RunIdentity {
        run_id: new_run_id(),
        performer: performer(),
        command: command.to_string(),
        version: prepared.version.clone(),
    }
}
