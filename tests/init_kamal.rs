//! `gantry init` next to the real `kamal init` (Kamal 2.11): the same files (names and
//! executable bits), the same keys set in config/deploy.yml, and a secrets file that, like
//! Kamal's, only shows where secrets come from. Needs `kamal` on PATH (CI installs it); skipped
//! without it unless CI or `GANTRY_REQUIRE_TESTBED` is set.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use gantry_testsupport::testbed::must_have_testbed;
use serde_json::Value;

const KAMAL_VERSION: &str = "2.11.0";

fn kamal_ready() -> bool {
    let ready = Command::new("kamal")
        .arg("version")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == KAMAL_VERSION);
    if !ready {
        assert!(
            !must_have_testbed(|name| std::env::var(name).ok()),
            "Kamal {KAMAL_VERSION} is required here (CI or GANTRY_REQUIRE_TESTBED=1)"
        );
        eprintln!("skipped: Kamal {KAMAL_VERSION} is not on PATH");
    }
    ready
}

/// Runs `program init` in a fresh git repository and returns it.
fn init(program: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let git = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir.path())
        .status()
        .expect("git runs");
    assert!(git.success());
    let output = Command::new(program)
        .arg("init")
        .current_dir(dir.path())
        .output()
        .expect("init runs");
    assert!(
        output.status.success(),
        "{program} init: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

/// Every file under `root` outside .git, with whether it is executable.
fn files(root: &Path) -> BTreeSet<(String, bool)> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .filter_entry(|entry| entry.file_name() != ".git")
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let relative = entry.path().strip_prefix(root).expect("under root");
            let mode = entry.metadata().expect("metadata").permissions().mode();
            (relative.display().to_string(), mode & 0o111 != 0)
        })
        .collect()
}

/// The key paths deploy.yml sets (`proxy/host`, ...), comments aside.
fn key_paths(value: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = value {
        for (key, inner) in map {
            let path = format!("{prefix}/{key}");
            key_paths(inner, &path, out);
            out.insert(path);
        }
    }
}

fn deploy_keys(root: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root.join("config/deploy.yml")).expect("deploy.yml");
    let value: Value = serde_saphyr::from_str(&text).expect("YAML");
    let mut keys = BTreeSet::new();
    key_paths(&value, "", &mut keys);
    keys
}

#[test]
fn gantry_init_writes_the_files_and_keys_kamal_init_writes() {
    if !kamal_ready() {
        return;
    }
    let kamal = init("kamal");
    let gantry = init(env!("CARGO_BIN_EXE_gantry"));
    assert_eq!(files(gantry.path()), files(kamal.path()));
    assert_eq!(deploy_keys(gantry.path()), deploy_keys(kamal.path()));
    for dir in [&kamal, &gantry] {
        let secrets = std::fs::read_to_string(dir.path().join(".kamal/secrets")).expect("secrets");
        assert!(
            secrets
                .lines()
                .all(|line| line.trim().is_empty() || line.starts_with('#')),
            "a secrets file that holds values:\n{secrets}"
        );
        assert!(secrets.contains("$KAMAL_REGISTRY_PASSWORD"), "{secrets}");
    }
    // What gantry wrote loads.
    let config = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("config")
        .current_dir(gantry.path())
        .output()
        .expect("gantry config runs");
    assert!(
        config.status.success(),
        "{}",
        String::from_utf8_lossy(&config.stderr)
    );
}
