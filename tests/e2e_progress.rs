//! What `gantry apply` shows while it works, on the test bed: on a terminal, one live bar per
//! host above the finished-action lines; without one, plain lines and no escape codes.

use std::path::Path;
use std::process::{Command, Stdio};

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-progress";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gantry"))
}

/// Runs gantry with `args` under a pseudo-terminal (`script`), as in a user's shell, and
/// returns everything the terminal received.
fn under_terminal(project: &KamalProject, args: &[&str]) -> String {
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
            .find(|part| part.contains(host.as_str()) && part.contains("] "))
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
