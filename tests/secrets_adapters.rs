//! `kamal secrets` in secrets files, per password-manager adapter, against the real Kamal 2.11.
//!
//! Each test writes a Kamal project whose `.kamal/secrets` fetches from one password manager
//! the way Kamal's docs do, puts a fake of that vendor's CLI first on `PATH`
//! (`tests/fixtures/secrets/bin/`: it records its argv and answers as the real CLI does), and
//! runs `kamal secrets print` and `gantry secrets print` on the same files. Both must print the
//! same lines and make the same vendor calls, with the same arguments, in the same order.
//! The fakes' values hold spaces, quotes, `=`, `#`, parentheses, a backslash and non-ASCII text.
//! Kamal is run with a `PATH` on which `kamal` stays reachable, gantry with one on which it is
//! not, so gantry never hands a `kamal` command to a shell.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const DEPLOY_YML: &str = "service: app\nimage: example/app\nservers:\n  - 192.0.2.10\nregistry:\n  username: user\n  password: not-secret\nbuilder:\n  arch: amd64\n";

fn fake_bin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets/bin")
}

/// A project with `config/deploy.yml` and the given secrets files.
fn project(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("config")).expect("config dir");
    std::fs::create_dir_all(dir.path().join(".kamal")).expect(".kamal dir");
    std::fs::write(dir.path().join("config/deploy.yml"), DEPLOY_YML).expect("deploy.yml");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("secrets file");
    }
    dir
}

/// A `PATH` with the fakes first, then the system's directories, then `extra`.
fn path_with_fakes(extra: Option<&Path>) -> String {
    let mut dirs = vec![fake_bin().display().to_string()];
    // python3 for the fakes (wherever this machine keeps it), sh and coreutils.
    let system = std::env::var("PATH").unwrap_or_default();
    for dir in system.split(':') {
        if !Path::new(dir).join("kamal").exists() {
            dirs.push(dir.to_string());
        }
    }
    if let Some(extra) = extra {
        dirs.push(extra.display().to_string());
    }
    dirs.join(":")
}

/// The directory that holds the `kamal` program.
fn kamal_dir() -> PathBuf {
    let system = std::env::var("PATH").unwrap_or_default();
    system
        .split(':')
        .map(PathBuf::from)
        .find(|dir| dir.join("kamal").exists())
        .expect("Kamal 2.11 is installed (`kamal` on PATH), as .ci/run installs it")
}

struct Run {
    output: Output,
    /// The vendor calls, one JSON line each.
    calls: Vec<String>,
}

fn run(
    program: &Path,
    args: &[&str],
    dir: &Path,
    log_name: &str,
    path: &str,
    env: &[(&str, &str)],
) -> Run {
    let log = dir.join(log_name);
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("FAKE_VENDOR_LOG", &log)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_COLOR", "1")
        .env_remove("DOPPLER_TOKEN")
        .env_remove("BWS_ACCESS_TOKEN")
        .env_remove("GANTRY_LOG");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("runs");
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    Run { output, calls }
}

/// Runs the real Kamal in `dir` with the fakes first on `PATH` (and `kamal` reachable).
fn run_kamal(args: &[&str], dir: &Path, log_name: &str, env: &[(&str, &str)]) -> Run {
    let path = path_with_fakes(Some(&kamal_dir()));
    run(&kamal_dir().join("kamal"), args, dir, log_name, &path, env)
}

/// Runs gantry in `dir` with the fakes first on `PATH` and no `kamal` on it.
fn run_gantry(args: &[&str], dir: &Path, log_name: &str, env: &[(&str, &str)]) -> Run {
    let gantry = Path::new(env!("CARGO_BIN_EXE_gantry"));
    run(gantry, args, dir, log_name, &path_with_fakes(None), env)
}

/// Runs Kamal and gantry on `files` with the fake CLIs; asserts both succeed with the same
/// output and the same vendor calls; returns gantry's output and calls.
fn same_as_kamal(files: &[(&str, &str)], env: &[(&str, &str)]) -> (String, Vec<String>) {
    same_as_kamal_with(&["secrets", "print"], files, env)
}

/// [`same_as_kamal`] with other arguments.
fn same_as_kamal_with(
    args: &[&str],
    files: &[(&str, &str)],
    env: &[(&str, &str)],
) -> (String, Vec<String>) {
    let dir = project(files);
    let kamal_run = run_kamal(args, dir.path(), "kamal.log", env);
    let gantry_run = run_gantry(args, dir.path(), "gantry.log", env);
    let text = |output: &Output| {
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (kamal_out, kamal_err) = text(&kamal_run.output);
    let (gantry_out, gantry_err) = text(&gantry_run.output);
    assert!(
        kamal_run.output.status.success(),
        "kamal failed:\n{kamal_out}\n{kamal_err}"
    );
    assert!(
        gantry_run.output.status.success(),
        "gantry failed:\n{gantry_out}\n{gantry_err}"
    );
    assert_eq!(gantry_out, kamal_out, "printed secrets differ");
    assert_eq!(gantry_run.calls, kamal_run.calls, "vendor calls differ");
    (gantry_out, gantry_run.calls)
}

/// The value the fakes use to test quoting (see `_fake_vendor.py`).
const TRICKY: &str = "pa ss \"q\" 'x' =eq #hash ünï€ 🔑 \\back, (par) a;b|c&d";

fn assert_line(out: &str, line: &str) {
    assert!(
        out.lines().any(|l| l == line),
        "no line {line:?} in:\n{out}"
    );
}

#[test]
fn one_password() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter 1password --account my-account --from \"Private/My App\" password db/DB_URL \"API KEY\")
APP_PASSWORD=$(kamal secrets extract \"My App\" $SECRETS)
DB_URL=$(kamal secrets extract DB_URL $SECRETS)
API_KEY=$(kamal secrets extract \"API KEY\" ${SECRETS})
OTHER=$(kamal secrets fetch --adapter 1password --account my-account --from op://Private/Other)
TOKEN=$(kamal secrets extract token $OTHER)
";
    let (out, calls) = same_as_kamal(&[(".kamal/secrets", secrets)], &[]);
    assert_line(&out, "APP_PASSWORD=app-password");
    assert_line(&out, &format!("API_KEY={TRICKY}"));
    assert_line(&out, "TOKEN=t=1");
    assert!(
        calls
            .iter()
            .any(|call| call.contains("label=password,label=db.DB_URL,label=API KEY"))
    );
}

#[test]
fn one_password_signs_in_first() {
    let secrets = "SECRETS=$(kamal secrets fetch --adapter 1password --account my-account --from Private/Other token)\nTOKEN=$(kamal secrets extract token $SECRETS)\n";
    let (out, calls) = same_as_kamal(
        &[(".kamal/secrets", secrets)],
        &[("FAKE_VENDOR_STATE", "signed-out")],
    );
    assert_line(&out, "TOKEN=t=1");
    assert!(
        calls.iter().any(|call| call.contains("\"signin\"")),
        "{calls:?}"
    );
}

#[test]
fn bitwarden_logs_in_unlocks_and_passes_the_session() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter bitwarden --account me@example.com \"app login\" api/KEY_ONE api/KEY_TWO)
PASSWORD=$(kamal secrets extract \"app login\" $SECRETS)
KEY_ONE=$(kamal secrets extract KEY_ONE $SECRETS)
KEY_TWO=$(kamal secrets extract api/KEY_TWO $SECRETS)
ALL_FIELDS=$(kamal secrets fetch --adapter bitwarden --account me@example.com api)
";
    let (out, calls) = same_as_kamal(
        &[(".kamal/secrets", secrets)],
        &[("FAKE_VENDOR_STATE", "unauthenticated")],
    );
    assert_line(&out, &format!("PASSWORD={TRICKY}"));
    assert_line(&out, "KEY_TWO=two = 2");
    assert!(
        calls.iter().any(|call| call.contains("fake-bw-session")),
        "{calls:?}"
    );
}

#[test]
fn bitwarden_secrets_manager() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter bitwarden-sm 11111111-aaaa 22222222-bbbb)
DB_PASSWORD=$(kamal secrets extract DB_PASSWORD $SECRETS)
PROJECT=$(kamal secrets fetch --adapter bitwarden-sm proj-1/all)
EVERYTHING=$(kamal secrets fetch --adapter bitwarden-sm all)
OTHER=$(kamal secrets extract OTHER $EVERYTHING)
";
    let (out, _) = same_as_kamal(
        &[(".kamal/secrets", secrets)],
        &[("BWS_ACCESS_TOKEN", "0.fake-token")],
    );
    assert_line(&out, &format!("DB_PASSWORD={TRICKY}"));
    assert_line(&out, "OTHER=other");
}

#[test]
fn last_pass_logs_in_when_needed() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter lastpass --account me@example.com --from Shared-Deploy DB_PASSWORD API)
DB_PASSWORD=$(kamal secrets extract DB_PASSWORD $SECRETS)
API=$(kamal secrets extract API $SECRETS)
TOP=$(kamal secrets fetch --adapter lastpass --account me@example.com TOP)
";
    let (out, calls) = same_as_kamal(
        &[(".kamal/secrets", secrets)],
        &[("FAKE_VENDOR_STATE", "signed-out")],
    );
    assert_line(&out, &format!("DB_PASSWORD={TRICKY}"));
    assert_line(&out, "API=api ü");
    assert!(
        calls.iter().any(|call| call.contains("\"login\"")),
        "{calls:?}"
    );
}

#[test]
fn aws_secrets_manager() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter aws_secrets_manager --account prod-profile myapp/prod plain-token)
DB_PASSWORD=$(kamal secrets extract DB_PASSWORD $SECRETS)
API_KEY=$(kamal secrets extract \"API KEY\" $SECRETS)
TOKEN=$(kamal secrets extract plain-token $SECRETS)
NO_PROFILE=$(kamal secrets fetch --adapter aws_secrets_manager --from myapp prod)
";
    let (out, _) = same_as_kamal(&[(".kamal/secrets", secrets)], &[]);
    assert_line(&out, &format!("DB_PASSWORD={TRICKY}"));
    assert_line(&out, &format!("TOKEN=plain {TRICKY}"));
}

#[test]
fn gcp_secret_manager_logs_in_when_needed() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter gcp --account default db-password my-project/api-key/3)
DB_PASSWORD=$(kamal secrets extract db-password $SECRETS)
API_KEY=$(kamal secrets extract api-key $SECRETS)
AS=$(kamal secrets fetch --adapter gcp_secret_manager --account 'me@example.com|deployer@p.iam.gserviceaccount.com' --from my-project api-key)
";
    let (out, calls) = same_as_kamal(
        &[(".kamal/secrets", secrets)],
        &[("FAKE_VENDOR_STATE", "signed-out")],
    );
    assert_line(&out, &format!("DB_PASSWORD={TRICKY}"));
    assert_line(&out, "API_KEY=api ü v3");
    assert!(
        calls.iter().any(|call| call
            .contains("--impersonate-service-account=deployer@p.iam.gserviceaccount.com")),
        "{calls:?}"
    );
}

#[test]
fn doppler_logs_in_when_needed() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter doppler --from my-app/prd DB_PASSWORD API_KEY PORT)
DB_PASSWORD=$(kamal secrets extract DB_PASSWORD $SECRETS)
API_KEY=$(kamal secrets extract API_KEY $SECRETS)
";
    let (out, _) = same_as_kamal(
        &[(".kamal/secrets", secrets)],
        &[("FAKE_VENDOR_STATE", "signed-out")],
    );
    assert_line(&out, &format!("DB_PASSWORD={TRICKY}"));
}

#[test]
fn enpass() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter enpass --from /vaults/primary FooBar/DB_PASSWORD Single)
DB_PASSWORD=$(kamal secrets extract DB_PASSWORD $SECRETS)
SINGLE=$(kamal secrets extract Single $SECRETS)
ALL=$(kamal secrets fetch --adapter enpass --from /vaults/primary FooBar)
";
    let (out, _) = same_as_kamal(&[(".kamal/secrets", secrets)], &[]);
    assert_line(&out, &format!("DB_PASSWORD={TRICKY}"));
    assert_line(&out, "SINGLE=single=1");
}

#[test]
fn passbolt_finds_folders_then_resources() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter passbolt ROOT_SECRET Deploy/DB_PASSWORD Deploy/Prod/API_KEY)
ROOT=$(kamal secrets extract ROOT_SECRET $SECRETS)
DB_PASSWORD=$(kamal secrets extract DB_PASSWORD $SECRETS)
API_KEY=$(kamal secrets extract API_KEY $SECRETS)
";
    let (out, calls) = same_as_kamal(&[(".kamal/secrets", secrets)], &[]);
    assert_line(&out, &format!("DB_PASSWORD={TRICKY}"));
    assert_line(&out, "API_KEY=api=1");
    assert!(
        calls
            .iter()
            .any(|call| call.contains("FolderParentID == \\\"f-1\\\"")),
        "{calls:?}"
    );
}

/// Kamal's own `test` adapter, the split rules of the inline command (quotes, `--opt=value`,
/// extra blanks, `-a`), a later file overriding a key in place, and Kamal's order of keys.
/// (Kamal reads each file on its own, so `$SECRETS` must be set in the file that uses it.)
#[test]
fn test_adapter_and_the_inline_command_rules() {
    let common = "SHARED=common\nFIRST=1\n";
    let main = "\
SECRETS=$(kamal  secrets fetch -a test --account=acc --from \"My Vault\" 'KEY ONE' LPARENxRPAREN K=2)
ONE=$(kamal secrets extract 'KEY ONE' $SECRETS)
PAREN=$(kamal secrets extract LPARENxRPAREN ${SECRETS})
EQ=$(kamal secrets extract K=2 $SECRETS)
SHARED=main
PLAIN=\"quoted # not a comment\"
";
    let (out, _) = same_as_kamal(
        &[(".kamal/secrets-common", common), (".kamal/secrets", main)],
        &[],
    );
    assert_line(&out, "ONE=ENO YEK/tluaV yM");
    assert_line(&out, "PAREN=)x(/tluaV yM");
    assert!(out.starts_with("SHARED=main\n"), "{out}");
}

/// With `-d`, the destination's file replaces the plain one, after `-common`.
#[test]
fn a_destination_reads_its_own_secrets_file() {
    let staging = "\
SECRETS=$(kamal secrets fetch --adapter test --account acc --from staging DB)
DB=$(kamal secrets extract DB $SECRETS)
COMMON=overridden
";
    let (out, _) = same_as_kamal_with(
        &["secrets", "print", "-d", "staging"],
        &[
            ("config/deploy.staging.yml", "servers:\n  - 192.0.2.11\n"),
            (".kamal/secrets-common", "COMMON=common\nFIRST=1\n"),
            (".kamal/secrets", "PLAIN=not read with a destination\n"),
            (".kamal/secrets.staging", staging),
        ],
        &[],
    );
    assert_line(&out, "DB=BD/gnigats");
    assert!(out.starts_with("COMMON=overridden\nFIRST=1\n"), "{out}");
    assert!(!out.contains("PLAIN"), "{out}");
}

/// The pattern from Kamal's docs works with no `kamal` anywhere on PATH.
#[test]
fn the_documented_pattern_needs_no_kamal() {
    let secrets = "\
SECRETS=$(kamal secrets fetch --adapter 1password --account my-account --from \"Private/My App\" password \"API KEY\")
KEY1=$(kamal secrets extract \"My App\" $SECRETS)
KEY2=$(kamal secrets extract \"API KEY\" ${SECRETS})
";
    let dir = project(&[(".kamal/secrets", secrets)]);
    let path = path_with_fakes(None);
    assert!(
        !path
            .split(':')
            .any(|dir| Path::new(dir).join("kamal").exists()),
        "kamal is still on {path}"
    );
    let gantry = run_gantry(&["secrets", "print"], dir.path(), "gantry.log", &[]);
    let out = String::from_utf8_lossy(&gantry.output.stdout);
    assert!(
        gantry.output.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&gantry.output.stderr)
    );
    assert_line(&out, "KEY1=app-password");
    assert_line(&out, &format!("KEY2={TRICKY}"));
}

/// `gantry secrets fetch` and `extract` print what Kamal prints.
#[test]
fn fetch_and_extract_print_what_kamal_prints() {
    let dir = project(&[]);
    let same_stdout = |args: &[&str]| {
        let kamal_run = run_kamal(args, dir.path(), "kamal.log", &[]);
        let gantry_run = run_gantry(args, dir.path(), "gantry.log", &[]);
        assert!(gantry_run.output.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&gantry_run.output.stdout).into_owned();
        assert_eq!(
            stdout,
            String::from_utf8_lossy(&kamal_run.output.stdout),
            "{args:?}"
        );
        stdout
    };
    let fetch = [
        "secrets",
        "fetch",
        "--adapter",
        "aws_secrets_manager",
        "myapp/prod",
        "plain-token",
    ];
    let json = same_stdout(&fetch);
    for name in ["DB_PASSWORD", "PORT", "plain-token"] {
        same_stdout(&["secrets", "extract", name, json.trim()]);
    }
}

/// A failing fetch names the adapter and what failed, and never a value.
#[test]
fn a_failing_fetch_names_the_adapter_not_the_values() {
    let secrets =
        "SECRETS=$(kamal secrets fetch --adapter aws_secrets_manager myapp/prod missing/one)\n";
    let dir = project(&[(".kamal/secrets", secrets)]);
    let gantry = run_gantry(&["secrets", "print"], dir.path(), "gantry.log", &[]);
    assert!(!gantry.output.status.success());
    let stderr = String::from_utf8_lossy(&gantry.output.stderr);
    assert!(stderr.contains("aws_secrets_manager adapter"), "{stderr}");
    assert!(stderr.contains("missing/one"), "{stderr}");
    assert!(!stderr.contains("pa ss"), "{stderr}");
}
