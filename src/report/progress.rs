//! Reporting a run: live progress while `apply` runs, and the outcome when it ends.
//!
//! Three [`Reporter`]s: [`LineReporter`] writes one line per step (CI logs, and on a terminal
//! with a live bar per host above the lines, a pull's layers and bytes on its host's bar),
//! [`JsonReporter`] writes one JSON event per line for machines, and the executor's own
//! `QuietReporter`. [`render_outcome`] is the closing summary, one line per host. Everything
//! written goes through the [`Redactor`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;
use serde_json::json;

use crate::apply::{ActionResult, HostOutcome, Outcome, Reporter};
use crate::host::PullProgress;
use crate::plan::render::shorten_hashes;
use crate::plan::{ActionId, Plan};
use crate::secret::Redactor;

/// Human progress: a line per finished, failed or undone action; on a terminal, above them,
/// one live bar per host (actions done of its total, the action it runs, time so far).
pub struct LineReporter {
    out: Mutex<Box<dyn Write + Send>>,
    redactor: Redactor,
    color: bool,
    /// The live bars, only on a terminal: without one, plain lines and no escape codes.
    live: Option<HostBars>,
    /// Without bars: when each pull's progress line was last printed.
    pull_lines: Mutex<BTreeMap<ActionId, Instant>>,
    pull_line_every: Duration,
}

/// Without a terminal, how often a running pull prints how far it has come.
const PLAIN_PULL_LINE_EVERY: Duration = Duration::from_secs(5);

/// One bar per host that has actions, drawn together on stderr.
struct HostBars {
    bars: MultiProgress,
    by_host: BTreeMap<String, ProgressBar>,
    /// The actions each host runs now, in the order they started: its bar names the latest,
    /// with how far its pull has come when it is a pull.
    running: Mutex<BTreeMap<String, Vec<RunningAction>>>,
}

/// An action a host runs now, and how far its pull has come when it is a pull.
struct RunningAction {
    id: ActionId,
    pulled: Option<PullProgress>,
}

impl HostBars {
    fn new(plan: &Plan) -> HostBars {
        let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
        for (_, node) in plan.actions() {
            *totals.entry(node.host.as_str()).or_default() += 1;
        }
        let width = totals.keys().map(|host| host.len()).max().unwrap_or(0);
        let style = ProgressStyle::with_template(&format!(
            "{{spinner}} {{prefix:<{width}}} [{{bar:20}}] {{pos}}/{{len}} {{elapsed:>4}} {{wide_msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let by_host = totals
            .into_iter()
            .map(|(host, total)| {
                let bar = bars.add(ProgressBar::new(total));
                bar.set_style(style.clone());
                bar.set_prefix(host.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                (host.to_string(), bar)
            })
            .collect();
        HostBars {
            bars,
            by_host,
            running: Mutex::new(BTreeMap::new()),
        }
    }

    /// Applies `change` to what `id`'s host runs now, then names on its bar the latest action
    /// still running there (and its pull's progress).
    fn update(&self, plan: &Plan, id: ActionId, change: Running, redactor: &Redactor) {
        let host = &plan.node(id).host;
        let Some(bar) = self.by_host.get(host) else {
            return;
        };
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let on_host = running.entry(host.clone()).or_default();
        match change {
            Running::Started => on_host.push(RunningAction { id, pulled: None }),
            Running::Ended => {
                on_host.retain(|running| running.id != id);
                bar.inc(1);
            }
            Running::Pulled(progress) => {
                if let Some(running) = on_host.iter_mut().find(|running| running.id == id) {
                    running.pulled = Some(progress);
                }
            }
        }
        let message = on_host
            .last()
            .map(|latest| {
                // The figures go before the image's name: a narrow terminal cuts the end.
                let pulled = latest
                    .pulled
                    .map(|pulled| format!("[{pulled}] "))
                    .unwrap_or_default();
                let action = &plan.node(latest.id).action;
                let text = format!("#{} {pulled}{action}", plan.number(latest.id));
                let text = shorten_hashes(&redactor.redact(&text));
                crate::printable::for_terminal(&text).into_owned()
            })
            .unwrap_or_default();
        bar.set_message(message);
        if bar.position() >= bar.length().unwrap_or(0) {
            bar.finish();
        }
    }
}

/// What changed about an action a host runs.
enum Running {
    Started,
    Ended,
    Pulled(PullProgress),
}

impl LineReporter {
    /// Writes to `out`; `live` adds a bar per host of `plan` (only on a terminal).
    pub fn new(
        out: Box<dyn Write + Send>,
        redactor: Redactor,
        color: bool,
        live: bool,
        plan: &Plan,
    ) -> Self {
        LineReporter {
            out: Mutex::new(out),
            redactor,
            color,
            live: live.then(|| HostBars::new(plan)),
            pull_lines: Mutex::new(BTreeMap::new()),
            pull_line_every: PLAIN_PULL_LINE_EVERY,
        }
    }

    /// Every line passes here: redacted, and terminal-safe (failure causes quote hosts).
    fn line(&self, text: &str) {
        let redacted = shorten_hashes(&self.redactor.redact(text));
        let text = crate::printable::for_terminal(&redacted);
        match &self.live {
            Some(live) => {
                let _ = live.bars.println(text);
            }
            None => {
                let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }

    fn track(&self, plan: &Plan, id: ActionId, change: Running) {
        if let Some(live) = &self.live {
            live.update(plan, id, change, &self.redactor);
        }
    }
}

impl Drop for LineReporter {
    /// The bars stay on screen with their final counts; their ticking stops.
    fn drop(&mut self) {
        if let Some(live) = &self.live {
            for bar in live.by_host.values() {
                bar.abandon();
            }
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
        self.track(plan, id, Running::Started);
    }

    /// On a terminal the host's bar shows it; without one, a line per pull every
    /// [`PLAIN_PULL_LINE_EVERY`] at most, so a slow pull in a CI log is not silence.
    fn pull_progress(&self, plan: &Plan, id: ActionId, progress: &PullProgress) {
        if self.live.is_some() {
            self.track(plan, id, Running::Pulled(*progress));
            return;
        }
        let now = Instant::now();
        let due = {
            let mut printed = self.pull_lines.lock().unwrap_or_else(|p| p.into_inner());
            let since = printed.entry(id).or_insert(now);
            let due = now.duration_since(*since) >= self.pull_line_every;
            if due {
                *since = now;
            }
            due
        };
        if due {
            self.line(&format!("{}: {progress}", describe(plan, id)));
        }
    }

    fn action_finished(&self, plan: &Plan, id: ActionId, took: Duration) {
        self.track(plan, id, Running::Ended);
        self.line(&format!("{} ({})", describe(plan, id), seconds(took)));
    }

    fn action_failed(&self, plan: &Plan, id: ActionId, error: &str, best_effort: bool) {
        self.track(plan, id, Running::Ended);
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

    /// Writes one event, stamped with the time it happened (`"at"`, RFC 3339, UTC): a log
    /// reader sees what ran when without timing the stream itself.
    fn event(&self, mut value: serde_json::Value) {
        if let Some(fields) = value.as_object_mut() {
            fields.insert("at".to_string(), json!(now_rfc3339()));
        }
        let text = self.redactor.redact(&value.to_string());
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// The time now, as RFC 3339 in UTC with milliseconds.
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
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

    fn pull_progress(&self, plan: &Plan, id: ActionId, progress: &PullProgress) {
        self.event(json!({
            "event": "pull_progress",
            "action": action_json(plan, id),
            "progress": progress,
        }));
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
    if let Some(verdict) = super::canary::verdict(plan, outcome) {
        let _ = writeln!(out, "\n{}", capitalized(&verdict.sentence()));
        if let (super::canary::CanaryVerdict::Failed { .. }, Some(stage)) = (&verdict, &plan.canary)
            && !stage.rest.is_empty()
        {
            let _ = writeln!(
                out,
                "Stage 2 did not start: {} still run the previous version.",
                stage.rest.join(", ")
            );
        }
    }
    if !outcome.succeeded() {
        let _ = writeln!(
            out,
            "\nEvery host that is not converged is back where it was, unless marked FAILED.\n\
             Run the same command again to apply what is left: it plans from what the hosts run now."
        );
    }
    shorten_hashes(&redactor.redact(&out))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::Outcome;
    use crate::testkit::captured::Captured;
    use std::collections::BTreeMap;

    /// The plan from v0 to v1 on one host, h1.
    fn plan_v0_to_v1() -> Plan {
        let config = crate::testing::config(&["h1"]);
        let desired = crate::testing::desired(&config, "v1");
        let observed = crate::testing::observed_of(&crate::testing::desired(&config, "v0"));
        crate::plan::build(
            crate::diff::diff(&desired, &observed, Default::default()),
            &Default::default(),
        )
    }

    #[test]
    fn outcome_lines_name_each_host_and_redact_secrets() {
        let plan = plan_v0_to_v1();
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

    /// A failure's cause quotes the host (a daemon's message, a container's output): its escape
    /// sequences are printed as text (#15).
    #[test]
    fn failure_lines_print_a_hosts_escape_sequences_as_text() {
        let plan = plan_v0_to_v1();
        let (id, _) = plan.actions().next().expect("an action");
        let captured = Captured::default();
        let reporter = LineReporter::new(
            Box::new(captured.clone()),
            Redactor::new(Vec::new()),
            true,
            false,
            &plan,
        );
        reporter.action_failed(&plan, id, "h1: docker: \u{1b}]0;pwned\u{7}\u{1b}[2J", false);
        let written = captured.text();
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

    /// Without a terminal a pull's progress is a plain line (at most one per interval per
    /// pull), with no escape codes; `--json` gets every report as an event with the figures.
    #[test]
    fn pull_progress_is_a_plain_line_or_a_json_event() {
        let plan = plan_v0_to_v1();
        let (id, _) = plan
            .actions()
            .find(|(_, node)| node.action.kind() == "pull_image")
            .expect("a pull");
        let progress = PullProgress {
            layers_done: 1,
            layers: 3,
            bytes_done: 2_500_000,
            bytes: 10_000_000,
        };

        let captured = Captured::default();
        let mut reporter = LineReporter::new(
            Box::new(captured.clone()),
            Redactor::new(Vec::new()),
            true,
            false,
            &plan,
        );
        reporter.pull_line_every = Duration::ZERO;
        reporter.pull_progress(&plan, id, &progress);
        let written = captured.text();
        assert_eq!(
            written,
            format!(
                "h1  #{} pull {}: 1/3 layers, 2.5 of 10.0 MB\n",
                plan.number(id),
                shorten_hashes(&image_of(&plan, id))
            )
        );

        let quiet = Captured::default();
        let reporter = LineReporter::new(
            Box::new(quiet.clone()),
            Redactor::new(Vec::new()),
            false,
            false,
            &plan,
        );
        reporter.pull_progress(&plan, id, &progress);
        reporter.pull_progress(&plan, id, &progress);
        assert!(
            quiet.text().is_empty(),
            "a quick pull prints no progress line"
        );

        let captured = Captured::default();
        let reporter = JsonReporter::new(Box::new(captured.clone()), Redactor::new(Vec::new()));
        reporter.pull_progress(&plan, id, &progress);
        let written = captured.text();
        let event: serde_json::Value = serde_json::from_str(&written).expect("one JSON event");
        assert_eq!(event["event"], "pull_progress");
        assert_eq!(event["action"]["kind"], "pull_image");
        assert_eq!(
            event["progress"],
            json!({"layers_done": 1, "layers": 3, "bytes_done": 2_500_000, "bytes": 10_000_000})
        );
    }

    fn image_of(plan: &Plan, id: ActionId) -> String {
        match &plan.node(id).action {
            crate::plan::Action::PullImage { image, .. } => image.clone(),
            other => panic!("not a pull: {other}"),
        }
    }

    /// `apply --json` events say when they happened (RFC 3339, UTC), so a log of a run can be
    /// read as a timeline.
    #[test]
    fn json_events_carry_a_timestamp() {
        let plan = plan_v0_to_v1();
        let (id, _) = plan.actions().next().expect("an action");
        let captured = Captured::default();
        let reporter = JsonReporter::new(Box::new(captured.clone()), Redactor::new(Vec::new()));
        let before = time::OffsetDateTime::now_utc();
        reporter.action_started(&plan, id);
        reporter.action_finished(&plan, id, Duration::from_millis(5));
        let written = captured.text();
        let events: Vec<serde_json::Value> = written
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON event per line"))
            .collect();
        assert_eq!(events.len(), 2);
        for event in &events {
            let at = event["at"].as_str().expect("an `at` field");
            let at =
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                    .expect("RFC 3339");
            assert!(
                at >= before - Duration::from_millis(1),
                "{at} before {before}"
            );
            assert_eq!(at.offset(), time::UtcOffset::UTC);
        }
    }
}
