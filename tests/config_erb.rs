//! ERB that gantry hands to Ruby, as a user meets it: rendered by the `ruby` on PATH when there
//! is one, a diagnostic that says how to get it rendered when there is none, and no code run at
//! all under `--no-secret-commands`. The native forms are unit-tested in `src/config/erb/`, and
//! compared with the real Kamal in tests/config_corpus.rs.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

const RUBY_HELPER: &str = "tests/fixtures/config/valid/46-erb-ruby-helper.yml";
const COMMANDS: &str = "tests/fixtures/config/valid/43-erb-commands.yml";

fn gantry() -> Command {
    let mut command = Command::cargo_bin("gantry").expect("binary");
    command
        .env("NO_COLOR", "1")
        .env_remove("GANTRY_LOG")
        .env_remove("GANTRY_SECRET_COMMANDS")
        .env("GANTRY_TEST_IMAGE", "erb/image")
        .env("GANTRY_TEST_HOSTS", "10.0.0.1, 10.0.0.2")
        .env("GANTRY_TEST_PORT", "8080")
        .env("GANTRY_TEST_ROLE", "Web");
    command
}

fn ruby_dir() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("ruby").is_file())
        .expect("`ruby` on PATH: .ci/run installs it (apt-get install ruby)")
}

fn config_json(file: &str) -> (bool, serde_json::Value, String) {
    let output = gantry()
        .args(["config", "--json", "-c", file])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        output.status.success(),
        json,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn code_gantry_does_not_evaluate_is_rendered_by_ruby() {
    ruby_dir();
    let (ok, json, stderr) = config_json(RUBY_HELPER);
    assert!(ok, "{stderr}");
    assert_eq!(json["builder"]["args"]["REGION"], "eu-west");
    assert_eq!(json["builder"]["args"]["SYMBOL"], "SYMBOL");
    let hosts: Vec<&str> = json["roles"][0]["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|host| host["host"].as_str())
        .collect();
    assert_eq!(hosts, ["10.0.0.1", "10.0.0.2"]);
}

#[test]
fn a_ruby_error_points_at_its_line() {
    ruby_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("deploy.yml");
    std::fs::write(
        &file,
        "service: app\nimage: app/app\nservers:\n  - <%= raise ArgumentError, 'no hosts' %>\n",
    )
    .expect("write");
    let output = gantry()
        .args(["config", "-c"])
        .arg(&file)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("gantry::config::erb_error"), "{stderr}");
    assert!(stderr.contains("ArgumentError raised here"), "{stderr}");
    assert!(stderr.contains("deploy.yml:4:1"), "{stderr}");
}

#[test]
fn without_ruby_the_diagnostic_names_the_code_and_how_to_render_it() {
    let empty = tempfile::tempdir().expect("tempdir");
    let output = gantry()
        .env("PATH", empty.path())
        .args(["config", "-c", RUBY_HELPER])
        .output()
        .expect("runs");
    // The report wraps at the terminal's width: compare words.
    let stderr = String::from_utf8_lossy(&output.stderr)
        .split_whitespace()
        .filter(|word| *word != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!output.status.success());
    assert!(
        stderr.contains("gantry::config::erb_unsupported"),
        "{stderr}"
    );
    assert!(stderr.contains("needs Ruby"), "{stderr}");
    assert!(stderr.contains("no `ruby` is on PATH"), "{stderr}");
    assert!(stderr.contains("install Ruby"), "{stderr}");
    // The first tag gantry cannot evaluate: the helper method's definition.
    assert!(stderr.contains("46-erb-ruby-helper.yml:3"), "{stderr}");
}

#[test]
fn the_secret_commands_switch_stops_erb_commands_and_ruby() {
    let marker_dir = tempfile::tempdir().expect("tempdir");
    let marker = marker_dir.path().join("ran");
    let file = marker_dir.path().join("deploy.yml");
    std::fs::write(
        &file,
        format!(
            "service: app\nimage: <%= `touch {}; echo app/app` %>\nservers:\n  - 1.1.1.1\n",
            marker.display()
        ),
    )
    .expect("write");
    for (flag, variable) in [(true, None), (false, Some("0"))] {
        let mut command = gantry();
        if let Some(value) = variable {
            command.env("GANTRY_SECRET_COMMANDS", value);
        }
        command.args(["config", "-c"]).arg(&file);
        if flag {
            command.arg("--no-secret-commands");
        }
        let output = command.output().expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success());
        assert!(
            stderr.contains("gantry::config::erb_commands_disabled"),
            "{stderr}"
        );
        assert!(!marker.exists(), "the command ran");
    }
    let output = gantry()
        .args(["config", "--no-secret-commands", "-c", RUBY_HELPER])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("gantry::config::erb_commands_disabled") && stderr.contains("needs Ruby"),
        "{stderr}"
    );
    // Allowed (the default), the same files load.
    assert!(Path::new(COMMANDS).exists());
    let (ok, json, stderr) = config_json(COMMANDS);
    assert!(ok, "{stderr}");
    assert_eq!(json["image"], "erb/commands");
}

/// ERB that gantry refuses natively, Kamal 2.11 refuses too (the oracle for "Kamal stops on
/// this error too").
#[test]
fn erb_errors_are_errors_in_kamal_too() {
    for (fixture, code, ruby_error) in [
        (
            "erb-error.yml",
            "gantry::config::erb_error",
            "NoMethodError",
        ),
        (
            "erb-syntax.yml",
            "gantry::config::erb_syntax",
            "SyntaxError",
        ),
        (
            "erb-missing-env.yml",
            "gantry::config::erb_missing_env",
            "KeyError",
        ),
    ] {
        let path = format!("tests/fixtures/config/invalid/{fixture}");
        let kamal = std::process::Command::new("kamal")
            .args(["config", "--version", "1", "-c", &path])
            .env_remove("APP_IMAGE")
            .env_remove("KAMAL_DESTINATION")
            .output()
            .expect("kamal runs (Kamal 2.11 is installed by .ci/run)");
        assert!(!kamal.status.success(), "Kamal loaded {fixture}");
        let kamal_says = String::from_utf8_lossy(&kamal.stderr).into_owned()
            + &String::from_utf8_lossy(&kamal.stdout);
        assert!(kamal_says.contains(ruby_error), "{fixture}: {kamal_says}");
        let output = gantry()
            .env_remove("APP_IMAGE")
            .args(["config", "-c", &path])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "gantry loaded {fixture}");
        assert!(stderr.contains(code), "{fixture}: {stderr}");
    }
}

/// A command line an alias may take over (`plan`, `logs`, ...) reads deploy.yml once: looking
/// for the alias and running the command share the load, so ERB's shell commands run once.
#[test]
fn erb_commands_run_once_when_a_command_looks_for_its_alias() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::write(
        dir.path().join("config/deploy.yml"),
        "service: <%= `echo run >> erb-runs; echo app`.strip %>\n\
         image: dhh/app\n\
         servers: [127.0.0.1]\n\
         ssh: {port: 1}\n\
         registry: {username: user, password: pass}\n\
         builder: {arch: amd64}\n\
         aliases: {exec: app exec}\n",
    )
    .expect("deploy.yml");
    let output = gantry()
        .current_dir(dir.path())
        .args(["plan", "--version", "v1"])
        .output()
        .expect("runs");
    let runs = std::fs::read_to_string(dir.path().join("erb-runs")).unwrap_or_default();
    assert_eq!(
        runs.lines().count(),
        1,
        "ERB ran {} times: {}",
        runs.lines().count(),
        String::from_utf8_lossy(&output.stderr)
    );
}
