//! Help that fits each command, as a user of the binary reads it: only the flags a command
//! uses, the environment variables that change behaviour, no pointers to files the binary does
//! not ship, a version that names the commit, and the nearest flag for a mistyped one.

use std::process::Command;

fn gantry(args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_gantry"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs gantry");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn help(command: &[&str]) -> String {
    let mut args = command.to_vec();
    args.push("--help");
    let (code, out, err) = gantry(&args);
    assert_eq!(code, Some(0), "{args:?}: {err}");
    out
}

#[test]
fn help_lists_the_environment_variables_that_change_behaviour() {
    let text = help(&[]);
    let environment = text
        .split("Environment:")
        .nth(1)
        .expect("an Environment section");
    for variable in [
        "VERSION",
        "GANTRY_SECRET_COMMANDS",
        "GANTRY_LOG",
        "GANTRY_STALE_LOCK_SECONDS",
        "SSH_AUTH_SOCK",
        "XDG_STATE_HOME",
        "NO_COLOR",
    ] {
        assert!(environment.contains(variable), "{variable}:\n{text}");
    }
    // Each variable's text fits an 80-column terminal: clap wraps a longer line back to the
    // margin, under the variable names.
    for line in environment.lines() {
        assert!(
            line.chars().count() <= 80,
            "{line:?} is too long for 80 columns"
        );
    }
}

#[test]
fn no_help_points_to_the_repositorys_spec_files() {
    let top = help(&[]);
    let commands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("Options:").next())
        .expect("commands")
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect();
    assert!(commands.len() > 10, "{top}");
    for command in commands {
        let text = help(&[command.as_str()]);
        assert!(!text.contains("specs/"), "`{command} --help`:\n{text}");
    }
}

#[test]
fn commands_that_use_no_parallelism_do_not_list_it() {
    for command in [&["details"][..], &["prune"], &["lock"], &["lock", "status"]] {
        let text = help(command);
        assert!(!text.contains("--parallelism"), "{command:?}:\n{text}");
    }
    // Still accepted, as Kamal accepts its global flags on every command.
    let (code, _, err) = gantry(&["details", "--version", "v1", "-c", "/nonexistent.yml"]);
    assert_ne!(code, Some(64), "{err}");
    for command in ["plan", "apply", "deploy"] {
        assert!(help(&[command]).contains("--version"), "{command}");
    }
}

#[test]
fn rollback_takes_the_version_one_way() {
    let text = help(&["rollback"]);
    assert!(text.contains("[VERSION]"), "{text}");
    let (code, _, err) = gantry(&["rollback", "--version", "v1", "-c", "/nonexistent.yml"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("gantry rollback v1"), "{err}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    // `--version` is Kamal's global option (the app version to work on): gantry's own
    // version is the `version` command, as `kamal version`.
    let (code, out, _) = gantry(&["version"]);
    assert_eq!(code, Some(0));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string());
    let line = out.trim();
    assert!(line.starts_with("gantry 0."), "{line}");
    match head {
        Some(head) => assert!(
            line.contains(&format!("(commit {head}")),
            "{line} vs {head}"
        ),
        None => assert!(line.contains("(commit unknown)"), "{line}"),
    }
}

/// A mistyped flag is answered with the flag the command has (clap's suggestions), and gantry
/// exits 64 as for any usage error (specs/exit-codes.md), before reading any file.
#[test]
fn a_mistyped_flag_suggests_the_nearest_one() {
    for (args, nearest) in [
        (&["plan", "--detailed-exitcod"][..], "--detailed-exitcode"),
        (&["apply", "--paralelism", "3"][..], "--parallelism"),
        (&["drift", "--jsn"][..], "--json"),
    ] {
        let (code, _, err) = gantry(args);
        assert_eq!(code, Some(64), "{args:?}: {err}");
        assert!(
            err.contains(&format!("a similar argument exists: '{nearest}'")),
            "{args:?}: {err}"
        );
    }
}
