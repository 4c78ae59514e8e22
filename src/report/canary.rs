//! Which stage decided a canary rollout, from the plan's canary stage and the run's outcome:
//! the sentence the outcome, the audit log and the exit code are made from.

use crate::apply::{HostOutcome, Outcome};
use crate::plan::Plan;

/// How the canary stage ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CanaryVerdict {
    /// Every canary converged and passed its watch and check: stage 2 went ahead.
    Passed { hosts: Vec<String> },
    /// A canary failed (booting, its watch or the check); the canaries were rolled back and
    /// stage 2 never started. `cleanly`: every undo succeeded.
    Failed {
        hosts: Vec<String>,
        cause: String,
        cleanly: bool,
    },
    /// The run ended before the canary stage decided (interrupted, a host unreachable).
    Undecided { hosts: Vec<String> },
}

/// The verdict of `plan`'s canary stage, `None` when the plan has none.
pub fn verdict(plan: &Plan, outcome: &Outcome) -> Option<CanaryVerdict> {
    let stage = plan.canary.as_ref()?;
    let hosts = stage.hosts.clone();
    let outcomes: Vec<&HostOutcome> = hosts
        .iter()
        .filter_map(|host| outcome.hosts.get(host))
        .collect();
    let failure = outcomes.iter().find_map(|outcome| match outcome {
        HostOutcome::RolledBack { cause } => Some((cause.clone(), true)),
        HostOutcome::Failed { cause, .. } => Some((cause.clone(), false)),
        _ => None,
    });
    if let Some((cause, _)) = failure {
        let cleanly = outcomes
            .iter()
            .all(|outcome| !matches!(outcome, HostOutcome::Failed { .. }));
        return Some(CanaryVerdict::Failed {
            hosts,
            cause: first_line(&cause),
            cleanly,
        });
    }
    let passed = outcomes.len() == hosts.len()
        && outcomes
            .iter()
            .all(|outcome| matches!(outcome, HostOutcome::Converged | HostOutcome::Unchanged));
    Some(if passed {
        CanaryVerdict::Passed { hosts }
    } else {
        CanaryVerdict::Undecided { hosts }
    })
}

impl CanaryVerdict {
    /// One sentence: `canary passed on h1` or `canary failed on h1: <why>`.
    pub fn sentence(&self) -> String {
        match self {
            CanaryVerdict::Passed { hosts } => format!("canary passed on {}", hosts.join(", ")),
            CanaryVerdict::Failed { hosts, cause, .. } => {
                format!("canary failed on {}: {cause}", hosts.join(", "))
            }
            CanaryVerdict::Undecided { hosts } => {
                format!("canary on {} did not finish", hosts.join(", "))
            }
        }
    }

    /// The end of a host's audit line: which stage it was in and what the canary decided.
    pub fn audit_note(&self, host: &str) -> String {
        let canary = match self {
            CanaryVerdict::Passed { hosts }
            | CanaryVerdict::Failed { hosts, .. }
            | CanaryVerdict::Undecided { hosts } => hosts.iter().any(|name| name == host),
        };
        let stage = if canary { "stage 1, canary" } else { "stage 2" };
        format!("[{stage}] {}", self.sentence())
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::CanaryStage;

    fn outcome(hosts: &[(&str, HostOutcome)]) -> Outcome {
        Outcome {
            hosts: hosts
                .iter()
                .map(|(host, outcome)| (host.to_string(), outcome.clone()))
                .collect(),
            ..Outcome::default()
        }
    }

    fn stage() -> CanaryStage {
        CanaryStage {
            hosts: vec!["h1".into()],
            rest: vec!["h2".into()],
            wait_seconds: 30,
            check: Some("./smoke".into()),
        }
    }

    #[test]
    fn a_rolled_back_canary_is_a_failure_that_names_why_and_the_rest_says_stage_2() {
        let failed = outcome(&[
            (
                "h1",
                HostOutcome::RolledBack {
                    cause: "#9 run canary check `./smoke` (KAMAL_HOSTS=h1) failed: the canary \
                            check failed (exit code 1):\n    500"
                        .into(),
                },
            ),
            (
                "h2",
                HostOutcome::Skipped {
                    cause: "waited for #9".into(),
                },
            ),
        ]);
        let verdict = decide(&stage(), &failed).expect("a verdict");
        assert!(matches!(
            verdict,
            CanaryVerdict::Failed { cleanly: true, .. }
        ));
        assert_eq!(
            verdict.audit_note("h1"),
            "[stage 1, canary] canary failed on h1: #9 run canary check `./smoke` \
             (KAMAL_HOSTS=h1) failed: the canary check failed (exit code 1):"
        );
        assert!(
            verdict
                .audit_note("h2")
                .starts_with("[stage 2] canary failed on h1")
        );
    }

    #[test]
    fn converged_canaries_passed_and_an_interrupted_one_did_not_decide() {
        let passed = outcome(&[
            ("h1", HostOutcome::Converged),
            ("h2", HostOutcome::Converged),
        ]);
        assert_eq!(
            decide(&stage(), &passed),
            Some(CanaryVerdict::Passed {
                hosts: vec!["h1".into()]
            })
        );
        let interrupted = outcome(&[("h1", HostOutcome::Cancelled)]);
        assert!(matches!(
            decide(&stage(), &interrupted),
            Some(CanaryVerdict::Undecided { .. })
        ));
    }

    /// [`verdict`] of a plan with `stage`.
    fn decide(stage: &CanaryStage, outcome: &Outcome) -> Option<CanaryVerdict> {
        let config = crate::testing::config(&["h1", "h2"]);
        let desired = crate::testing::desired(&config, "v1");
        let observed = crate::testing::observed_of(&desired);
        let changes = crate::diff::diff(&desired, &observed, Default::default());
        let mut plan = crate::plan::build(changes, &crate::plan::PlanOptions::default());
        plan.canary = Some(stage.clone());
        verdict(&plan, outcome)
    }
}
