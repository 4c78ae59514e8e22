//! What `gantry apply` shows while it works, on the test bed: on a terminal, one live bar per
//! host above the finished-action lines, a slow pull's layers and bytes on its bar; without one,
//! plain lines and no escape codes; colour as `--color` and `NO_COLOR` say.

use std::path::Path;
use std::process::{Command, Stdio};

use gantry_testsupport::gantry;
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Fault, Testbed};

const SERVICE: &str = "gantry-progress";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gantry"))
}

/// Runs gantry with `args` under a pseudo-terminal (`script`), as in a user's shell, and
/// returns everything the terminal received.
fn under_terminal(project: &KamalProject, args: &[&str]) -> String {
    under_terminal_with(project, args, &[])
}

/// [`under_terminal`] with `env` added to gantry's environment.
fn under_terminal_with(project: &KamalProject, args: &[&str], env: &[(&str, &str)]) -> String {
    let command_line = std::iter::once(bin().display().to_string())
        .chain(args.iter().map(|arg| arg.to_string()))
        .map(|word| shlex::try_quote(&word).expect("quotable").into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let output = Command::new("script")
        .args(["-qec", &command_line, "/dev/null"])
        .current_dir(project.dir())
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "160")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("running script(1)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "gantry {args:?} failed:\n{text}");
    text
}

#[test]
fn apply_draws_a_bar_per_host_on_a_terminal_and_plain_lines_without_one() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let versions = testbed.push_versions(SERVICE, &["one", "two"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    let project = KamalProject::create(&testbed, app);

    let shown = under_terminal(&project, &["apply", "-y", "--version", &versions[0]]);
    for host in &hosts {
        // The bar of each host: its name, a bar, and actions done of its total.
        let bar = shown
            .lines()
            .flat_map(|line| line.split('\r'))
            .find(|part| part.contains(&format!("{host} [")) && part.contains("] "))
            .unwrap_or_else(|| panic!("no bar for {host} in:\n{shown}"));
        assert!(bar.contains('/'), "{bar}");
    }
    assert!(shown.contains("\u{1b}["), "a terminal gets cursor control");
    assert!(shown.contains("Apply finished in"), "{shown}");

    let plain = gantry::run(
        bin(),
        project.dir(),
        &["apply", "-y", "--version", &versions[1]],
    );
    plain.assert_code(0);
    let everything = format!("{}{}", plain.stdout, plain.stderr);
    assert!(!everything.contains('\u{1b}'), "{everything}");
    assert!(!everything.contains("] "), "no bars: {everything}");
    for host in &hosts {
        assert!(
            plain
                .stderr
                .lines()
                .any(|line| line.starts_with(host.as_str())),
            "a line per finished action of {host}: {}",
            plain.stderr
        );
    }
}

/// Host `number` throttled ([`Fault::Throttle`]) until this is dropped, even by a failed
/// assertion: the next test finds the host at full speed.
struct Throttled<'a> {
    testbed: &'a Testbed,
    number: usize,
}

impl<'a> Throttled<'a> {
    fn new(testbed: &'a Testbed, number: usize) -> Self {
        testbed.inject(Fault::Throttle, number);
        Throttled { testbed, number }
    }
}

impl Drop for Throttled<'_> {
    fn drop(&mut self) {
        self.testbed.inject(Fault::Unthrottle, self.number);
    }
}

/// A pull that takes seconds (3 MB through a 4 Mbit/s link) shows on its host's bar as layers
/// and megabytes; with `--json` it is a stream of `pull_progress` events with the figures.
#[test]
fn a_slow_pull_shows_its_layers_and_bytes() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(1).cloned().collect();
    let on_terminal = testbed.push_version_with_ballast(SERVICE, "ballast", 3_000_000);
    let as_json = testbed.push_version_with_ballast(SERVICE, "ballast-json", 3_000_000);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    let project = KamalProject::create(&testbed, app);
    let _throttled = Throttled::new(&testbed, 1);

    let shown = under_terminal(&project, &["apply", "-y", "--version", &on_terminal]);
    let bar = shown
        .lines()
        .flat_map(|line| line.split('\r'))
        .find(|part| {
            part.contains(&format!("{} [", hosts[0]))
                && part.contains(" layers, ")
                && part.contains(" MB] pull")
        })
        .unwrap_or_else(|| panic!("no pull progress on the bar of {}:\n{shown}", hosts[0]));
    assert!(bar.contains(" of "), "{bar}");

    let run = gantry::run(
        bin(),
        project.dir(),
        &["apply", "-y", "--json", "--version", &as_json],
    );
    run.assert_code(0);
    let pulls: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["event"] == "pull_progress")
        .collect();
    assert!(!pulls.is_empty(), "no pull_progress event:\n{}", run.stdout);
    let figure = |event: &serde_json::Value, name: &str| {
        event["progress"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no {name} in {event}"))
    };
    for event in &pulls {
        assert_eq!(event["action"]["kind"], "pull_image", "{event}");
        assert!(
            figure(event, "layers_done") <= figure(event, "layers"),
            "{event}"
        );
        assert!(
            figure(event, "bytes_done") <= figure(event, "bytes"),
            "{event}"
        );
    }
    assert!(
        pulls
            .iter()
            .any(|event| figure(event, "bytes") >= 3_000_000),
        "the ballast layer's size was announced: {pulls:#?}"
    );
    assert!(!run.stdout.contains('\u{1b}') && !run.stderr.contains('\u{1b}'));
}

/// An SGR colour sequence (`ESC [ 3x m`, `ESC [ 1 m`), not cursor movement.
fn has_colour(text: &str) -> bool {
    [
        "\u{1b}[31m",
        "\u{1b}[32m",
        "\u{1b}[33m",
        "\u{1b}[1m",
        "\u{1b}[1;",
    ]
    .iter()
    .any(|code| text.contains(code))
}

#[test]
fn plan_colours_as_color_and_no_color_say() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(1).cloned().collect();
    let versions = testbed.push_versions(SERVICE, &["colour"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    let project = KamalProject::create(&testbed, app);
    let plan = ["plan", "--version", versions[0].as_str()];

    let coloured = under_terminal(&project, &plan);
    assert!(
        has_colour(&coloured),
        "a terminal gets colour:\n{coloured:?}"
    );
    let no_color = under_terminal_with(&project, &plan, &[("NO_COLOR", "1")]);
    assert!(!has_colour(&no_color), "NO_COLOR:\n{no_color:?}");
    assert!(no_color.contains("Plan: "), "{no_color}");
    let mut never = plan.to_vec();
    never.extend(["--color", "never"]);
    let never = under_terminal(&project, &never);
    assert!(!has_colour(&never), "--color never:\n{never:?}");

    let mut always = plan.to_vec();
    always.extend(["--color", "always"]);
    let piped = gantry::run(bin(), project.dir(), &always);
    piped.assert_code(0);
    assert!(
        has_colour(&piped.stdout),
        "--color always in a pipe:\n{:?}",
        piped.stdout
    );
    let piped = gantry::run(bin(), project.dir(), &plan);
    assert!(!piped.stdout.contains('\u{1b}'), "{:?}", piped.stdout);
}

/// A host that does not answer is named while `plan` waits for it: a plain line without a
/// terminal, after the first second; hosts that answer at once are planned as usual.
#[test]
fn plan_names_a_host_it_is_still_reading() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let versions = testbed.push_versions(SERVICE, &["reading"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    let project = KamalProject::create(&testbed, app);

    let quick = gantry::run(bin(), project.dir(), &["plan", "--version", &versions[0]]);
    quick.assert_code(0);
    assert!(!quick.stderr.contains("reading "), "{}", quick.stderr);

    testbed.inject(Fault::Cut, 1);
    let slow = gantry::run(bin(), project.dir(), &["plan", "--version", &versions[0]]);
    testbed.inject(Fault::Heal, 1);
    slow.assert_code(1);
    assert!(
        slow.stderr.contains(&format!("reading {} ...\n", hosts[1])),
        "{}",
        slow.stderr
    );
    assert_eq!(
        slow.stderr
            .matches(&format!("reading {} ...", hosts[1]))
            .count(),
        1
    );
    assert!(!slow.stderr.contains('\u{1b}'), "{:?}", slow.stderr);
    assert!(slow.stdout.contains("Plan: "), "{}", slow.stdout);
}
