//! Secrets: `.kamal/secrets*` → [`Secrets`], loaded only by the commands that need values.
//!
//! Files, in order, later keys overriding earlier ones: `<secrets_path>-common`, then
//! `<secrets_path>` — or `<secrets_path>.<destination>` with a destination, in which case the
//! plain file is not read. Paths are relative to the current directory, as in Kamal. Missing
//! files are skipped; a secret that deploy.yml names and no file provides is an error that
//! points at the YAML line naming it.
//!
//! `$(command)` runs shell code from the repository, so it can be refused
//! ([`SecretsOptions::allow_commands`]). `$(kamal secrets ...)` never reaches the shell: it runs
//! in-process as Kamal runs it ([`kamal_command`]), fetching through the password-manager
//! [`adapters`]. Values live in [`Secret`](crate::secret::Secret)s; no error, log line or
//! `Debug` output here contains one.

pub mod adapters;
mod command;
mod dotenv;
pub mod kamal_command;
pub(crate) mod shell_words;
mod substitute;

use std::collections::BTreeMap;
use std::path::PathBuf;

use miette::Severity;

use super::diagnostic::{Code, ConfigDiagnostic, Problem};
use super::model::{Env, Registry, ValueOrSecret};
use super::{Config, Loaded, Sources};
use crate::secret::{Redactor, Secret};
use substitute::expand;

pub use command::COMMAND_TIMEOUT;
pub(crate) use command::{CommandFailure, run as run_shell};

/// How secrets may be produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretsOptions {
    /// Whether `$(...)` may run. Off with `--no-secret-commands` or `GANTRY_SECRET_COMMANDS=0`.
    pub allow_commands: bool,
}

impl Default for SecretsOptions {
    fn default() -> Self {
        SecretsOptions {
            allow_commands: true,
        }
    }
}

/// Secret values by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Secrets {
    values: BTreeMap<String, Secret>,
    /// Keys in the order the files first set them (Kamal's order for `secrets print`).
    file_order: Vec<String>,
}

/// Secrets could not be loaded or a needed one is missing; carries every problem found.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{summary}")]
#[diagnostic(code(gantry::secrets))]
pub struct SecretsError {
    summary: String,
    /// Every problem; a missing secret points at the YAML line that names it.
    #[related]
    pub errors: Vec<ConfigDiagnostic>,
}

impl SecretsError {
    fn new(errors: Vec<ConfigDiagnostic>) -> Self {
        let count = errors.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        SecretsError {
            summary: format!("could not load secrets: {count} {noun}"),
            errors,
        }
    }

    fn single(problem: Problem) -> Self {
        SecretsError::new(vec![ConfigDiagnostic::from_problem(
            problem,
            Severity::Error,
            &Sources::default(),
        )])
    }
}

/// The secrets files for a configuration, in the order they are read.
pub fn secrets_files(secrets_path: &str, destination: Option<&str>) -> Vec<PathBuf> {
    let main = match destination {
        Some(destination) => format!("{secrets_path}.{destination}"),
        None => secrets_path.to_string(),
    };
    vec![
        PathBuf::from(format!("{secrets_path}-common")),
        PathBuf::from(main),
    ]
}

/// Reads the secrets files of `loaded` and checks that every secret it names has a value.
pub fn load_secrets(loaded: &Loaded, options: &SecretsOptions) -> Result<Secrets, SecretsError> {
    let (secrets, mut errors) = read_files(&loaded.config, options);
    errors.extend(missing_problems(loaded, &secrets));
    if errors.is_empty() {
        Ok(secrets)
    } else {
        Err(SecretsError::new(diagnostics(
            errors,
            Severity::Error,
            loaded,
        )))
    }
}

/// Reads the secrets files of `config`, as Kamal does for `kamal secrets print`: every key of
/// every file, whether deploy.yml names it or not.
pub fn read_secrets(config: &Config, options: &SecretsOptions) -> Result<Secrets, SecretsError> {
    let (secrets, errors) = read_files(config, options);
    if errors.is_empty() {
        Ok(secrets)
    } else {
        let sources = Sources::default();
        Err(SecretsError::new(
            errors
                .into_iter()
                .map(|problem| ConfigDiagnostic::from_problem(problem, Severity::Error, &sources))
                .collect(),
        ))
    }
}

/// The secrets that deploy.yml names and `secrets` lacks, each pointing at the YAML line that
/// names it, with the given severity.
pub fn missing_secrets(
    loaded: &Loaded,
    secrets: &Secrets,
    severity: Severity,
) -> Vec<ConfigDiagnostic> {
    diagnostics(missing_problems(loaded, secrets), severity, loaded)
}

fn diagnostics(
    problems: Vec<Problem>,
    severity: Severity,
    loaded: &Loaded,
) -> Vec<ConfigDiagnostic> {
    problems
        .into_iter()
        .map(|problem| ConfigDiagnostic::from_problem(problem, severity, &loaded.sources))
        .collect()
}

/// Every secrets file of `config`, in order; the problems found on the way.
fn read_files(config: &Config, options: &SecretsOptions) -> (Secrets, Vec<Problem>) {
    let mut errors = Vec::new();
    let mut secrets = Secrets::default();
    for path in secrets_files(&config.secrets_path, config.destination.as_deref()) {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                errors.push(
                    Problem::new(
                        Code::SecretFileUnreadable,
                        format!("cannot read {}: {error}", path.display()),
                    )
                    .help("check the file's permissions"),
                );
                continue;
            }
        };
        if let Err(problem) = read_file(&path, &text, options, &mut secrets) {
            errors.push(problem);
        }
    }
    (secrets, errors)
}

fn missing_problems(loaded: &Loaded, secrets: &Secrets) -> Vec<Problem> {
    let config = &loaded.config;
    let mut problems = Vec::new();
    for reference in &loaded.secret_refs {
        if secrets.get(&reference.key).is_none() {
            problems.push(
                Problem::new(
                    Code::SecretMissing,
                    format!("secret {} is not set", reference.key),
                )
                .at(reference.span, format!("{} names it", reference.path))
                .help(format!(
                    "add `{}=...` to {} (or {}-common)",
                    reference.key,
                    secrets_files(&config.secrets_path, config.destination.as_deref())
                        .last()
                        .map(|path| path.display().to_string())
                        .unwrap_or_default(),
                    config.secrets_path
                )),
            );
        }
    }
    problems
}

/// Parses and evaluates one secrets file's text on its own (no other files, no check of what
/// deploy.yml names): for tools and tests that have the text in hand.
pub fn parse_secrets_text(text: &str, options: &SecretsOptions) -> Result<Secrets, SecretsError> {
    let mut secrets = Secrets::default();
    read_file(
        std::path::Path::new("(secrets)"),
        text,
        options,
        &mut secrets,
    )
    .map_err(SecretsError::single)?;
    Ok(secrets)
}

/// Parses and evaluates one file into `values`; the first problem stops the file.
fn read_file(
    path: &std::path::Path,
    text: &str,
    options: &SecretsOptions,
    secrets: &mut Secrets,
) -> Result<(), Problem> {
    let file = path.display().to_string();
    let assignments = dotenv::parse(text).map_err(|error| {
        Problem::new(
            Code::SecretSyntax,
            format!("{file}:{}: {}", error.line, error.message),
        )
        .help("write one `KEY=value` per line; quote values that contain spaces or `#`")
    })?;
    for assignment in assignments {
        let value = match assignment.quoting {
            dotenv::Quoting::Single => assignment.raw.clone(),
            _ => {
                let place = format!("{file}:{}", assignment.line);
                let env = |name: &str| std::env::var(name).ok();
                let known: &BTreeMap<String, Secret> = &secrets.values;
                expand(&assignment.raw, known, &env, &mut |script| {
                    run_command(script, known, options, &place, &assignment.key)
                })?
            }
        };
        secrets.insert(assignment.key, Secret::new(value));
    }
    Ok(())
}

/// Runs one `$(...)` of `key` (at `place`, `file:line`), if commands are allowed: a `kamal
/// secrets ...` (or `gantry secrets ...`) command in-process, as Kamal runs it, after putting
/// the variables into its text; any other command through `sh`, with the keys defined so far
/// in its environment (the shell expands them, as data).
fn run_command(
    script: &str,
    known: &BTreeMap<String, Secret>,
    options: &SecretsOptions,
    place: &str,
    key: &str,
) -> Result<String, Problem> {
    if !options.allow_commands {
        return Err(Problem::new(
            Code::SecretCommandsDisabled,
            format!("{place}: {key} uses `$(...)` but secret commands are disabled"),
        )
        .help(
            "run without --no-secret-commands (and without GANTRY_SECRET_COMMANDS=0) to allow \
             it, or put the value in the file",
        ));
    }
    let lookup = |name: &str| -> String {
        known
            .get(name)
            .map(|value| value.expose().to_string())
            .or_else(|| std::env::var(name).ok())
            .unwrap_or_default()
    };
    let substituted = substitute::substitute_variables(script, &lookup);
    if let Some(words) = kamal_command::inline_command(&substituted) {
        let failed = |why: String| {
            Problem::new(
                Code::SecretCommandFailed,
                format!("{place}: the `secrets` command for {key} failed: {why}"),
            )
            .help("run it with `gantry secrets ...` to see it on its own")
        };
        let words = words.map_err(|error| failed(error.to_string()))?;
        return kamal_command::run_inline(&words, &mut adapters::SystemRunner)
            .map_err(|error| failed(error.to_string()));
    }
    let variables = known
        .iter()
        .map(|(name, value)| (name.as_str(), value.expose()));
    command::run(script, variables, COMMAND_TIMEOUT).map_err(|failure| {
        let why = match failure {
            command::CommandFailure::Spawn(error) => format!("could not start sh: {error}"),
            command::CommandFailure::Exit(Some(code)) => format!("exited with status {code}"),
            command::CommandFailure::Exit(None) => "was killed by a signal".to_string(),
            command::CommandFailure::TimedOut => {
                format!("did not finish within {} s", COMMAND_TIMEOUT.as_secs())
            }
        };
        Problem::new(
            Code::SecretCommandFailed,
            format!("{place}: the command for {key} {why}"),
        )
        .help(
            "run the command by hand to see its error (its output is not shown here, it may \
             be secret)",
        )
    })
}

impl Secrets {
    /// Secrets from values already in hand (tests, other front ends).
    pub fn from_values(values: impl IntoIterator<Item = (String, Secret)>) -> Self {
        let mut secrets = Secrets::default();
        for (key, value) in values {
            secrets.insert(key, value);
        }
        secrets
    }

    /// Sets a key; a key set again keeps its first place in the file order.
    fn insert(&mut self, key: String, value: Secret) {
        if !self.values.contains_key(&key) {
            self.file_order.push(key.clone());
        }
        self.values.insert(key, value);
    }

    /// Every key and value in the order the files set them, as `kamal secrets print` lists
    /// them.
    pub fn in_file_order(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.file_order
            .iter()
            .filter_map(|key| self.values.get_key_value(key))
            .map(|(key, value)| (key.as_str(), value))
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<&Secret> {
        self.values.get(key)
    }

    /// Every key and value, sorted by key (hooks receive all secrets as environment).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.values.iter().map(|(key, value)| (key.as_str(), value))
    }

    /// A redactor for every value, for output gantry does not compose itself.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.values.values())
    }

    /// The secret part of an env: container variable → value, honouring `NAME:KEY` aliases.
    pub fn env_values(&self, env: &Env) -> Result<BTreeMap<String, Secret>, SecretsError> {
        let mut missing = Vec::new();
        let mut out = BTreeMap::new();
        for secret in &env.secrets {
            match self.get(&secret.key) {
                Some(value) => {
                    out.insert(secret.name.clone(), value.clone());
                }
                None => missing.push(secret.key.clone()),
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(SecretsError::single(
                Problem::new(
                    Code::SecretMissing,
                    format!("secrets not set: {}", missing.join(", ")),
                )
                .help("add them to .kamal/secrets"),
            ))
        }
    }

    /// Registry credentials: `None` when the registry needs none (a local registry).
    pub fn registry_auth(
        &self,
        registry: &Registry,
    ) -> Result<Option<(String, Secret)>, SecretsError> {
        let (Some(username), Some(password)) = (&registry.username, &registry.password) else {
            return Ok(None);
        };
        let resolve = |value: &ValueOrSecret| -> Result<Secret, SecretsError> {
            match value {
                ValueOrSecret::Value(text) => Ok(Secret::new(text.clone())),
                ValueOrSecret::Secret(key) => self.get(key).cloned().ok_or_else(|| {
                    SecretsError::single(
                        Problem::new(Code::SecretMissing, format!("secret {key} is not set"))
                            .help(format!("add `{key}=...` to .kamal/secrets")),
                    )
                }),
            }
        };
        let username = resolve(username)?.expose().to_string();
        Ok(Some((username, resolve(password)?)))
    }
}

#[cfg(test)]
mod tests;
