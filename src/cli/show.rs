//! `gantry show FILE`: a plan saved with `gantry plan -o FILE`, read back without contacting
//! any host: what it was made from, the hosts it observed, and its actions (text, or `--json`).
//! The file holds no secret values, so neither does what this prints.

use std::path::PathBuf;

use clap::Args;
use miette::{IntoDiagnostic, miette};
use serde_json::json;

use crate::plan::render::shorten_hashes;
use crate::plan::saved::SavedPlan;
use crate::session::Exit;

/// Arguments of `gantry show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved with `gantry plan -o FILE`.
    pub file: PathBuf,
    /// Print it as JSON (versions whole).
    #[arg(long)]
    pub json: bool,
}

/// Reads the saved plan and prints it.
pub fn run(args: &ShowArgs) -> Result<Exit, miette::Report> {
    let text = std::fs::read_to_string(&args.file)
        .into_diagnostic()
        .map_err(|error| error.wrap_err(format!("reading {}", args.file.display())))?;
    let saved = SavedPlan::parse(&text).map_err(|error| {
        miette!(
            help = "make one with `gantry plan -o FILE`",
            "{}: {error}",
            args.file.display()
        )
    })?;
    if args.json {
        sayln!("{}", saved_json(&saved));
    } else {
        say!("{}", saved_text(&saved));
    }
    Ok(Exit::Success)
}

/// The words a saved plan's options stand for, as `plan` flags.
fn options(saved: &SavedPlan) -> Vec<&'static str> {
    let inputs = &saved.inputs;
    [
        (inputs.reboot_proxy, "--reboot-proxy"),
        (inputs.recreate_accessories, "--recreate-accessories"),
        (inputs.atomic, "--atomic"),
    ]
    .into_iter()
    .filter_map(|(set, flag)| set.then_some(flag))
    .collect()
}

/// The saved plan for people: where it came from, then one line per action.
fn saved_text(saved: &SavedPlan) -> String {
    let inputs = &saved.inputs;
    let mut lines = vec![format!(
        "Plan of version {} from {}{}, made by gantry {}",
        inputs.version,
        inputs.config_file,
        inputs
            .destination
            .as_deref()
            .map(|destination| format!(" (destination {destination})"))
            .unwrap_or_default(),
        saved.gantry_version
    )];
    let hosts: Vec<&str> = saved.host_fingerprints.keys().map(String::as_str).collect();
    lines.push(format!("Hosts observed: {}", hosts.join(", ")));
    if !inputs.hosts.is_empty() {
        lines.push(format!("Only hosts: {}", inputs.hosts.join(", ")));
    }
    if !inputs.roles.is_empty() {
        lines.push(format!("Only roles: {}", inputs.roles.join(", ")));
    }
    let options = options(saved);
    if !options.is_empty() {
        lines.push(format!("Options: {}", options.join(" ")));
    }
    lines.push(String::new());
    if saved.plan_text.trim().is_empty() {
        lines.push("No changes.".to_string());
    } else {
        lines.push("Actions ([runs after] -> #number host: action (why)):".to_string());
        lines.extend(saved.plan_text.lines().map(str::to_string));
    }
    lines.push(String::new());
    lines.push(
        "`gantry apply FILE` runs exactly these actions, and refuses if a host changed since."
            .to_string(),
    );
    shorten_hashes(&(lines.join("\n") + "\n"))
}

/// The saved plan for machines: its inputs, hosts and action lines, without the sealed text.
fn saved_json(saved: &SavedPlan) -> serde_json::Value {
    json!({
        "gantry_version": saved.gantry_version,
        "inputs": saved.inputs,
        "hosts": saved.host_fingerprints.keys().collect::<Vec<_>>(),
        "plan_fingerprint": saved.plan_fingerprint,
        "actions": saved.plan_text.lines().collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::saved::PlanInputs;

    fn saved(version: &str) -> SavedPlan {
        let config = crate::testing::config(&["h1"]);
        let desired = crate::testing::desired(&config, version);
        let observed = crate::testing::observed_of(&crate::testing::desired(&config, "v0"));
        let plan = crate::plan::build(
            crate::diff::diff(&desired, &observed, Default::default()),
            &Default::default(),
        );
        let inputs = PlanInputs {
            config_file: "config/deploy.yml".to_string(),
            destination: Some("staging".to_string()),
            version: version.to_string(),
            hosts: Vec::new(),
            roles: vec!["web".to_string()],
            reboot_proxy: false,
            recreate_accessories: false,
            atomic: true,
        };
        SavedPlan::new(&plan, inputs, &observed)
    }

    #[test]
    fn text_names_the_inputs_and_lists_every_action_shortened() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let saved = saved(commit);
        let text = saved_text(&saved);
        assert!(
            text.starts_with(
                "Plan of version 0123456789ab from config/deploy.yml (destination staging), made by gantry "
            ),
            "{text}"
        );
        assert!(text.contains("\nHosts observed: h1\nOnly roles: web\nOptions: --atomic\n"));
        for line in saved.plan_text.lines() {
            assert!(
                text.contains(&shorten_hashes(line)),
                "{line} missing:\n{text}"
            );
        }
        assert!(!text.contains(commit));
    }

    #[test]
    fn json_keeps_the_version_whole() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let saved = saved(commit);
        let value = saved_json(&saved);
        assert_eq!(value["inputs"]["version"], commit);
        assert_eq!(value["hosts"], json!(["h1"]));
        assert_eq!(
            value["actions"].as_array().map(Vec::len),
            Some(saved.plan_text.lines().count())
        );
        assert!(value.get("sealed_text").is_none());
    }
}
