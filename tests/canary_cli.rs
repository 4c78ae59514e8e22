//! `--canary` and its companions as a user types them: refused before any connection when they
//! cannot be followed, offered only by the commands that make a canary stage.

use assert_cmd::Command;

/// A project on two hosts no test reaches: every run here must stop before connecting.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::write(
        dir.path().join("config/deploy.yml"),
        "service: app\nimage: app\nservers: [192.0.2.1, 192.0.2.2]\n\
         registry:\n  server: registry.test\n  username: u\n  password: p\n",
    )
    .expect("deploy.yml");
    dir
}

fn gantry(dir: &tempfile::TempDir, args: &[&str]) -> (i32, String) {
    let output = Command::cargo_bin("gantry")
        .expect("binary")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .env_remove("GANTRY_LOG")
        .args(args)
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn canary_flags_that_cannot_be_followed_stop_before_any_connection() {
    let dir = project();
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "-P", "--version", "v1"];
        args.extend(extra);
        gantry(&dir, &args)
    };
    let (code, text) = deploy(&["--canary", "192.0.2.9"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("--canary: 192.0.2.9 is not a host of any role"),
        "{text}"
    );
    let (code, text) = deploy(&["--canary-wait", "30s"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("need canary hosts"), "{text}");
    for malformed in [
        vec!["--canary", "0"],
        vec!["--canary", "150%"],
        vec!["--canary", "1", "--canary-wait", "soon"],
        vec!["--canary", "1", "--no-canary"],
    ] {
        let (code, text) = deploy(&malformed);
        assert_eq!(code, 64, "{malformed:?}: {text}");
    }
}

#[test]
fn only_apply_deploy_and_redeploy_offer_a_canary() {
    let dir = project();
    for command in ["apply", "deploy", "redeploy"] {
        let (_, help) = gantry(&dir, &[command, "--help"]);
        assert!(
            help.contains("--canary-check <COMMAND>"),
            "{command}: {help}"
        );
    }
    for command in ["rollback", "setup", "plan"] {
        let (_, help) = gantry(&dir, &[command, "--help"]);
        assert!(!help.contains("--canary"), "{command}: {help}");
    }
}
