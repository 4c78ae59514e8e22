//! Exit codes as scripts and cron read them (specs/exit-codes.md), and what one invocation
//! costs: each test runs the binary.

use assert_cmd::Command;

fn gantry(dir: &std::path::Path) -> Command {
    let mut command = Command::cargo_bin("gantry").expect("binary");
    command
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("GANTRY_LOG")
        .env_remove("VERSION");
    command
}

/// `gantry drift --jsno` in a crontab is a mistake, not drift: a usage error never exits 2, the
/// code of "changes" for `plan --detailed-exitcode` and `drift`.
#[test]
fn a_usage_error_has_its_own_code_never_the_code_of_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        vec!["drift", "--jsno"],
        vec!["plan", "--detailed-exitcod"],
        vec!["apply", "--lock-wait-timeout", "soon"],
        vec!["no-such-flag-command", "--", "x"],
    ] {
        let output = gantry(dir.path()).args(&args).output().expect("runs");
        let code = output.status.code();
        if args[0] == "no-such-flag-command" {
            // Not a usage error: a word that is no command is looked up as an alias.
            assert_eq!(code, Some(1), "{args:?}");
            continue;
        }
        assert_eq!(
            code,
            Some(64),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_ne!(code, Some(2));
        assert!(
            String::from_utf8_lossy(&output.stderr).starts_with("error:"),
            "{args:?}: clap's message"
        );
    }
    let help = gantry(dir.path()).arg("--help").output().expect("runs");
    assert_eq!(help.status.code(), Some(0));
    let version = gantry(dir.path()).arg("version").output().expect("runs");
    assert_eq!(version.status.code(), Some(0));
}

/// `deploy` leads into the apply with the project it loaded: the secrets file's commands run
/// once per invocation, not once for the deploy and again for the apply.
#[test]
fn deploy_runs_the_secret_commands_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let counter = dir.path().join("secret-commands-ran");
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::create_dir_all(dir.path().join(".kamal")).expect(".kamal dir");
    // Port 1 on loopback refuses at once: the run stops at the lock host, after loading.
    std::fs::write(
        dir.path().join("config/deploy.yml"),
        "service: once\nimage: once\nservers:\n  - 127.0.0.1\n\
         registry:\n  server: registry.test\n  username: deployer\n  password:\n    - REGISTRY_PASSWORD\n\
         ssh:\n  port: 1\n",
    )
    .expect("deploy.yml");
    std::fs::write(
        dir.path().join(".kamal/secrets"),
        format!(
            "REGISTRY_PASSWORD=$(echo ran >> {} && echo s3cret)\n",
            counter.display()
        ),
    )
    .expect("secrets");
    let output = gantry(dir.path())
        .args(["deploy", "--skip-push", "--version", "v1"])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runs = std::fs::read_to_string(&counter).expect("the secret command ran");
    assert_eq!(
        runs.lines().count(),
        1,
        "secret commands ran {} times",
        runs.lines().count()
    );
    assert!(!String::from_utf8_lossy(&output.stderr).contains("s3cret"));
}
