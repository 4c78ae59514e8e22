//! Every configuration under tests/fixtures/config/valid/ loads, and `gantry config --json`
//! prints the expected resolved configuration (reviewed insta snapshots), and the expected
//! warnings (by code; their rendering is covered by tests/config_invalid.rs).
//! A fixture `NAME.DEST.yml` next to `NAME.yml` is also loaded with `-d DEST`. What the real
//! Kamal prints for the same fixtures is compared in tests/config_kamal.rs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use gantry_testsupport::fixtures::{ERB_ENV, ERB_UNSET};

const VALID: &str = "tests/fixtures/config/valid";

fn fixtures() -> Vec<(PathBuf, Option<String>)> {
    let mut runs = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(VALID)
        .expect("fixtures directory")
        .map(|entry| entry.expect("entry").path())
        .collect();
    paths.sort();
    for path in &paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        match stem.split_once('.') {
            None => runs.push((path.clone(), None)),
            Some((base, destination)) => runs.push((
                Path::new(VALID).join(format!("{base}.yml")),
                Some(destination.to_string()),
            )),
        }
    }
    runs
}

fn gantry_config(path: &Path, destination: Option<&str>) -> (bool, String, String) {
    let mut command = Command::cargo_bin("gantry").expect("binary");
    command.env("NO_COLOR", "1").env_remove("GANTRY_LOG");
    for (name, value) in ERB_ENV {
        command.env(name, value);
    }
    for name in ERB_UNSET {
        command.env_remove(name);
    }
    command.arg("config").arg("--json").arg("-c").arg(path);
    if let Some(destination) = destination {
        command.arg("-d").arg(destination);
    }
    let output = command.output().expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_valid_fixture_loads_and_matches_its_snapshot() {
    let runs = fixtures();
    assert!(runs.len() >= 20, "the corpus has {} configs", runs.len());
    for (path, destination) in runs {
        let (ok, stdout, stderr) = gantry_config(&path, destination.as_deref());
        assert!(ok, "{} did not load:\n{stderr}", path.display());
        let json: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
        assert!(json.get("service").is_some());
        let name = match &destination {
            Some(destination) => format!(
                "valid_{}_{destination}",
                path.file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
            ),
            None => format!(
                "valid_{}",
                path.file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or_default()
            ),
        };
        // The warnings' codes, not their drawing: the terminal decides unicode or ASCII art.
        let warnings: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("gantry::"))
            .collect();
        insta::assert_snapshot!(
            name,
            format!("{stdout}\n--- warnings ---\n{}", warnings.join("\n"))
        );
    }
}

#[test]
fn literal_registry_passwords_never_reach_the_output() {
    let (ok, stdout, stderr) =
        gantry_config(Path::new(&format!("{VALID}/09-registry-literal.yml")), None);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("literal-password-from-env"));
    assert!(stdout.contains("[REDACTED]"));
}
