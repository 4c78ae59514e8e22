//! `aliases:` load exactly when the real Kamal 2.11 loads them (`kamal config` next to `gantry
//! config` on the same deploy.yml, one alias per case), and an alias named like a gantry command
//! that Kamal does not have runs in that command's place (specs/commands.md, "Aliases").
//!
//! The Kamal half needs `kamal` 2.11 on PATH: it is skipped without it, except where the test
//! bed is required (CI), where Kamal is installed too.

use std::path::Path;
use std::process::Command;

use assert_cmd::Command as BinCommand;
use gantry_testsupport::testbed::must_have_testbed;

/// A deploy.yml with one `aliases:` entry, written as it is.
fn deploy_yml(alias_entry: &str) -> String {
    format!(
        "service: app\nimage: app\nservers: [10.0.0.1]\nregistry: {{server: localhost:5000}}\n\
         builder: {{arch: amd64}}\naliases:\n  {alias_entry}\n"
    )
}

fn project(alias_entry: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(dir.path().join("config")).expect("config directory");
    std::fs::write(
        dir.path().join("config/deploy.yml"),
        deploy_yml(alias_entry),
    )
    .expect("deploy.yml");
    dir
}

/// Whether `kamal config` loads the project, with its error when it does not.
fn kamal_loads(dir: &Path) -> Result<(), String> {
    let output = Command::new("kamal")
        .arg("config")
        .current_dir(dir)
        // Kamal takes the version from git otherwise; there is no repository here.
        .env("VERSION", "aliases-test")
        .output()
        .expect("kamal runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn gantry_loads(dir: &Path) -> Result<(), String> {
    let output = BinCommand::cargo_bin("gantry")
        .expect("binary")
        .args(["config", "--json"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("gantry runs");
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn kamal_available() -> bool {
    let found = Command::new("kamal")
        .arg("version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        assert!(
            !must_have_testbed(|name| std::env::var(name).ok()),
            "`kamal` 2.11 must be on PATH here (CI or GANTRY_REQUIRE_TESTBED=1)"
        );
        eprintln!("skipped: `kamal` is not on PATH");
    }
    found
}

/// Alias entries that Kamal accepts, all in one deploy.yml (one `kamal config` run): Rails 8's
/// four, gantry's commands that Kamal lacks, and values Kamal reads as strings.
const ACCEPTED: &[&str] = &[
    "console: app exec --interactive --reuse \"bin/rails console\"",
    "shell: app exec --interactive --reuse \"bash\"",
    "logs: app logs -f",
    "dbc: app exec --interactive --reuse \"bin/rails dbconsole --include-password\"",
    "exec: app exec -i bash",
    "plan: app details",
    "apply: app details",
    "drift: app details",
    "help: app details",
    "staging_deploy: deploy -d staging",
    "my-alias_2: app details",
    "number: 1",
    "flag: true",
];

/// Alias entries Kamal refuses, each alone: Kamal's own commands, names with other characters,
/// values that are not strings.
const REFUSED: &[&str] = &[
    "accessory: app details",
    "app: app details",
    "audit: app details",
    "build: app details",
    "config: app details",
    "deploy: app details",
    "details: app details",
    "docs: app details",
    "init: app details",
    "lock: app details",
    "proxy: app details",
    "prune: app details",
    "redeploy: app details",
    "registry: app details",
    "remove: app details",
    "rollback: app details",
    "secrets: app details",
    "server: app details",
    "setup: app details",
    "upgrade: app details",
    "version: app details",
    "Logs: app logs",
    "a.b: app details",
    "\"with space\": app details",
    "\"\": app details",
    "list: [app, details]",
    "hash: {app: details}",
    "empty:",
];

fn verdict(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => "loads".to_string(),
        Err(error) => format!("refuses: {error}"),
    }
}

#[test]
fn an_alias_loads_exactly_when_kamal_loads_it() {
    if !kamal_available() {
        return;
    }
    let accepted = project(&ACCEPTED.join("\n  "));
    let (kamal, gantry) = (kamal_loads(accepted.path()), gantry_loads(accepted.path()));
    assert!(
        kamal.is_ok() && gantry.is_ok(),
        "{ACCEPTED:#?}: Kamal {}, gantry {}",
        verdict(&kamal),
        verdict(&gantry)
    );
    // Kamal runs two at a time: the machine is shared and each run starts a Ruby.
    let mut disagreements = Vec::new();
    for pair in REFUSED.chunks(2) {
        let verdicts: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = pair
                .iter()
                .map(|entry| {
                    scope.spawn(move || {
                        let dir = project(entry);
                        (*entry, kamal_loads(dir.path()), gantry_loads(dir.path()))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("case runs"))
                .collect()
        });
        for (entry, kamal, gantry) in verdicts {
            if kamal.is_ok() || gantry.is_ok() {
                disagreements.push(format!(
                    "`{entry}`: Kamal {}, gantry {}",
                    verdict(&kamal),
                    verdict(&gantry)
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// `logs: config --json` makes `gantry logs` print the configuration (no host is contacted);
/// without the alias, `gantry logs` is the logs command.
#[test]
fn an_alias_named_logs_runs_instead_of_the_logs_command() {
    let dir = project("logs: config --json");
    let output = BinCommand::cargo_bin("gantry")
        .expect("binary")
        .args(["logs", "-q"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("gantry runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("config JSON");
    assert_eq!(json["service"], "app");
    assert_eq!(json["aliases"]["logs"], "config --json");

    let dir = project("console: config --json");
    let output = BinCommand::cargo_bin("gantry")
        .expect("binary")
        .args(["logs", "--help"])
        .current_dir(dir.path())
        .output()
        .expect("gantry runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--follow"), "{help}");
}
