//! `gantry completions` and `gantry man` as a user runs them: the bash script is valid bash
//! that completes gantry's commands (and a project's aliases), and `man -l` renders the page.

use std::io::Write;
use std::process::{Command, Stdio};

fn gantry(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs gantry");
    assert!(output.status.success(), "gantry {args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// Runs `program args` with `input` on stdin; returns (success, stdout, stderr).
fn with_input(program: &str, args: &[&str], input: &str) -> (bool, String, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("running {program}: {error}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writes");
    let output = child.wait_with_output().expect("waits");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_bash_script_parses_and_completes_commands_and_flags() {
    let script = gantry(&["completions", "bash"]);
    let (parsed, _, errors) = with_input("bash", &["-n"], &script);
    assert!(parsed, "bash -n: {errors}");

    // Loaded into bash, it completes `gantry pl` to `plan` and `gantry plan --det`.
    let probe = format!(
        "{script}\n\
         COMP_WORDS=(gantry pl); COMP_CWORD=1; _gantry gantry pl gantry; echo \"${{COMPREPLY[@]}}\"\n\
         COMP_WORDS=(gantry plan --det); COMP_CWORD=2; _gantry gantry --det plan; echo \"${{COMPREPLY[@]}}\"\n"
    );
    let (ran, completed, errors) = with_input("bash", &[], &probe);
    assert!(ran, "{errors}");
    let lines: Vec<&str> = completed.lines().collect();
    assert_eq!(lines.first().copied(), Some("plan"), "{completed}");
    assert!(
        lines
            .get(1)
            .is_some_and(|line| line.contains("--detailed-exitcode")),
        "{completed}"
    );
}

/// Written for a project, the script also completes deploy.yml's aliases (`console`,
/// `staging_deploy`), and is still valid bash.
#[test]
fn the_bash_script_of_a_project_completes_its_aliases() {
    let deploy_yml = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/config/valid/17-hooks-aliases.yml"
    );
    let script = gantry(&["-c", deploy_yml, "completions", "bash"]);
    let (parsed, _, errors) = with_input("bash", &["-n"], &script);
    assert!(parsed, "bash -n: {errors}");
    let probe = format!(
        "{script}\n\
         COMP_WORDS=(gantry cons); COMP_CWORD=1; _gantry gantry cons gantry; echo \"${{COMPREPLY[@]}}\"\n\
         COMP_WORDS=(gantry stag); COMP_CWORD=1; _gantry gantry stag gantry; echo \"${{COMPREPLY[@]}}\"\n"
    );
    let (ran, completed, errors) = with_input("bash", &[], &probe);
    assert!(ran, "{errors}");
    assert_eq!(
        completed.lines().collect::<Vec<_>>(),
        ["console", "staging_deploy"],
        "{completed}"
    );
}

#[test]
fn every_shell_gets_a_script_and_an_unknown_shell_is_refused() {
    for shell in ["zsh", "fish", "powershell"] {
        assert!(
            gantry(&["completions", shell]).contains("rollback"),
            "{shell}"
        );
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(["completions", "tcsh"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(64), "{refused:?}");
}

#[test]
fn man_renders_the_page_with_every_command() {
    let page = gantry(&["man"]);
    let (rendered, text, errors) = with_input("man", &["-l", "-"], &page);
    assert!(rendered, "man -l: {errors}");
    assert!(!errors.contains("warning"), "{errors}");
    for expected in [
        "NAME",
        "SYNOPSIS",
        "gantry",
        "plan",
        "apply",
        "rollback",
        "completions",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
}
