//! Kamal's hooks: local scripts in `.kamal/hooks/` run at fixed points of a command.
//!
//! A hook runs with Kamal's `KAMAL_*` environment (and, for `pre-connect`, `pre-deploy` and
//! `post-deploy`, every secret), so existing hook scripts keep working. A hook that exits non-zero
//! aborts the command before anything on a host changes. Hook output goes to the user, never into
//! gantry's logs, and is passed through the [`Redactor`] when it is shown in an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

use crate::secret::{Redactor, Secret};

/// The hooks gantry runs, by their file names.
pub const HOOKS: &[&str] = &[
    "docker-setup",
    "pre-connect",
    "pre-build",
    "pre-deploy",
    "post-deploy",
    "pre-app-boot",
    "post-app-boot",
    "pre-proxy-reboot",
    "post-proxy-reboot",
];

/// Hooks that also get every secret as an environment variable, as Kamal's do.
const WITH_SECRETS: &[&str] = &["pre-connect", "pre-deploy", "post-deploy"];

/// A hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("hook `{hook}` failed (exit code {code}){output}")]
    Failed {
        hook: String,
        code: i32,
        output: String,
    },
    #[error("hook `{hook}` could not be run: {message}")]
    Spawn { hook: String, message: String },
}

/// What every hook of one command is told (`KAMAL_*` variables).
#[derive(Clone, Debug, Default)]
pub struct HookContext {
    pub recorded_at: String,
    pub performer: String,
    pub service: String,
    pub version: String,
    pub destination: Option<String>,
    pub hosts: Vec<String>,
    /// Only when `--roles` narrowed the command.
    pub roles: Option<Vec<String>>,
    pub lock_held: bool,
    pub command: String,
    pub subcommand: Option<String>,
}

/// Kamal's `abbreviated_version`: the first 7 characters, unless the version has a `_`.
pub fn abbreviated_version(version: &str) -> &str {
    if version.contains('_') {
        version
    } else {
        version.get(..7).unwrap_or(version)
    }
}

impl HookContext {
    /// The environment of a hook, runtime given for `post-deploy`.
    pub fn env(&self, runtime_seconds: Option<u64>) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert("KAMAL_RECORDED_AT".into(), self.recorded_at.clone());
        env.insert("KAMAL_PERFORMER".into(), self.performer.clone());
        env.insert("KAMAL_SERVICE".into(), self.service.clone());
        env.insert("KAMAL_VERSION".into(), self.version.clone());
        env.insert(
            "KAMAL_SERVICE_VERSION".into(),
            format!("{}@{}", self.service, abbreviated_version(&self.version)),
        );
        if let Some(destination) = &self.destination {
            env.insert("KAMAL_DESTINATION".into(), destination.clone());
        }
        env.insert("KAMAL_HOSTS".into(), self.hosts.join(","));
        if let Some(roles) = &self.roles {
            env.insert("KAMAL_ROLES".into(), roles.join(","));
        }
        env.insert("KAMAL_LOCK".into(), self.lock_held.to_string());
        env.insert("KAMAL_COMMAND".into(), self.command.clone());
        if let Some(subcommand) = &self.subcommand {
            env.insert("KAMAL_SUBCOMMAND".into(), subcommand.clone());
        }
        if let Some(runtime) = runtime_seconds {
            env.insert("KAMAL_RUNTIME".into(), runtime.to_string());
        }
        env
    }
}

/// Runs hooks from one directory.
pub struct HookRunner<'a> {
    pub directory: PathBuf,
    pub secrets: &'a BTreeMap<String, Secret>,
    pub redactor: &'a Redactor,
    /// `-H/--skip-hooks`.
    pub skip: bool,
}

impl HookRunner<'_> {
    /// The hook's file, when it exists.
    pub fn path(&self, hook: &str) -> Option<PathBuf> {
        let path = self.directory.join(hook);
        path.is_file().then_some(path)
    }

    /// Runs a hook if it exists; its output is returned (redacted) for the caller to show.
    pub async fn run(
        &self,
        hook: &str,
        context: &HookContext,
        runtime_seconds: Option<u64>,
    ) -> Result<Option<String>, HookError> {
        if self.skip {
            return Ok(None);
        }
        let Some(path) = self.path(hook) else {
            return Ok(None);
        };
        let mut env = context.env(runtime_seconds);
        if WITH_SECRETS.contains(&hook) {
            for (key, value) in self.secrets {
                env.insert(key.clone(), value.expose().to_string());
            }
        }
        let output = run_script(&path, &env)
            .await
            .map_err(|message| HookError::Spawn {
                hook: hook.to_string(),
                message,
            })?;
        let text = self.redactor.redact(&format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
        if output.status.success() {
            return Ok(Some(text));
        }
        Err(HookError::Failed {
            hook: hook.to_string(),
            // A hook killed by a signal has no exit code.
            code: output.status.code().unwrap_or(-1),
            output: if text.trim().is_empty() {
                String::new()
            } else {
                format!(":\n{}", text.trim_end())
            },
        })
    }
}

/// Runs `--canary-check`'s `command` through `sh -c` with the hooks' `KAMAL_*` environment
/// (`KAMAL_HOSTS` naming the canaries, `KAMAL_VERSION` the version they run) and
/// `GANTRY_CANARY=true`, but no secrets: the check reads what it needs itself. Returns its
/// output (redacted); the error says how it failed, with the last lines of its output.
pub async fn run_canary_check(
    command: &str,
    context: &HookContext,
    redactor: &Redactor,
) -> Result<String, String> {
    const TAIL_LINES: usize = 20;
    let mut env = context.env(None);
    env.insert("GANTRY_CANARY".into(), "true".into());
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .envs(&env)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| format!("the canary check could not be run: {error}"))?;
    let text = redactor.redact(&format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ));
    if output.status.success() {
        return Ok(text);
    }
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n    ");
    let status = match output.status.code() {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_string(),
    };
    Err(if tail.is_empty() {
        format!("the canary check failed ({status})")
    } else {
        format!("the canary check failed ({status}):\n    {tail}")
    })
}

async fn run_script(
    path: &Path,
    env: &BTreeMap<String, String>,
) -> Result<std::process::Output, String> {
    Command::new(path)
        .envs(env)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn context() -> HookContext {
        HookContext {
            recorded_at: "2026-11-26T10:00:00Z".into(),
            performer: "jane@example.com".into(),
            service: "app".into(),
            version: "0123456789abcdef".into(),
            destination: Some("staging".into()),
            hosts: vec!["h1".into(), "h2".into()],
            roles: None,
            lock_held: true,
            command: "deploy".into(),
            subcommand: None,
        }
    }

    #[tokio::test]
    async fn a_canary_check_sees_the_canaries_and_fails_with_its_output_and_status() {
        let redactor = Redactor::default();
        let passed = run_canary_check(
            "test \"$KAMAL_HOSTS $KAMAL_VERSION $GANTRY_CANARY\" = \"h1,h2 0123456789abcdef true\"",
            &context(),
            &redactor,
        )
        .await;
        assert!(passed.is_ok(), "{passed:?}");
        let failed = run_canary_check("echo 5xx rate 12% >&2; exit 4", &context(), &redactor)
            .await
            .expect_err("fails");
        assert!(failed.contains("exit code 4"), "{failed}");
        assert!(failed.contains("5xx rate 12%"), "{failed}");
    }

    #[test]
    fn environment_matches_kamals_tags() {
        let env = context().env(Some(12));
        assert_eq!(env["KAMAL_SERVICE_VERSION"], "app@0123456");
        assert_eq!(env["KAMAL_HOSTS"], "h1,h2");
        assert_eq!(env["KAMAL_LOCK"], "true");
        assert_eq!(env["KAMAL_RUNTIME"], "12");
        assert_eq!(env["KAMAL_DESTINATION"], "staging");
        assert!(!env.contains_key("KAMAL_ROLES"));
        assert_eq!(
            abbreviated_version("abc_uncommitted_1234"),
            "abc_uncommitted_1234"
        );
    }

    fn hook(dir: &Path, name: &str, body: &str) {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[tokio::test]
    async fn a_failing_hook_is_an_error_with_its_output_redacted() {
        let dir = tempfile::tempdir().unwrap();
        hook(
            dir.path(),
            "pre-deploy",
            "echo \"checking $KAMAL_VERSION with $DB_PASSWORD\"; exit 3",
        );
        hook(
            dir.path(),
            "pre-build",
            "echo ok; echo \"db=${DB_PASSWORD:-unset}\"",
        );
        let secrets: BTreeMap<String, Secret> =
            [("DB_PASSWORD".to_string(), Secret::new("hunter22"))].into();
        let redactor = Redactor::new(secrets.values());
        let runner = HookRunner {
            directory: dir.path().to_path_buf(),
            secrets: &secrets,
            redactor: &redactor,
            skip: false,
        };
        let error = runner
            .run("pre-deploy", &context(), None)
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with("hook `pre-deploy` failed (exit code 3):"),
            "{text}"
        );
        assert!(
            text.contains("checking 0123456789abcdef with [REDACTED]"),
            "{text}"
        );
        assert!(!text.contains("hunter22"));
        // Only pre-connect, pre-deploy and post-deploy see secrets.
        let output = runner
            .run("pre-build", &context(), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(output, "ok\ndb=unset\n");
        assert_eq!(
            runner.run("post-deploy", &context(), None).await.unwrap(),
            None
        );
        let skipping = HookRunner {
            skip: true,
            ..runner
        };
        assert_eq!(
            skipping.run("pre-deploy", &context(), None).await.unwrap(),
            None
        );
    }
}
