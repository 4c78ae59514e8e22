//! `gantry plan` for people and pull requests on the test bed: `--format markdown`, and a plan
//! saved with `-o FILE` read back by `gantry show FILE` (text and `--json`).

use std::path::Path;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-plan-formats";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

#[test]
fn markdown_and_a_saved_plan_shown_back_describe_the_same_plan() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let versions = testbed.push_versions(SERVICE, &["one"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.secret_env = vec![("DB_PASSWORD".into(), "formats-s3cret".into())];
    let project = KamalProject::create(&testbed, app);
    let version = &versions[0];

    let text = gantry(&project, &["plan", "--version", version]);
    text.assert_code(0);
    let summary = text
        .stdout
        .lines()
        .find(|line| line.starts_with("Plan: "))
        .expect("a summary line")
        .to_string();

    let markdown = gantry(
        &project,
        &["plan", "--format", "markdown", "--version", version],
    );
    markdown.assert_code(0);
    let markdown = markdown.stdout;
    assert!(
        markdown.starts_with(&format!("### gantry plan: `{SERVICE}` version `{version}`")),
        "{markdown}"
    );
    assert!(markdown.contains(&format!("**{summary}**")), "{markdown}");
    for host in &hosts {
        assert!(
            markdown.contains(&format!("\n#### {host}\n\n```diff\n+ ")),
            "{markdown}"
        );
    }
    assert_eq!(markdown.matches("```diff").count(), hosts.len());
    assert!(!markdown.contains("formats-s3cret"));
    assert!(!markdown.contains('\u{1b}'));

    let saved = project.dir().join("plan.json");
    let saved_arg = saved.display().to_string();
    gantry(&project, &["plan", "--version", version, "-o", &saved_arg]).assert_code(0);
    let shown = gantry(&project, &["show", &saved_arg]);
    shown.assert_code(0);
    assert!(
        shown
            .stdout
            .starts_with(&format!("Plan of version {version} from config/deploy.yml")),
        "{}",
        shown.stdout
    );
    let mut observed: Vec<&str> = hosts.iter().map(String::as_str).collect();
    observed.sort();
    assert!(
        shown
            .stdout
            .contains(&format!("Hosts observed: {}", observed.join(", "))),
        "{}",
        shown.stdout
    );
    let json = gantry(&project, &["show", "--json", &saved_arg]);
    json.assert_code(0);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["inputs"]["version"], version.as_str());
    let actions = value["actions"].as_array().expect("actions");
    assert!(!actions.is_empty());
    for action in actions {
        let line = action.as_str().expect("a line");
        assert!(
            shown.stdout.contains(line),
            "{line} missing from show's text"
        );
    }
    assert!(!json.stdout.contains("formats-s3cret"));

    std::fs::write(&saved, "not a plan").expect("writes");
    let refused = gantry(&project, &["show", &saved_arg]);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("gantry plan -o FILE"),
        "{}",
        refused.stderr
    );
}
