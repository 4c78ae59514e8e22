//! The plan as Markdown, for a pull-request comment or a GitHub step summary
//! (`gantry plan --format markdown`).
//!
//! The summary line comes first, so a reviewer sees the size of the change without opening
//! anything; each host's changes follow in a `diff` block (GitHub colours `+` green and `-`
//! red, and `!` for changes in place), then unreachable hosts and notes as warnings. The words
//! are the text plan's ([`super::render`]): same reasons, same field lines, secrets never
//! shown, commits shortened.

use std::fmt::Write;

use crate::diff::{ChangeKind, Reach};
use crate::plan::Plan;
use crate::plan::json::PlanHeader;
use crate::plan::render::{
    field_text, note_text, reason_text, resource_text, shorten_hashes, shown_fields, summary_line,
};
use crate::secret::Redactor;

/// The whole plan as a Markdown document.
pub fn render_markdown(plan: &Plan, header: &PlanHeader, redactor: &Redactor) -> String {
    let mut out = String::new();
    let destination = header
        .destination
        .as_deref()
        .map(|destination| format!(", destination `{destination}`"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "### gantry plan: `{}` version `{}`{destination}\n",
        header.service, header.version
    );
    if plan.is_empty() {
        out.push_str("**No changes.** Every host matches the configuration.\n");
    } else {
        let _ = writeln!(out, "**{}**", summary_line(&plan.summary()));
        for host in plan
            .changes
            .hosts
            .iter()
            .filter(|host| !host.changes.is_empty())
        {
            let _ = writeln!(out, "\n#### {}\n\n```diff", host.host);
            for change in &host.changes {
                let symbol = match change.kind {
                    ChangeKind::Create => "+",
                    ChangeKind::Update => "!",
                    ChangeKind::Replace => "-/+",
                    ChangeKind::Remove => "-",
                };
                let _ = writeln!(
                    out,
                    "{symbol} {} ({})",
                    resource_text(change),
                    reason_text(&change.reason)
                );
                for field in shown_fields(change) {
                    let _ = writeln!(out, "      {}", field_text(field));
                }
            }
            out.push_str("```\n");
        }
    }
    let mut warnings: Vec<String> = Vec::new();
    for host in &plan.changes.hosts {
        if let Reach::Unreachable { reason } = &host.reach {
            warnings.push(format!(
                "`{}` is unreachable: {reason} (not planned; a rerun plans it once it answers)",
                host.host
            ));
        }
        for note in &host.notes {
            warnings.push(format!("`{}`: {}", host.host, note_text(note)));
        }
    }
    if !warnings.is_empty() {
        out.push_str("\n> [!WARNING]\n");
        for warning in warnings {
            let _ = writeln!(out, "> - {}", warning.replace('\n', " "));
        }
    }
    shorten_hashes(&redactor.redact(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: &str) -> PlanHeader {
        PlanHeader {
            service: "app".to_string(),
            destination: Some("staging".to_string()),
            version: version.to_string(),
            round_trips: Default::default(),
        }
    }

    #[test]
    fn a_plan_is_a_summary_then_a_diff_block_per_host() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let config = crate::testing::config(&["h1", "h2"]);
        let desired = crate::testing::desired(&config, commit);
        let observed = crate::testing::observed_of(&crate::testing::desired(&config, "v0"));
        let plan = crate::plan::build(
            crate::diff::diff(&desired, &observed, Default::default()),
            &Default::default(),
        );
        let redactor = Redactor::new(crate::testing::secrets().values());
        let text = render_markdown(&plan, &header(commit), &redactor);
        assert!(
            text.starts_with(
                "### gantry plan: `app` version `0123456789ab`, destination `staging`\n\n**Plan: "
            ),
            "{text}"
        );
        assert!(text.contains(&format!("**{}**", summary_line(&plan.summary()))));
        assert!(
            text.contains("\n#### h1\n\n```diff\n-/+ app web: "),
            "{text}"
        );
        assert!(text.contains("\n#### h2\n\n```diff\n"), "{text}");
        assert_eq!(text.matches("```diff").count(), 2);
        assert_eq!(text.matches("\n```\n").count(), 2);
        assert!(text.contains("new version v0 → 0123456789ab"), "{text}");
        assert!(!text.contains(commit));
        for secret in crate::testing::secrets().values() {
            assert!(!text.contains(secret.expose()));
        }
    }

    #[test]
    fn no_changes_say_so() {
        let config = crate::testing::config(&["h1"]);
        let desired = crate::testing::desired(&config, "v1");
        let observed = crate::testing::observed_of(&desired);
        let plan = crate::plan::build(
            crate::diff::diff(&desired, &observed, Default::default()),
            &Default::default(),
        );
        let text = render_markdown(&plan, &header("v1"), &Redactor::new(Vec::new()));
        assert!(text.ends_with("**No changes.** Every host matches the configuration.\n"));
        assert!(!text.contains("```"));
    }
}
