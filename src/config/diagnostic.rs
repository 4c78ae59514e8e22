//! Configuration diagnostics: what went wrong, where, and how to fix it.
//!
//! Loading never stops at the first mistake: every stage pushes [`Problem`]s into a
//! [`Problems`] collector, and [`ConfigError`] carries all of them (miette `#[related]`), each
//! with a stable code (`gantry::config::unknown_key`), a message that names the key path with
//! slashes (`servers/web/hosts`), a label at the span, and a `help:` line. Warnings use the same
//! shape. Messages name keys and files, never secret values.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceCode};

use super::source::{Sources, Span};

/// Every diagnostic the loader can emit; the code is part of gantry's interface (specs/config.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    FileNotFound,
    FileUnreadable,
    ErbUnsupported,
    ErbUnterminated,
    ErbMissingEnv,
    ErbMultilineValue,
    ErbSyntax,
    ErbError,
    ErbCommandFailed,
    ErbCommandsDisabled,
    YamlSyntax,
    YamlLimit,
    DuplicateKey,
    MergeKeyOrder,
    UnknownKey,
    WrongType,
    MissingKey,
    InvalidValue,
    InvalidHost,
    InvalidName,
    DuplicateHost,
    PrimaryRole,
    EmptyRole,
    UnknownRole,
    AccessoryHosts,
    ProxyHosts,
    SslHosts,
    ReservedLabel,
    RetainContainers,
    MinimumVersion,
    DestinationRequired,
    InvalidAlias,
    ServiceName,
    DockerOption,
    RestartPolicy,
    ProxyRunConflict,
    Kamal1Healthcheck,
    Kamal1Traefik,
    IgnoredKey,
    Deprecated,
    BuilderArch,
    SecretMissing,
    SecretSyntax,
    SecretCommandFailed,
    SecretCommandsDisabled,
    SecretFileUnreadable,
}

impl Code {
    /// The stable, documented code (`gantry::config::unknown_key`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::FileNotFound => "gantry::config::file_not_found",
            Code::FileUnreadable => "gantry::config::file_unreadable",
            Code::ErbUnsupported => "gantry::config::erb_unsupported",
            Code::ErbUnterminated => "gantry::config::erb_unterminated",
            Code::ErbMissingEnv => "gantry::config::erb_missing_env",
            Code::ErbMultilineValue => "gantry::config::erb_multiline_value",
            Code::ErbSyntax => "gantry::config::erb_syntax",
            Code::ErbError => "gantry::config::erb_error",
            Code::ErbCommandFailed => "gantry::config::erb_command_failed",
            Code::ErbCommandsDisabled => "gantry::config::erb_commands_disabled",
            Code::YamlSyntax => "gantry::config::yaml_syntax",
            Code::YamlLimit => "gantry::config::yaml_limit",
            Code::DuplicateKey => "gantry::config::duplicate_key",
            Code::MergeKeyOrder => "gantry::config::merge_key_order",
            Code::UnknownKey => "gantry::config::unknown_key",
            Code::WrongType => "gantry::config::wrong_type",
            Code::MissingKey => "gantry::config::missing_key",
            Code::InvalidValue => "gantry::config::invalid_value",
            Code::InvalidHost => "gantry::config::invalid_host",
            Code::DuplicateHost => "gantry::config::duplicate_host",
            Code::PrimaryRole => "gantry::config::primary_role",
            Code::EmptyRole => "gantry::config::empty_role",
            Code::UnknownRole => "gantry::config::unknown_role",
            Code::AccessoryHosts => "gantry::config::accessory_hosts",
            Code::ProxyHosts => "gantry::config::proxy_hosts",
            Code::SslHosts => "gantry::config::ssl_hosts",
            Code::ReservedLabel => "gantry::config::reserved_label",
            Code::RetainContainers => "gantry::config::retain_containers",
            Code::MinimumVersion => "gantry::config::minimum_version",
            Code::DestinationRequired => "gantry::config::destination_required",
            Code::InvalidAlias => "gantry::config::invalid_alias",
            Code::InvalidName => "gantry::config::invalid_name",
            Code::ServiceName => "gantry::config::service_name",
            Code::DockerOption => "gantry::config::docker_option",
            Code::RestartPolicy => "gantry::config::restart_policy",
            Code::ProxyRunConflict => "gantry::config::proxy_run_conflict",
            Code::Kamal1Healthcheck => "gantry::config::kamal1_healthcheck",
            Code::Kamal1Traefik => "gantry::config::kamal1_traefik",
            Code::IgnoredKey => "gantry::config::ignored_key",
            Code::Deprecated => "gantry::config::deprecated",
            Code::BuilderArch => "gantry::config::builder_arch",
            Code::SecretMissing => "gantry::secrets::missing",
            Code::SecretSyntax => "gantry::secrets::syntax",
            Code::SecretCommandFailed => "gantry::secrets::command_failed",
            Code::SecretCommandsDisabled => "gantry::secrets::commands_disabled",
            Code::SecretFileUnreadable => "gantry::secrets::file_unreadable",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One finding, before it is tied to a source text for rendering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    /// Where in which file; `None` for problems about files themselves.
    pub span: Option<Span>,
    /// The text next to the span (`unknown key`, `expected an array`).
    pub label: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Problem {
    /// A problem with a message; add a span, label and help with the builder methods.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Problem {
            code,
            message: message.into(),
            span: None,
            label: None,
            help: None,
        }
    }

    /// Points the problem at a span.
    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.span = Some(span);
        self.label = Some(label.into());
        self
    }

    /// Points the problem at a span when there is one.
    pub fn at_opt(self, span: Option<Span>, label: impl Into<String>) -> Self {
        match span {
            Some(span) => self.at(span, label),
            None => self,
        }
    }

    /// Adds the `help:` line.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// Errors and warnings collected across every stage of one load.
#[derive(Clone, Debug, Default)]
pub struct Problems {
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Problems {
    /// Records an error; loading goes on to find more. A second problem with the same code and
    /// label at the same place is the same mistake seen twice (a root setting merged into several
    /// roles) and is dropped.
    pub fn error(&mut self, problem: Problem) {
        if !self.errors.iter().any(|seen| same_mistake(seen, &problem)) {
            self.errors.push(problem);
        }
    }

    /// Records a warning, once per code and place.
    pub fn warn(&mut self, problem: Problem) {
        if !self
            .warnings
            .iter()
            .any(|seen| same_mistake(seen, &problem))
        {
            self.warnings.push(problem);
        }
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The errors so far.
    #[cfg(test)]
    pub fn errors(&self) -> &[Problem] {
        &self.errors
    }

    /// Splits into (errors, warnings), each in file order (problems about whole files first).
    pub fn into_parts(mut self) -> (Vec<Problem>, Vec<Problem>) {
        let position = |problem: &Problem| problem.span.map(|span| (span.file, span.offset));
        self.errors.sort_by_key(position);
        self.warnings.sort_by_key(position);
        (self.errors, self.warnings)
    }
}

fn same_mistake(a: &Problem, b: &Problem) -> bool {
    match (a.span, b.span) {
        (Some(left), Some(right)) => a.code == b.code && left == right && a.label == b.label,
        _ => a == b,
    }
}

/// A problem tied to its file, ready for miette.
#[derive(Clone)]
pub struct ConfigDiagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    /// `file:line:column` of the span, for plain-text consumers.
    pub location: Option<String>,
    source: Option<NamedSource<Arc<str>>>,
    label: Option<LabeledSpan>,
}

impl ConfigDiagnostic {
    /// Ties a problem to the file its span points into.
    pub fn from_problem(problem: Problem, severity: Severity, sources: &Sources) -> Self {
        let source = problem
            .span
            .and_then(|span| sources.named_source(span.file));
        let location = problem.span.and_then(|span| {
            let (line, column) = sources.line_column(span)?;
            let file = sources.file(span.file)?;
            Some(format!("{}:{line}:{column}", file.path.display()))
        });
        let label = problem
            .span
            .map(|span| LabeledSpan::new_with_span(problem.label.clone(), span.source_span()));
        ConfigDiagnostic {
            code: problem.code,
            severity,
            message: problem.message,
            help: problem.help,
            location,
            source,
            label,
        }
    }
}

impl fmt::Debug for ConfigDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigDiagnostic")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("location", &self.location)
            .finish()
    }
}

impl fmt::Display for ConfigDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigDiagnostic {}

impl Diagnostic for ConfigDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }

    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|source| source as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.label
            .as_ref()
            .map(|label| Box::new(std::iter::once(label.clone())) as Box<dyn Iterator<Item = _>>)
    }
}

/// Loading failed; carries every error found, each pointing into its file.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{summary}")]
#[diagnostic(code(gantry::config))]
pub struct ConfigError {
    summary: String,
    /// Every error, in file order.
    #[related]
    pub errors: Vec<ConfigDiagnostic>,
}

impl ConfigError {
    /// Wraps the errors of a load of `config_file`.
    pub fn new(config_file: &str, errors: Vec<ConfigDiagnostic>) -> Self {
        let count = errors.len();
        let noun = if count == 1 { "error" } else { "errors" };
        ConfigError {
            summary: format!("could not load {config_file}: {count} {noun}"),
            errors,
        }
    }
}
