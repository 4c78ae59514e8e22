//! What a run is made from, loaded once before any connection: the configuration, its secrets,
//! the version and the `--hosts`/`--roles` selection.
//!
//! A command that leads into another (`deploy` and `setup` into the apply, `rollback` into the
//! apply of the version it chose) hands on this value instead of loading again: secret commands
//! (`$(...)`, ERB backticks) run once per invocation.

use std::path::PathBuf;

use crate::config::{Loaded, Secrets};
use crate::desired::{Desired, DesiredError, Selection};
use crate::diff::DiffOptions;
use crate::host::ssh::SshSettings;
use crate::pipeline::{self, PlanRequest};
use crate::secret::Redactor;

/// Configuration, secrets and version, loaded and checked.
pub struct Prepared {
    pub loaded: Loaded,
    pub secrets: Secrets,
    pub redactor: Redactor,
    pub version: String,
    pub selection: Selection,
    /// `-H/--skip-hooks`.
    pub skip_hooks: bool,
}

/// What the command asks of the plan beyond deploy.yml (`--reboot-proxy`,
/// `--recreate-accessories`, `--atomic`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanChoices {
    pub diff: DiffOptions,
    pub atomic: bool,
}

impl Prepared {
    /// The plan request for this run at its version.
    pub fn request<'a>(
        &'a self,
        choices: PlanChoices,
        read_local_file: &'a dyn Fn(&str) -> Result<Vec<u8>, String>,
    ) -> PlanRequest<'a> {
        PlanRequest {
            config: &self.loaded.config,
            secrets: &self.secrets,
            version: &self.version,
            selection: &self.selection,
            diff: choices.diff,
            atomic: choices.atomic,
            read_local_file,
            app_boot_hooks: self.app_boot_hooks(),
            // deploy.yml's default; `apply` and `deploy` put their flags' choice in its place.
            canary: self.loaded.config.gantry.canary.clone(),
        }
    }

    /// The project's `pre-app-boot` and `post-app-boot` hooks (none with `-H`): the plan runs
    /// them around each boot group.
    fn app_boot_hooks(&self) -> Vec<String> {
        if self.skip_hooks {
            return Vec::new();
        }
        let directory = std::path::Path::new(&self.loaded.config.hooks_path);
        [crate::plan::PRE_APP_BOOT, crate::plan::POST_APP_BOOT]
            .into_iter()
            .filter(|hook| directory.join(hook).is_file())
            .map(str::to_string)
            .collect()
    }

    /// The desired state of the selected hosts at `version`, with accessories' `files:` read
    /// from the current directory.
    pub fn desired_at(&self, version: &str, choices: PlanChoices) -> Result<Desired, DesiredError> {
        let read = |path: &str| read_local_file(path);
        let request = PlanRequest {
            version,
            ..self.request(choices, &read)
        };
        pipeline::desired(&request)
    }

    /// SSH settings from deploy.yml, with `ssh.key_data` resolved.
    pub fn ssh_settings(&self) -> SshSettings {
        let config = &self.loaded.config;
        let key_data = config
            .ssh
            .key_data
            .iter()
            .filter_map(|name| self.secrets.get(name).cloned())
            .collect();
        SshSettings::from_config(&config.ssh, &config.gantry, key_data)
    }
}

/// Files named by accessories' `files:`, read relative to the current directory.
pub fn read_local_file(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(PathBuf::from(path)).map_err(|error| error.to_string())
}
