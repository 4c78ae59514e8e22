//! What the configuration fuzzers check, shared by the libFuzzer targets (`fuzz/fuzz_targets/`,
//! long runs through `fuzz/run.sh`) and the short proptest run of the normal test suite
//! (`tests/reliability_fuzz.rs`).
//!
//! Input: a deploy.yml text, an optional destination file (`deploy.fuzz.yml`), and the value of
//! the ERB variables `X` and `Y` (the `GANTRY_TEST_*` variables of the ERB fixture have fixed
//! values); or a secrets file's text. Invariants:
//!
//! - loading never panics (the drivers also bound the time: libFuzzer's `-timeout`, proptest's
//!   deadline);
//! - a rejection is a diagnostic: at least one error, each with a code and a message, and the
//!   whole report renders (miette's graphical handler, source snippets included) without
//!   panicking;
//! - an accepted configuration goes on through the pure stages — desired state with every secret
//!   set to [`SECRET`], a plan for fresh hosts, its text and DOT renderings — without panicking,
//!   and no rendering shows the secret's value.

use std::collections::BTreeMap;
use std::path::Path;

use gantry::config::{LoadOptions, SecretsOptions, load_with_env, secrets};
use gantry::desired::{SecretValues, Selection};
use gantry::diff::DiffOptions;
use gantry::observe::{HostState, Observed, ObservedHost};
use gantry::pipeline::{self, PlanRequest};
use gantry::secret::{Redactor, Secret};

/// The value every secret has while fuzzing; it must never show in a rendered plan.
pub const SECRET: &str = "FUZZ-SECRET-VALUE-7f3a9c";

/// One configuration to load.
#[derive(Clone, Debug)]
pub struct ConfigInput<'a> {
    pub base: &'a str,
    /// `deploy.fuzz.yml`, loaded with `-d fuzz` when present.
    pub destination: Option<&'a str>,
    /// What `ENV["X"]` and `ENV["Y"]` read.
    pub erb_value: &'a str,
}

/// How far an input got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reached {
    /// Refused with this many diagnostics.
    Rejected(usize),
    /// Loaded; building the desired state refused it (a missing file, a bad docker option).
    DesiredRefused,
    /// Loaded, desired state built and planned.
    Planned,
}

struct EverySecret(Secret);

impl SecretValues for EverySecret {
    fn secret(&self, _key: &str) -> Option<&Secret> {
        Some(&self.0)
    }
}

/// Renders a diagnostic as a terminal would show it; panics are what the fuzzers look for.
fn render(diagnostic: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
    handler
        .render_report(&mut out, diagnostic)
        .unwrap_or_else(|error| panic!("rendering a diagnostic failed: {error}"));
    out
}

/// Loads `input` from `dir` (files are rewritten every call) and checks every invariant.
pub fn check_config(dir: &Path, input: &ConfigInput<'_>) -> Reached {
    let config_file = dir.join("deploy.yml");
    let destination_file = dir.join("deploy.fuzz.yml");
    std::fs::write(&config_file, input.base).unwrap_or_else(|error| panic!("writing: {error}"));
    match input.destination {
        Some(text) => std::fs::write(&destination_file, text)
            .unwrap_or_else(|error| panic!("writing: {error}")),
        None => {
            let _ = std::fs::remove_file(&destination_file);
        }
    }
    let options = LoadOptions {
        config_file,
        destination: input.destination.map(|_| "fuzz".to_string()),
    };
    // `X` and `Y` read the input's value; the ERB fixture's variables read fixed ones, so its
    // edits get past loading; anything else is unset.
    let env = |name: &str| match name {
        "X" | "Y" => Some(input.erb_value.to_string()),
        "GANTRY_TEST_PORT" => Some("8080".to_string()),
        other if other.starts_with("GANTRY_TEST_") => Some("erb-value".to_string()),
        _ => None,
    };
    let loaded = match load_with_env(&options, &env) {
        Ok(loaded) => loaded,
        Err(error) => {
            assert!(!error.errors.is_empty(), "a rejection without a diagnostic");
            for diagnostic in &error.errors {
                assert!(
                    !diagnostic.message.trim().is_empty(),
                    "a diagnostic without a message: {:?}",
                    diagnostic.code
                );
                assert!(diagnostic.code.as_str().starts_with("gantry::"));
            }
            render(&error);
            return Reached::Rejected(error.errors.len());
        }
    };
    for warning in &loaded.warnings {
        render(warning);
    }
    let secrets = EverySecret(Secret::new(SECRET));
    let selection = Selection::default();
    let read = |_: &str| -> Result<Vec<u8>, String> { Ok(b"file\n".to_vec()) };
    let request = PlanRequest {
        config: &loaded.config,
        secrets: &secrets,
        version: "v1",
        selection: &selection,
        diff: DiffOptions::default(),
        atomic: false,
        read_local_file: &read,
        app_boot_hooks: Vec::new(),
        canary: None,
    };
    let Ok(desired) = pipeline::desired(&request) else {
        return Reached::DesiredRefused;
    };
    let fresh = HostState {
        home: "/home/fuzz".to_string(),
        routes: Some(Vec::new()),
        ..HostState::default()
    };
    let observed = Observed {
        hosts: desired
            .hosts
            .iter()
            .map(|host| {
                (
                    host.name.clone(),
                    ObservedHost::Reachable(Box::new(fresh.clone())),
                )
            })
            .collect::<BTreeMap<_, _>>(),
    };
    let plan = pipeline::plan_from(&request, &desired, &observed);
    let text = gantry::plan::render::render(
        &plan,
        gantry::plan::render::RenderOptions { color: false },
        &Redactor::default(),
    );
    let dot = gantry::plan::dot::render_dot(&plan, &Redactor::default());
    let written = [
        input.base,
        input.destination.unwrap_or_default(),
        input.erb_value,
    ];
    if !written.iter().any(|text| text.contains(SECRET)) {
        assert!(
            !text.contains(SECRET),
            "a secret's value in the plan:\n{text}"
        );
        assert!(!dot.contains(SECRET), "a secret's value in the DOT graph");
    }
    Reached::Planned
}

/// Parses a secrets file (commands refused: fuzzing must run nothing) and checks that a
/// rejection is a diagnostic.
pub fn check_secrets(text: &str) -> bool {
    match secrets::parse_secrets_text(
        text,
        &SecretsOptions {
            allow_commands: false,
        },
    ) {
        Ok(_) => true,
        Err(error) => {
            assert!(!error.errors.is_empty(), "a rejection without a diagnostic");
            for diagnostic in &error.errors {
                assert!(!diagnostic.message.trim().is_empty());
            }
            render(&error);
            false
        }
    }
}
