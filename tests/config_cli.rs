//! The `config`, `init` and `version` commands as a user runs them, and the command list.

use assert_cmd::Command;
use predicates::prelude::*;

fn gantry() -> Command {
    let mut command = Command::cargo_bin("gantry").expect("binary");
    command.env("NO_COLOR", "1").env_remove("GANTRY_LOG");
    command
}

/// The command list is exact: a command that is not built is not in `--help`,
/// and each listed one answers its own `--help`.
#[test]
fn help_lists_only_working_commands_and_the_global_flags() {
    let output = gantry().arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "--config-file",
        "--destination",
        "--verbose",
        "--quiet",
        "--no-secret-commands",
        "--skip-hooks",
        "Aliases from deploy.yml",
    ] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
    let listed: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("Options:").next())
        .expect("a Commands section")
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert_eq!(
        listed,
        [
            "plan",
            "apply",
            "deploy",
            "redeploy",
            "rollback",
            "drift",
            "details",
            "lock",
            "config",
            "docs",
            "init",
            "setup",
            "app",
            "exec",
            "logs",
            "accessory",
            "build",
            "proxy",
            "registry",
            "prune",
            "remove",
            "server",
            "secrets",
            "audit",
            "tree",
            "upgrade",
            "version",
            "completions",
            "man",
            "show"
        ],
        "{help}"
    );
    for command in listed {
        gantry().args([command, "--help"]).assert().success();
    }
}

#[test]
fn version_names_the_kamal_level() {
    gantry()
        .arg("version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("gantry ").and(predicate::str::contains("Kamal 2.12")));
}

#[test]
fn config_prints_yaml_by_default_and_json_on_request() {
    gantry()
        .current_dir("examples/minimal")
        .arg("config")
        .assert()
        .success()
        .stdout(predicate::str::contains("service: my-app"));
    let output = gantry()
        .args([
            "config",
            "--json",
            "-c",
            "examples/minimal/config/deploy.yml",
        ])
        .output()
        .expect("runs");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(json["roles"][0]["hosts"][0]["host"], "192.168.0.10");
    assert_eq!(
        json["registry"]["password"]["secret"],
        "KAMAL_REGISTRY_PASSWORD"
    );
}

#[test]
fn config_never_prints_secret_values() {
    let output = gantry()
        .current_dir("examples/multi-role")
        .args(["config", "--json", "-d", "production"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for value in ["ghp_example_not_real", "production-password", "MIIBexample"] {
        assert!(!text.contains(value), "{value} leaked");
    }
    assert!(text.contains("SHOP_CERTIFICATE_PEM"));
}

#[test]
fn a_broken_config_exits_1_with_the_diagnostics() {
    gantry()
        .args([
            "config",
            "-c",
            "tests/fixtures/config/invalid/unknown-key.yml",
        ])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("gantry::config::unknown_key")
                .and(predicate::str::contains("did you mean `servers`?")),
        );
    gantry()
        .args(["config", "-c", "does/not/exist.yml"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "configuration file not found: does/not/exist.yml",
        ));
}

#[test]
fn quiet_hides_warnings() {
    gantry()
        .current_dir("examples/article")
        .args(["-q", "config"])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    gantry()
        .current_dir("examples/article")
        .arg("config")
        .assert()
        .success()
        .stderr(predicate::str::contains("kamal1_healthcheck"));
}

#[test]
fn init_writes_the_starter_files_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    gantry()
        .current_dir(dir.path())
        .arg("init")
        .assert()
        .success()
        .stdout(predicate::str::contains("created config/deploy.yml"));
    assert!(dir.path().join(".kamal/hooks/pre-deploy.sample").exists());
    assert!(!dir.path().join(".gitignore").exists());
    gantry()
        .current_dir(dir.path())
        .arg("init")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "config/deploy.yml and .kamal/secrets already exist",
        ));
    gantry()
        .current_dir(dir.path())
        .arg("config")
        .assert()
        .success();
}

/// `config --check-secrets` makes `plan`'s check: a secret deploy.yml names and no secrets file
/// sets fails at the YAML line naming it; values are never printed.
#[test]
fn config_check_secrets_points_at_the_line_naming_a_missing_secret() {
    gantry()
        .current_dir("examples/minimal")
        .args(["config", "--check-secrets"])
        .assert()
        .success()
        .stdout(predicate::str::contains("dckr_pat_example").not())
        .stderr(predicate::str::contains(
            "Every secret deploy.yml names is set",
        ));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::create_dir_all(dir.path().join(".kamal")).expect(".kamal dir");
    std::fs::copy(
        "examples/minimal/config/deploy.yml",
        dir.path().join("config/deploy.yml"),
    )
    .expect("deploy.yml");
    std::fs::write(dir.path().join(".kamal/secrets"), "OTHER=hunter2\n").expect("secrets");
    gantry()
        .current_dir(dir.path())
        .args(["config", "--check-secrets"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("secret KAMAL_REGISTRY_PASSWORD is not set")
                .and(predicate::str::contains("config/deploy.yml:18"))
                .and(predicate::str::contains("hunter2").not()),
        );
    // `secrets print` shows the values (asked for) and warns about the missing one.
    gantry()
        .current_dir(dir.path())
        .args(["secrets", "print"])
        .assert()
        .success()
        .stdout("OTHER=hunter2\n")
        .stderr(predicate::str::contains(
            "secret KAMAL_REGISTRY_PASSWORD is not set",
        ));
}
