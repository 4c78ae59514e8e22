//! What a run shows and asks, as a trait: the session decides *when* to show a plan, ask or
//! report, and the command line decides *how* (text on a terminal, JSON lines, `-y` that
//! answers for the user). The session itself prints nothing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::apply::{Outcome, Reporter};
use crate::observe::LockInfo;
use crate::plan::Plan;
use crate::records::lock::LockError;

/// A question asked before a plan runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Question {
    /// "Apply these changes?": asked on a terminal; a run without one (CI, cron) goes on.
    Apply,
    /// The plan destroys something (data, traffic): this question, on a terminal only; without
    /// one the command refuses unless the user said `-y`.
    Destructive(String),
}

/// The user's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    /// A signal came while the question waited: nothing changed, the lock is released.
    Interrupted,
}

/// Something the run tells its user on the way.
#[derive(Debug)]
pub enum Notice<'a> {
    /// The first Ctrl-C, SIGTERM or SIGHUP: nothing new starts, the lock will be released.
    Interrupted,
    /// A second Ctrl-C: the process ends at once.
    QuittingAtOnce,
    /// The run stopped before its first change.
    InterruptedBeforeChanges,
    /// The user said no to this question.
    Declined(&'a Question),
    /// `--lock-wait`: the lock is held by another automatic deploy; waiting up to `timeout`.
    WaitingForLock {
        host: &'a str,
        holder: &'a LockInfo,
        timeout: Duration,
    },
    /// The lock was left by gantry run `run`, silent for `silent_for`: taken over.
    TookOverLock { run: &'a str, silent_for: Duration },
    /// The lock on `host` could not be released at the end.
    LockNotReleased { host: &'a str, error: &'a LockError },
}

/// How a run shows itself and asks.
#[async_trait::async_trait]
pub trait Ui: Send + Sync {
    /// Tells the user something (on stderr, for a terminal).
    fn notice(&self, notice: Notice<'_>);
    /// Shows the plan about to run.
    fn show_plan(&self, plan: &Plan);
    /// Asks `question`, giving up with [`Answer::Interrupted`] when `cancel` fires first: a
    /// prompt must never keep a signal from releasing the lock.
    async fn confirm(
        &self,
        question: &Question,
        cancel: &CancellationToken,
    ) -> Result<Answer, miette::Report>;
    /// Where the executor's progress goes while `plan` runs.
    fn reporter(&self, plan: &Plan) -> Box<dyn Reporter>;
    /// Shows how the run ended.
    fn show_outcome(&self, plan: &Plan, outcome: &Outcome);
}
