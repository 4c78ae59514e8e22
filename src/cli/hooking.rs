//! Kamal's hooks at the command line: which hook runs when, told what (`KAMAL_*`), and what the
//! user sees of it.
//!
//! Input: the loaded command ([`Prepared`]), its name and subcommand, `-H/--skip-hooks`. Output:
//! a hook's run, its output shown on stderr with `-v` or `hooks_output: verbose` (hidden with
//! `-q` or `quiet`, as Kamal logs it at debug level by default), and a failure turned into an
//! error that stops the command before it changes anything further. Secrets reach only the
//! hooks Kamal gives them to, and never the output shown ([`crate::hooks`] redacts it).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use miette::miette;

use super::GlobalArgs;
use crate::hooks::{HookContext, HookRunner};
use crate::secret::Secret;
use crate::session::Prepared;
use crate::session::identity::performer;
use crate::session::run::now_rfc3339;

/// Whether `pre-connect` ran in this process. Kamal runs it once, before the first connection
/// or build: `deploy` runs it before building and not again before connecting to the hosts.
static PRE_CONNECT_RAN: AtomicBool = AtomicBool::new(false);

/// The hooks of one command run.
#[derive(Clone)]
pub struct Hooks {
    directory: PathBuf,
    secrets: BTreeMap<String, Secret>,
    redactor: crate::secret::Redactor,
    skip: bool,
    context: HookContext,
    /// `-v`, `-q` and `hooks_output`, per hook.
    verbose: bool,
    quiet: bool,
    per_hook: BTreeMap<String, String>,
    default_output: Option<String>,
}

impl Hooks {
    /// The hooks of `command` (`apply`, `app`, ...) and `subcommand` (`stop`, ...).
    pub fn new(
        global: &GlobalArgs,
        prepared: &Prepared,
        hosts: Vec<String>,
        command: &str,
        subcommand: Option<&str>,
    ) -> Hooks {
        let config = &prepared.loaded.config;
        Hooks {
            directory: PathBuf::from(&config.hooks_path),
            secrets: prepared
                .secrets
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
            redactor: prepared.redactor.clone(),
            skip: global.skip_hooks,
            context: HookContext {
                recorded_at: now_rfc3339(),
                performer: performer(),
                service: config.service.clone(),
                version: prepared.version.clone(),
                destination: config.destination.clone(),
                hosts,
                roles: (!prepared.selection.roles.is_empty())
                    .then(|| prepared.selection.roles.clone()),
                lock_held: false,
                command: command.to_string(),
                subcommand: subcommand.map(str::to_string),
            },
            verbose: global.verbose > 0,
            quiet: global.quiet,
            per_hook: config.hooks_output.per_hook.clone(),
            default_output: config.hooks_output.default.clone(),
        }
    }

    /// Runs `pre-connect`, unless it already ran in this process.
    pub async fn pre_connect(&self) -> Result<(), miette::Report> {
        if PRE_CONNECT_RAN.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.run("pre-connect", false, None).await
    }

    /// Runs `hook` if it exists; a failure is an error naming the hook, with its output.
    /// `lock_held` becomes `KAMAL_LOCK`; `runtime_seconds` `KAMAL_RUNTIME` (post-deploy).
    /// [`Hooks::run`] with `KAMAL_HOSTS` naming only `hosts` (one group of a rolling command,
    /// as Kamal runs `pre-proxy-reboot` for each host of `proxy reboot --rolling`).
    pub async fn run_on(
        &self,
        hook: &str,
        lock_held: bool,
        hosts: &[String],
    ) -> Result<(), miette::Report> {
        let mut narrowed = self.clone();
        narrowed.context.hosts = hosts.to_vec();
        narrowed.run(hook, lock_held, None).await
    }

    /// Whether [`Hooks::run`] would run `hook`: it exists and hooks are not skipped.
    pub fn will_run(&self, hook: &str) -> bool {
        !self.skip && self.directory.join(hook).is_file()
    }

    pub async fn run(
        &self,
        hook: &str,
        lock_held: bool,
        runtime_seconds: Option<u64>,
    ) -> Result<(), miette::Report> {
        let runner = HookRunner {
            directory: self.directory.clone(),
            secrets: &self.secrets,
            redactor: &self.redactor,
            skip: self.skip,
        };
        let context = HookContext {
            lock_held,
            recorded_at: now_rfc3339(),
            ..self.context.clone()
        };
        let output = runner
            .run(hook, &context, runtime_seconds)
            .await
            .map_err(|error| {
                miette!(
                    help = "fix the hook in .kamal/hooks, or skip hooks with -H",
                    "{error}"
                )
            })?;
        if let Some(output) = output
            && self.show(hook)
            && !output.trim().is_empty()
        {
            tell!("{output}");
        }
        Ok(())
    }

    fn show(&self, hook: &str) -> bool {
        if self.quiet {
            return false;
        }
        match self.per_hook.get(hook).or(self.default_output.as_ref()) {
            Some(level) if level == "verbose" => true,
            Some(level) if level == "quiet" => false,
            _ => self.verbose,
        }
    }
}

/// The plan's `run_hook` actions: the hook told the boot group's hosts, the lock held.
#[async_trait::async_trait]
impl crate::apply::LocalHooks for Hooks {
    async fn run_hook(&self, hook: &str, hosts: &[String]) -> Result<(), String> {
        self.run_on(hook, true, hosts)
            .await
            .map_err(|error| error.to_string())
    }

    async fn check_canary(&self, command: &str, hosts: &[String]) -> Result<(), String> {
        let context = HookContext {
            hosts: hosts.to_vec(),
            lock_held: true,
            recorded_at: now_rfc3339(),
            ..self.context.clone()
        };
        let output = crate::hooks::run_canary_check(command, &context, &self.redactor).await?;
        if !self.quiet && self.verbose && !output.trim().is_empty() {
            tell!("{output}");
        }
        Ok(())
    }
}
