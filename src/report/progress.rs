//! Reporting a run: live progress while `apply` runs, and the outcome when it ends.
//!
//! Three [`Reporter`]s: [`LineReporter`] writes one line per step (CI logs, and on a terminal
//! with a live counter below the lines), [`JsonReporter`] writes one JSON event per line for
//! machines, and the executor's own `QuietReporter`. [`render_outcome`] is the closing summary,
//! one line per host. Everything written goes through the [`Redactor`].

use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use owo_colors::OwoColorize;
use serde_json::json;

use crate::apply::{ActionResult, HostOutcome, Outcome, Reporter};
use crate::plan::{ActionId, Plan};
use crate::secret::Redactor;

/// Human progress: a line per finished, failed or undone action.
pub struct LineReporter {
    out: Mutex<Box<dyn Write + Send>>,
    redactor: Redactor,
    color: bool,
    /// A live "n/m actions" line on terminals.
    bar: Option<ProgressBar>,
}

impl LineReporter {
    /// Writes to `out`; `live` adds a progress line (only on a terminal).
    pub fn new(
        out: Box<dyn Write + Send>,
        redactor: Redactor,
        color: bool,
        live: bool,
        total: usize,
    ) -> Self {
        let bar = live.then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {pos}/{len} actions {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        LineReporter {
            out: Mutex::new(out),
            redactor,
            color,
            bar,
        }
    }

    /// Every line passes here: redacted, and terminal-safe (failure causes quote hosts).
    fn line(&self, text: &str) {
        let redacted = self.redactor.redact(text);
        let text = crate::printable::for_terminal(&redacted);
        match &self.bar {
            Some(bar) => bar.println(text),
            None => {
                let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }

    /// Removes the live line before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

fn describe(plan: &Plan, id: ActionId) -> String {
    let node = plan.node(id);
    format!("{}  #{} {}", node.host, plan.number(id), node.action)
}

impl Reporter for LineReporter {
    fn action_started(&self, plan: &Plan, id: ActionId) {
        if let Some(bar) = &self.bar {
            let redacted = self.redactor.redact(&describe(plan, id));
            bar.set_message(crate::printable::for_terminal(&redacted).into_owned());
        }
    }

    fn action_finished(&self, plan: &Plan, id: ActionId, took: Duration) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.line(&format!("{} ({})", describe(plan, id), seconds(took)));
    }

    fn action_failed(&self, plan: &Plan, id: ActionId, error: &str, best_effort: bool) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        let label = if best_effort { "warning" } else { "failed" };
        let text = format!("{} {label}: {error}", describe(plan, id));
        let text = match (self.color, best_effort) {
            (true, false) => text.red().to_string(),
            (true, true) => text.yellow().to_string(),
            _ => text,
        };
        self.line(&text);
    }

    fn rollback_started(&self, scope: &str, cause: &str) {
        let target = if scope == "*" {
            "every host".to_string()
        } else {
            scope.to_string()
        };
        // The failure and its log lines were printed just above: name it, once.
        let text = format!("rolling back {target}: {}", first_line(cause));
        self.line(&if self.color {
            text.yellow().to_string()
        } else {
            text
        });
    }

    fn compensated(&self, plan: &Plan, id: ActionId, result: Result<(), &str>) {
        let node = plan.node(id);
        let undo = node
            .compensation
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        match result {
            Ok(()) => self.line(&format!("{}  undo #{}: {undo}", node.host, plan.number(id))),
            Err(error) => self.line(&format!(
                "{}  undo #{}: {undo} failed: {error}",
                node.host,
                plan.number(id)
            )),
        }
    }

    fn cancelled(&self, why: &str) {
        self.line(&format!(
            "stopping: {why}; finishing what is running, then rolling back what is half done"
        ));
    }
}

/// Machine progress: one JSON object per line (`--json`).
pub struct JsonReporter {
    out: Mutex<Box<dyn Write + Send>>,
    redactor: Redactor,
}

impl JsonReporter {
    /// Writes events to `out`.
    pub fn new(out: Box<dyn Write + Send>, redactor: Redactor) -> Self {
        JsonReporter {
            out: Mutex::new(out),
            redactor,
        }
    }

    fn event(&self, value: serde_json::Value) {
        let text = self.redactor.redact(&value.to_string());
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

fn action_json(plan: &Plan, id: ActionId) -> serde_json::Value {
    let node = plan.node(id);
    json!({
        "id": plan.number(id),
        "host": node.host,
        "kind": node.action.kind(),
        "description": node.action.to_string(),
    })
}

impl Reporter for JsonReporter {
    fn action_started(&self, plan: &Plan, id: ActionId) {
        self.event(json!({"event": "action_started", "action": action_json(plan, id)}));
    }

    fn action_finished(&self, plan: &Plan, id: ActionId, took: Duration) {
        self.event(json!({
            "event": "action_finished",
            "action": action_json(plan, id),
            "took_ms": took.as_millis() as u64,
        }));
    }

    fn action_failed(&self, plan: &Plan, id: ActionId, error: &str, best_effort: bool) {
        self.event(json!({
            "event": "action_failed",
            "action": action_json(plan, id),
            "error": error,
            "best_effort": best_effort,
        }));
    }

    fn rollback_started(&self, scope: &str, cause: &str) {
        self.event(json!({"event": "rollback_started", "scope": scope, "cause": cause}));
    }

    fn compensated(&self, plan: &Plan, id: ActionId, result: Result<(), &str>) {
        self.event(json!({
            "event": "compensated",
            "action": action_json(plan, id),
            "error": result.err(),
        }));
    }

    fn cancelled(&self, why: &str) {
        self.event(json!({"event": "cancelled", "why": why}));
    }
}

/// The closing summary: one line per host, then what a rerun will do.
pub fn render_outcome(plan: &Plan, outcome: &Outcome, color: bool, redactor: &Redactor) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\nApply finished in {}:", seconds(outcome.took));
    let width = outcome.hosts.keys().map(String::len).max().unwrap_or(0);
    for (host, result) in &outcome.hosts {
        let actions: Vec<ActionId> = plan
            .actions()
            .filter(|(_, node)| &node.host == host)
            .map(|(id, _)| id)
            .collect();
        let busy: Duration = actions
            .iter()
            .filter_map(|id| match outcome.actions.get(id) {
                Some(ActionResult::Done { took }) => Some(*took),
                _ => None,
            })
            .sum();
        let text = match result {
            HostOutcome::Converged => format!(
                "converged ({} actions, {} of work)",
                actions.len(),
                seconds(busy)
            ),
            HostOutcome::Unchanged => "no changes".to_string(),
            // One line per host: the failure's log lines were shown when it happened.
            HostOutcome::RolledBack { cause } => format!("rolled back: {}", first_line(cause)),
            HostOutcome::Failed {
                cause,
                rollback_errors,
            } => format!(
                "FAILED and not fully rolled back: {}; {}",
                first_line(cause),
                rollback_errors.join("; ")
            ),
            HostOutcome::Skipped { cause } => format!("unchanged, skipped: {cause}"),
            HostOutcome::Cancelled => "unchanged, cancelled before it started".to_string(),
            HostOutcome::Unreachable { reason } => format!("unreachable, not changed: {reason}"),
        };
        let line = format!("  {host:<width$}  {text}");
        let line = match (color, result) {
            (false, _) => line,
            (true, HostOutcome::Converged | HostOutcome::Unchanged) => line.green().to_string(),
            (true, HostOutcome::Failed { .. }) => line.red().bold().to_string(),
            (true, _) => line.yellow().to_string(),
        };
        let _ = writeln!(out, "{line}");
    }
    for warning in &outcome.warnings {
        let _ = writeln!(out, "  warning: {warning} (the next run retries it)");
    }
    if !outcome.succeeded() {
        let _ = writeln!(
            out,
            "\nEvery host that is not converged is back where it was, unless marked FAILED.\n\
             Run the same command again to apply what is left: it plans from what the hosts run now."
        );
    }
    redactor.redact(&out)
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Outcome;
    use std::collections::BTreeMap;

    #[test]
    fn outcome_lines_name_each_host_and_redact_secrets() {
        let config = crate::testing::config(&["h1"]);
        let desired = crate::testing::desired(&config, "v1");
        let observed = crate::testing::observed_of(&crate::testing::desired(&config, "v0"));
        let plan = crate::plan::build(
            crate::diff::diff(&desired, &observed, Default::default()),
            &Default::default(),
        );
        let mut hosts = BTreeMap::new();
        hosts.insert(
            "h1".to_string(),
            HostOutcome::RolledBack {
                cause: "h1: pull failed: token s3cret-registry rejected".into(),
            },
        );
        let outcome = Outcome {
            hosts,
            took: Duration::from_millis(1500),
            ..Outcome::default()
        };
        let redactor = Redactor::new(crate::testing::secrets().values());
        let text = render_outcome(&plan, &outcome, false, &redactor);
        assert!(text.contains("Apply finished in 1.5s:"));
        assert!(text.contains("h1  rolled back: h1: pull failed: token [REDACTED] rejected"));
        assert!(text.contains("Run the same command again"));
        assert!(!text.contains("s3cret"));
    }

    /// Shared bytes, to read what a reporter wrote.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A failure's cause quotes the host (a daemon's message, a container's output): its escape
    /// sequences are printed as text (#15).
    #[test]
    fn failure_lines_print_a_hosts_escape_sequences_as_text() {
        let config = crate::testing::config(&["h1"]);
        let desired = crate::testing::desired(&config, "v1");
        let observed = crate::testing::observed_of(&crate::testing::desired(&config, "v0"));
        let plan = crate::plan::build(
            crate::diff::diff(&desired, &observed, Default::default()),
            &Default::default(),
        );
        let (id, _) = plan.actions().next().expect("an action");
        let captured = Captured::default();
        let reporter = LineReporter::new(
            Box::new(captured.clone()),
            Redactor::new(Vec::new()),
            true,
            false,
            plan.len(),
        );
        reporter.action_failed(&plan, id, "h1: docker: \u{1b}]0;pwned\u{7}\u{1b}[2J", false);
        let written = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            written.contains("h1: docker: \\u{1b}]0;pwned\\u{7}\\u{1b}[2J"),
            "{written:?}"
        );
        assert!(
            written.contains("\u{1b}[31m"),
            "our own colour stays: {written:?}"
        );
        assert!(!written.contains('\u{7}'));
    }
}
