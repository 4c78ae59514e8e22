//! Configuration: `config/deploy.yml` (+ destination file, ERB, secrets) → [`Config`].
//!
//! [`load`] is the whole stage: read each file, render its ERB, parse it into a spanned tree,
//! deep-merge the destination file over the base file, translate Kamal 1 keys, check the tree
//! against Kamal's schema (pass 1), then resolve it into the typed model (pass 2). Every
//! problem found along the way is collected; the result is either a [`Loaded`] (with warnings)
//! or one [`ConfigError`] carrying all errors, each pointing at its file, line and column.
//! Secrets are not read here: [`load_secrets`] does that, only for the commands that need them.

mod diagnostic;
mod erb;
mod kamal1;
mod model;
/// The spanned YAML tree; [`Loaded::raw`] keeps the merged files in it.
pub mod node;
mod resolve;
mod schema;
/// `.kamal/secrets*`: values for the secrets deploy.yml names.
pub mod secrets;
mod source;
mod template;
mod yaml;

use std::path::{Path, PathBuf};

use miette::Severity;

pub use diagnostic::{Code, ConfigDiagnostic, ConfigError, Problem};
pub use model::*;
pub use resolve::{KAMAL_COMMANDS, KAMAL_COMPATIBILITY, SecretRef, invalid_host_reason};
pub use secrets::{
    Secrets, SecretsError, SecretsOptions, load_secrets, missing_secrets, read_secrets,
};
pub use source::{FileId, SourceFile, Sources, Span};
pub use template::{TemplateError, render_text};

use diagnostic::Problems;
pub use node::Node;

/// What to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// `-c/--config-file`; `config/deploy.yml` by default.
    pub config_file: PathBuf,
    /// `-d/--destination`: also read `deploy.<destination>.yml`.
    pub destination: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            config_file: PathBuf::from("config/deploy.yml"),
            destination: None,
        }
    }
}

/// A loaded configuration and what is needed to point later diagnostics into its files.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    /// Deprecations, Kamal 1 keys, merge-key ambiguities and other things worth fixing.
    pub warnings: Vec<ConfigDiagnostic>,
    /// The files read, with their original text.
    pub sources: Sources,
    /// Every place that names a secret, for "missing secret" errors at the right line.
    pub secret_refs: Vec<SecretRef>,
    /// The merged files as plain data (after ERB and the destination merge, before Kamal 1 keys
    /// are translated): Kamal's `raw_config`, which some of its views print as written.
    pub raw: Node,
}

/// Loads the configuration, reading ERB variables from the process environment (with
/// `KAMAL_DESTINATION` set to the destination, as Kamal sets it); ERB may run shell commands
/// and Ruby.
pub fn load(options: &LoadOptions) -> Result<Loaded, ConfigError> {
    load_with(options, &|name| std::env::var(name).ok(), true)
}

/// [`load`] with ERB variables read through `env` instead of the process environment, and no
/// code run: ERB that needs a shell command or Ruby is an error.
pub fn load_with_env(
    options: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, ConfigError> {
    load_with(options, env, false)
}

/// [`load`] with ERB variables read through `env`; `allow_commands` says whether ERB may run
/// shell commands and Ruby (the switch `$(...)` in secrets files obeys, [`SecretsOptions`]).
pub fn load_with(
    options: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
    allow_commands: bool,
) -> Result<Loaded, ConfigError> {
    let mut problems = Problems::default();
    let mut sources = Sources::default();
    let destination = options.destination.as_deref();
    let erb_env = |name: &str| -> Option<String> {
        if name == "KAMAL_DESTINATION" {
            destination.map(str::to_string)
        } else {
            env(name)
        }
    };
    let mut files = vec![options.config_file.clone()];
    if let Some(destination) = destination {
        if valid_destination(destination) {
            files.push(destination_file(&options.config_file, destination));
        } else {
            problems.error(
                Problem::new(
                    Code::InvalidValue,
                    format!("invalid destination `{destination}`"),
                )
                .help("a destination is a name like `staging`: letters, digits, `-` and `_`"),
            );
        }
    }
    let mut root: Option<Node> = None;
    let erb_input = erb::ErbInput {
        env: &erb_env,
        allow_commands,
    };
    for path in &files {
        let Some(tree) = read_file(path, &mut sources, &erb_input, &mut problems) else {
            continue;
        };
        root = Some(match root {
            Some(base) => node::deep_merge(base, tree),
            None => tree,
        });
    }
    let config_name = options.config_file.display().to_string();
    let finish = |problems: Problems, sources: &Sources| {
        let (errors, _) = problems.into_parts();
        let diagnostics = errors
            .into_iter()
            .map(|problem| ConfigDiagnostic::from_problem(problem, Severity::Error, sources))
            .collect();
        ConfigError::new(&config_name, diagnostics)
    };
    let Some(mut root) = root.filter(|_| !problems.has_errors()) else {
        return Err(finish(problems, &sources));
    };
    let raw = root.clone();
    kamal1::translate(&mut root, &mut problems);
    schema::check_section(&root, &schema::CONFIGURATION, "", &mut problems);
    let (mut config, secret_refs) = resolve::resolve(&root, destination, &mut problems);
    if let Some(directory) = &config.error_pages_path {
        config.error_pages = error_pages(Path::new(directory));
    }
    if problems.has_errors() {
        return Err(finish(problems, &sources));
    }
    let (_, warnings) = problems.into_parts();
    let warnings = warnings
        .into_iter()
        .map(|problem| ConfigDiagnostic::from_problem(problem, Severity::Warning, &sources))
        .collect();
    Ok(Loaded {
        config,
        warnings,
        sources,
        secret_refs,
        raw,
    })
}

/// `config/deploy.yml` + `staging` → `config/deploy.staging.yml` (Ruby's `sub_ext`).
pub fn destination_file(config_file: &Path, destination: &str) -> PathBuf {
    let stem = config_file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    config_file.with_file_name(format!("{stem}.{destination}.yml"))
}

fn valid_destination(destination: &str) -> bool {
    !destination.is_empty()
        && !destination.starts_with('.')
        && destination
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Reads, renders and parses one file; `None` after recording why it could not be.
fn read_file(
    path: &Path,
    sources: &mut Sources,
    erb_input: &erb::ErbInput<'_>,
    problems: &mut Problems,
) -> Option<Node> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            problems.error(
                Problem::new(
                    Code::FileNotFound,
                    format!("configuration file not found: {}", path.display()),
                )
                .help(
                    "run `gantry init` to create one, or point `-c/--config-file` \
                     at it (with `-d`, the destination file must exist too)",
                ),
            );
            return None;
        }
        Err(error) => {
            problems.error(
                Problem::new(
                    Code::FileUnreadable,
                    format!("cannot read {}: {error}", path.display()),
                )
                .help("check the file's permissions and that it is UTF-8 text"),
            );
            return None;
        }
    };
    let file = sources.add(path, &text);
    let rendered = erb::render(&text, file, erb_input, problems)?;
    let tree = yaml::parse(&rendered.text, file, &rendered.map, problems)?;
    if tree.as_map().is_none() {
        problems.error(
            Problem::new(
                Code::WrongType,
                format!("{}: should be a hash of settings", path.display()),
            )
            .at(tree.span, format!("found {}", tree.kind()))
            .help("a deploy.yml starts with `service: <name>` and other top-level keys"),
        );
        return None;
    }
    Some(tree)
}

/// The files of `directory` that Kamal's glob `{4??.html,5??.html}` picks, sorted; none when
/// the directory cannot be read (Kamal then uploads nothing either).
fn error_pages(directory: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut pages: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| is_error_page(name))
        .map(|name| directory.join(name).display().to_string())
        .collect();
    pages.sort();
    pages
}

/// `4??.html` or `5??.html`.
fn is_error_page(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".html") else {
        return false;
    };
    stem.chars().count() == 3 && (stem.starts_with('4') || stem.starts_with('5'))
}

#[cfg(test)]
mod error_page_tests {
    use super::*;

    #[test]
    fn error_pages_are_the_files_kamals_glob_picks() {
        let directory = tempfile::tempdir().unwrap();
        for name in [
            "4xx.html",
            "500.html",
            "5xx.htm",
            "404.html.bak",
            "41.html",
            "index.html",
        ] {
            std::fs::write(directory.path().join(name), "x").unwrap();
        }
        std::fs::create_dir(directory.path().join("499.html")).unwrap();
        let found = error_pages(directory.path());
        let names: Vec<&str> = found
            .iter()
            .map(|path| path.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["4xx.html", "500.html"]);
        assert!(error_pages(&directory.path().join("missing")).is_empty());
    }
}
