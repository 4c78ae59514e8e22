//! `plan --graph FILE.svg` and `apply --timeline FILE.svg` on the test bed: a fresh deploy's
//! action graph and the timeline of a new version that fails its health check on one host.
//! Both pictures must be well-formed SVG with one box per action (one bar per action that ran);
//! with `GANTRY_UPDATE_DOCS=1` they are copied to `docs/` for the README.

use std::path::Path;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-pictures";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// Parses `file` as SVG and returns the `class` of each element that has one.
fn classes(file: &Path) -> (String, Vec<(String, Option<String>)>) {
    let text = std::fs::read_to_string(file).unwrap();
    let document = roxmltree::Document::parse(&text)
        .unwrap_or_else(|error| panic!("{}: not well-formed: {error}", file.display()));
    assert_eq!(document.root_element().tag_name().name(), "svg");
    let found = document
        .descendants()
        .filter_map(|element| {
            element.attribute("class").map(|class| {
                (
                    class.to_string(),
                    element.attribute("data-kind").map(String::from),
                )
            })
        })
        .collect();
    (text, found)
}

fn count(found: &[(String, Option<String>)], class: &str) -> usize {
    found.iter().filter(|(name, _)| name == class).count()
}

/// Copies a picture into `docs/` when asked to.
fn publish(file: &Path, name: &str) {
    if std::env::var_os("GANTRY_UPDATE_DOCS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(file, docs.join(name)).unwrap();
    }
}

#[test]
fn the_action_graph_and_the_timeline_of_a_failed_deploy_are_well_formed_pictures() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let versions = testbed.push_versions(SERVICE, &["first", "second"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.secret_env = vec![("DB_PASSWORD".into(), "pictures-s3cret".into())];
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    let project = KamalProject::create(&testbed, app);
    let pictures = tempfile::tempdir().unwrap();

    // The action graph of a first deploy to fresh hosts.
    let graph = pictures.path().join("plan-graph.svg");
    let json = gantry(&project, &["plan", "--json", "--version", &versions[0]]);
    json.assert_code(0);
    let planned: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let actions = planned["actions"].as_array().expect("actions").len();
    let undoable = planned["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|action| !action["compensation"].is_null())
        .count();
    let run = gantry(
        &project,
        &[
            "plan",
            "--version",
            &versions[0],
            "--graph",
            graph.to_str().unwrap(),
        ],
    );
    run.assert_code(0);
    assert!(
        run.stdout.contains("Drew the action graph in"),
        "{}",
        run.stdout
    );
    let (text, found) = classes(&graph);
    assert!(actions > 0);
    assert_eq!(count(&found, "action"), actions, "one box per action");
    assert_eq!(count(&found, "lane"), hosts.len(), "one lane per host");
    assert_eq!(count(&found, "rollback"), undoable);
    assert!(!text.contains("pictures-s3cret"));
    publish(&graph, "plan-graph.svg");

    gantry(&project, &["apply", "-y", "--version", &versions[0]]).assert_code(0);

    // The next version fails its health check on the third host: its timeline shows the failure
    // and the rollback there, and the two other hosts done.
    let broken = hosts[2].clone();
    let path = project.dir().join("config/deploy.yml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let yaml = yaml
        .replace(
            &format!("    - \"{broken}\"\n"),
            &format!("    - \"{broken}\": broken\n"),
        )
        .replace(
            "  secret:\n    - DB_PASSWORD\n",
            "  secret:\n    - DB_PASSWORD\n  tags:\n    broken:\n      FAIL_HEALTHCHECK: \"1\"\n",
        );
    std::fs::write(&path, yaml).unwrap();
    let timeline = pictures.path().join("apply-timeline.svg");
    let run = gantry(
        &project,
        &[
            "apply",
            "-y",
            "--version",
            &versions[1],
            "--timeline",
            timeline.to_str().unwrap(),
        ],
    );
    run.assert_code(1);
    let (text, found) = classes(&timeline);
    let kinds = |kind: &str| {
        found
            .iter()
            .filter(|(class, data)| class == "bar" && data.as_deref() == Some(kind))
            .count()
    };
    assert_eq!(kinds("failed"), 1, "{}", run.stdout);
    assert!(kinds("rolled back") > 0 && kinds("undo") == kinds("rolled back"));
    assert!(kinds("done") > 0);
    assert!(!text.contains("pictures-s3cret"));
    publish(&timeline, "apply-timeline.svg");

    let page = pictures.path().join("apply-timeline.html");
    gantry(
        &project,
        &[
            "apply",
            "-y",
            "--version",
            &versions[1],
            "--timeline",
            page.to_str().unwrap(),
        ],
    )
    .assert_code(1);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
}
