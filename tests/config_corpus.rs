//! Every configuration under tests/fixtures/config/valid/ loads, and `gantry config --json`
//! prints the expected resolved configuration (reviewed insta snapshots), and the expected
//! warnings (by code; their rendering is covered by tests/config_invalid.rs).
//! A fixture `NAME.DEST.yml` next to `NAME.yml` is also loaded with `-d DEST`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

const VALID: &str = "tests/fixtures/config/valid";

/// Fixed values for the ERB fixtures.
const ERB_ENV: &[(&str, &str)] = &[
    ("GANTRY_TEST_IMAGE", "erb/image"),
    ("GANTRY_TEST_HOST", "10.9.8.7"),
    ("GANTRY_TEST_PORT", "8080"),
    ("GANTRY_TEST_ECR_PASSWORD", "literal-password-from-env"),
    ("GANTRY_TEST_HOSTS", "10.0.0.1, 10.0.0.2"),
    ("GANTRY_TEST_ROLE", "Web"),
    ("GANTRY_TEST_EMPTY", ""),
];

/// Variables the ERB fixtures read as unset, whatever the machine has.
const ERB_UNSET: &[&str] = &[
    "GANTRY_TEST_UNSET",
    "GANTRY_TEST_SERVICE",
    "GANTRY_TEST_SSH_USER",
];

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

/// What `kamal config` prints that ERB in the fixtures decides, read from either tool's output:
/// service, image, roles, hosts, primary host, builder arch and args, ssh user.
#[derive(Debug, PartialEq)]
struct ErbFacts {
    service: String,
    image: String,
    roles: Vec<String>,
    hosts: Vec<String>,
    primary_host: String,
    builder: serde_json::Value,
    ssh_user: String,
}

fn kamal_facts(path: &Path, destination: Option<&str>) -> ErbFacts {
    let mut command = std::process::Command::new("kamal");
    for (name, value) in ERB_ENV {
        command.env(name, value);
    }
    for name in ERB_UNSET {
        command.env_remove(name);
    }
    command.args(["config", "--version", "1", "-c"]).arg(path);
    if let Some(destination) = destination {
        command.args(["-d", destination]);
    }
    let output = command
        .output()
        .expect("kamal runs (Kamal 2.11 is installed by .ci/run)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kamal config {} failed:\n{stdout}{}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let config: serde_json::Value =
        serde_saphyr::from_str(&stdout).expect("kamal config prints YAML");
    let strings = |key: &str| -> Vec<String> {
        let mut values: Vec<String> = config[key]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| v.as_str())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        values.sort();
        values
    };
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    ErbFacts {
        service: text(&config[":service_with_version"])
            .trim_end_matches("-1")
            .to_string(),
        image: text(&config[":repository"]),
        roles: strings(":roles"),
        hosts: strings(":hosts"),
        primary_host: text(&config[":primary_host"]),
        builder: serde_json::json!({
            "arch": config[":builder"]["arch"],
            "args": config[":builder"].get("args").cloned().unwrap_or(serde_json::json!({})),
        }),
        ssh_user: text(&config[":ssh_options"][":user"]),
    }
}

fn gantry_facts(path: &Path, destination: Option<&str>) -> ErbFacts {
    let (ok, stdout, stderr) = gantry_config(path, destination);
    assert!(ok, "{} did not load:\n{stderr}", path.display());
    let config: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let text = |value: &serde_json::Value| value.as_str().unwrap_or_default().to_string();
    let roles = config["roles"].as_array().cloned().unwrap_or_default();
    let hosts_of = |role: &serde_json::Value| -> Vec<String> {
        role["hosts"]
            .as_array()
            .map(|hosts| hosts.iter().map(|host| text(&host["host"])).collect())
            .unwrap_or_default()
    };
    let mut hosts: Vec<String> = roles.iter().flat_map(hosts_of).collect();
    hosts.sort();
    hosts.dedup();
    let mut role_names: Vec<String> = roles.iter().map(|role| text(&role["name"])).collect();
    role_names.sort();
    let primary = roles
        .iter()
        .find(|role| role["name"] == config["primary_role"])
        .and_then(|role| hosts_of(role).into_iter().next())
        .unwrap_or_default();
    // Kamal prints a single arch as a string.
    let arch = match config["builder"]["arch"].as_array().map(Vec::as_slice) {
        Some([one]) => one.clone(),
        _ => config["builder"]["arch"].clone(),
    };
    ErbFacts {
        service: text(&config["service"]),
        image: text(&config["image"]),
        roles: role_names,
        hosts,
        primary_host: primary,
        builder: serde_json::json!({ "arch": arch, "args": config["builder"]["args"] }),
        ssh_user: text(&config["ssh"]["user"]),
    }
}

/// The oracle for ERB: each `4N-erb-*` fixture rendered by the real Kamal 2.11 (`kamal config`)
/// and by gantry gives the same service, image, roles, hosts, builder args and ssh user.
#[test]
fn erb_fixtures_render_as_kamal_renders_them() {
    let runs: Vec<_> = fixtures()
        .into_iter()
        .filter(|(path, _)| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('4') && name.contains("-erb-"))
        })
        .collect();
    assert!(runs.len() >= 8, "only {} ERB fixture runs", runs.len());
    for (path, destination) in runs {
        let kamal = kamal_facts(&path, destination.as_deref());
        let gantry = gantry_facts(&path, destination.as_deref());
        assert_eq!(gantry, kamal, "{} (-d {destination:?})", path.display());
    }
}
