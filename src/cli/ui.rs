//! How a run looks and asks at the command line: the [`Ui`] implementations the session talks
//! to. Text on a terminal ([`TextUi`]), JSON lines for machines ([`JsonUi`]), and `-y`
//! ([`AssumeYes`]), which answers every question for the user. One prompt asks every question.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use miette::{IntoDiagnostic, miette};
use tokio_util::sync::CancellationToken;

use crate::apply::{Outcome, Reporter};
use crate::plan::Plan;
use crate::plan::render::{RenderOptions, render};
use crate::records::lock::{self, LockError};
use crate::report::timeline::{
    TimelineHandle, TimelineRecorder, render_timeline_html, render_timeline_svg,
};
use crate::report::{JsonReporter, LineReporter, render_outcome};
use crate::secret::Redactor;
use crate::session::{Answer, Notice, Question, Ui};

/// Plans, progress and outcomes as text: the plan and outcome on stdout, progress on stderr.
pub struct TextUi {
    pub redactor: Redactor,
    /// Colour on stdout (`--color`, a terminal, `NO_COLOR`).
    pub color: bool,
}

/// Progress and the outcome as JSON lines on stdout; no plan text.
pub struct JsonUi {
    pub redactor: Redactor,
}

/// `-y`: every question answered yes; the rest as the wrapped UI shows it.
pub struct AssumeYes<U>(pub U);

#[async_trait::async_trait]
impl Ui for TextUi {
    fn notice(&self, notice: Notice<'_>) {
        tell_notice(notice);
    }

    fn show_plan(&self, plan: &Plan) {
        say!(
            "{}",
            render(plan, RenderOptions { color: self.color }, &self.redactor)
        );
    }

    async fn confirm(
        &self,
        question: &Question,
        cancel: &CancellationToken,
    ) -> Result<Answer, miette::Report> {
        prompt(question, cancel).await
    }

    fn reporter(&self, plan: &Plan) -> Box<dyn Reporter> {
        let live = std::io::stderr().is_terminal();
        Box::new(LineReporter::new(
            Box::new(std::io::stderr()),
            self.redactor.clone(),
            super::color::stderr(),
            live,
            plan,
        ))
    }

    fn show_outcome(&self, plan: &Plan, outcome: &Outcome) {
        say!(
            "{}",
            render_outcome(plan, outcome, self.color, &self.redactor)
        );
    }
}

#[async_trait::async_trait]
impl Ui for JsonUi {
    fn notice(&self, notice: Notice<'_>) {
        tell_notice(notice);
    }

    fn show_plan(&self, _plan: &Plan) {}

    async fn confirm(
        &self,
        question: &Question,
        cancel: &CancellationToken,
    ) -> Result<Answer, miette::Report> {
        prompt(question, cancel).await
    }

    fn reporter(&self, _plan: &Plan) -> Box<dyn Reporter> {
        Box::new(JsonReporter::new(
            Box::new(std::io::stdout()),
            self.redactor.clone(),
        ))
    }

    fn show_outcome(&self, plan: &Plan, outcome: &Outcome) {
        let canary =
            crate::report::canary::verdict(plan, outcome).map(|verdict| verdict.sentence());
        let summary = serde_json::json!({"event": "finished", "succeeded": outcome.succeeded(), "hosts": outcome.hosts, "canary": canary, "took_ms": outcome.took.as_millis() as u64});
        sayln!("{}", self.redactor.redact(&summary.to_string()));
    }
}

#[async_trait::async_trait]
impl<U: Ui> Ui for AssumeYes<U> {
    fn notice(&self, notice: Notice<'_>) {
        self.0.notice(notice);
    }

    fn show_plan(&self, plan: &Plan) {
        self.0.show_plan(plan);
    }

    async fn confirm(
        &self,
        _question: &Question,
        _cancel: &CancellationToken,
    ) -> Result<Answer, miette::Report> {
        Ok(Answer::Yes)
    }

    fn reporter(&self, plan: &Plan) -> Box<dyn Reporter> {
        self.0.reporter(plan)
    }

    fn show_outcome(&self, plan: &Plan, outcome: &Outcome) {
        self.0.show_outcome(plan, outcome);
    }
}

/// The UI of a run: JSON or text, and `-y` answering its questions.
pub fn for_run(redactor: &Redactor, json: bool, yes: bool) -> std::sync::Arc<dyn Ui> {
    let redactor = redactor.clone();
    let color = super::session::color_stdout();
    match (json, yes) {
        (true, true) => std::sync::Arc::new(AssumeYes(JsonUi { redactor })),
        (true, false) => std::sync::Arc::new(JsonUi { redactor }),
        (false, true) => std::sync::Arc::new(AssumeYes(TextUi { redactor, color })),
        (false, false) => std::sync::Arc::new(TextUi { redactor, color }),
    }
}

/// `--timeline FILE`: the wrapped UI, with every action's times noted while the run goes, and
/// drawn in FILE (`.html` for a page, else SVG) once the run is over.
pub struct WithTimeline {
    inner: Arc<dyn Ui>,
    file: PathBuf,
    redactor: Redactor,
    recorded: Mutex<Option<TimelineHandle>>,
}

/// `ui`, drawing the run's timeline in `file` when one is given.
pub fn with_timeline(ui: Arc<dyn Ui>, file: Option<PathBuf>, redactor: &Redactor) -> Arc<dyn Ui> {
    match file {
        Some(file) => Arc::new(WithTimeline {
            inner: ui,
            file,
            redactor: redactor.clone(),
            recorded: Mutex::new(None),
        }),
        None => ui,
    }
}

#[async_trait::async_trait]
impl Ui for WithTimeline {
    fn notice(&self, notice: Notice<'_>) {
        self.inner.notice(notice);
    }

    fn show_plan(&self, plan: &Plan) {
        self.inner.show_plan(plan);
    }

    async fn confirm(
        &self,
        question: &Question,
        cancel: &CancellationToken,
    ) -> Result<Answer, miette::Report> {
        self.inner.confirm(question, cancel).await
    }

    fn reporter(&self, plan: &Plan) -> Box<dyn Reporter> {
        let (recorder, handle) = TimelineRecorder::new(self.inner.reporter(plan));
        *self.recorded.lock().unwrap_or_else(PoisonError::into_inner) = Some(handle);
        Box::new(recorder)
    }

    fn show_outcome(&self, plan: &Plan, outcome: &Outcome) {
        self.inner.show_outcome(plan, outcome);
        let recorded = self.recorded.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(handle) = recorded.as_ref() else {
            return;
        };
        let timeline = handle.timeline();
        let is_html = self
            .file
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("html"));
        let drawing = if is_html {
            render_timeline_html(plan, &timeline, &self.redactor)
        } else {
            render_timeline_svg(plan, &timeline, &self.redactor)
        };
        match std::fs::write(&self.file, drawing) {
            Ok(()) => tellln!("Drew the run's timeline in {}.", self.file.display()),
            Err(error) => tellln!(
                "Could not write the timeline to {}: {error}",
                self.file.display()
            ),
        }
    }
}

/// The one prompt: `question [y, N]` on stdout, `y` or `yes` (any case) says yes. Without a
/// terminal, `apply` goes on (CI and cron have none) and a destructive command refuses. The
/// answer is read on a thread of its own and raced against `cancel`: a blocking read cannot be
/// cancelled, and a signal must be able to end the run (and release its lock) while it waits.
async fn prompt(question: &Question, cancel: &CancellationToken) -> Result<Answer, miette::Report> {
    let text = match question {
        Question::Apply => "Apply these changes?",
        Question::Destructive(text) => text.as_str(),
    };
    if !std::io::stdin().is_terminal() {
        return match question {
            Question::Apply => Ok(Answer::Yes),
            Question::Destructive(_) => Err(miette!(
                help = "pass -y to confirm without a terminal",
                "{text} Refusing to go on without a terminal to ask on"
            )),
        };
    }
    say!("\n{text} [y, N] ");
    std::io::stdout().flush().into_diagnostic()?;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let read = std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map(|_| answer);
        let _ = sender.send(read);
    });
    tokio::select! {
        answer = receiver => {
            let answer = answer.into_diagnostic()?.into_diagnostic()?;
            Ok(if is_yes(&answer) { Answer::Yes } else { Answer::No })
        }
        _ = cancel.cancelled() => Ok(Answer::Interrupted),
    }
}

/// Whether an answer says yes: `y` or `yes`, in any case, around spaces.
fn is_yes(answer: &str) -> bool {
    let answer = answer.trim();
    answer.eq_ignore_ascii_case("y") || answer.eq_ignore_ascii_case("yes")
}

/// A notice as the terminal shows it: on stderr, except a declined question's answer (stdout,
/// under the question).
fn tell_notice(notice: Notice<'_>) {
    match notice {
        Notice::Interrupted => tellln!(
            "\nInterrupted: nothing new starts; actions in flight finish, hosts caught half-way are rolled back and the lock is released (Ctrl-C again to quit at once)."
        ),
        Notice::QuittingAtOnce => tellln!(
            "Quitting without waiting; the deploy lock and half-done hosts may remain: rerun `gantry apply`."
        ),
        Notice::InterruptedBeforeChanges => {
            tellln!("Interrupted before any change; nothing changed.")
        }
        Notice::Declined(Question::Apply) => sayln!("Apply cancelled; nothing changed."),
        Notice::Declined(Question::Destructive(_)) => sayln!("Cancelled; nothing changed."),
        Notice::WaitingForLock {
            host,
            holder,
            timeout,
        } => tellln!(
            "Waiting for the deploy lock on {host}, held{} (--lock-wait, up to {}s)...",
            lock::describe(holder),
            timeout.as_secs()
        ),
        Notice::TookOverLock { run, silent_for } => tellln!(
            "The deploy lock was left by gantry run {run}, which stopped without finishing \
             (no sign of life for {}s); taking it over.",
            silent_for.as_secs()
        ),
        Notice::LockNotReleased {
            error: error @ LockError::NotOurs { .. },
            ..
        } => tellln!("warning: {error}"),
        Notice::LockNotReleased { host, error } => tellln!(
            "warning: could not release the deploy lock on {host}: {error}; run `gantry lock release`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One prompt, one set of answers: Kamal's `y` and Terraform's `yes` both confirm.
    #[test]
    fn y_and_yes_confirm_and_anything_else_declines() {
        for answer in ["y\n", "Y\n", "yes\n", " YES \n"] {
            assert!(is_yes(answer), "{answer:?}");
        }
        for answer in ["", "\n", "n\n", "no\n", "yess\n", "sure\n"] {
            assert!(!is_yes(answer), "{answer:?}");
        }
    }
}
