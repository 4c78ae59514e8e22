use std::collections::BTreeMap;

use super::substitute::expand;
use super::*;
use crate::config::{LoadOptions, load_with_env};

fn expand_plain(raw: &str, known: &[(&str, &str)]) -> String {
    let known: BTreeMap<String, Secret> = known
        .iter()
        .map(|(key, value)| (key.to_string(), Secret::new(*value)))
        .collect();
    let env = |name: &str| (name == "FROM_ENV").then(|| "env-value".to_string());
    expand(raw, &known, &env, &mut |script| {
        Ok::<_, ()>(format!("<{script}>"))
    })
    .expect("expands")
}

#[test]
fn variables_read_earlier_keys_then_the_environment() {
    assert_eq!(
        expand_plain("${A}-$A-$FROM_ENV-$NOPE.", &[("A", "a")]),
        "a-a-env-value-."
    );
    assert_eq!(
        expand_plain("\\$A costs $5 and ${unclosed", &[("A", "a")]),
        "$A costs  and ${unclosed"
    );
}

#[test]
fn commands_get_their_script_as_written_and_their_output_is_not_expanded() {
    assert_eq!(
        expand_plain("x$(op read $A)y", &[("A", "vault/item")]),
        "x<op read $A>y"
    );
    assert_eq!(expand_plain("$(echo (nested))", &[]), "<echo (nested)>");
    assert_eq!(expand_plain("$(echo \\)x)y", &[]), "<echo \\)x>y");
    assert_eq!(expand_plain("a$()b", &[]), "a$()b");
}

/// A value that looks like shell code, used inside a later `$(...)`, stays data: the shell
/// expands the variable from its environment instead of running a script it was pasted into.
#[test]
fn a_variable_inside_a_command_is_data_not_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("pwned");
    let text = format!(
        "A='vault/item; touch {0}'\nB=$(printf '%s' \"$A\")\nC=$(printf '%s' $A)\nD=$(echo `touch {0}`ok)\n",
        marker.display()
    );
    let secrets = parse_secrets_text(&text, &SecretsOptions::default()).expect("parses");
    let expected = format!("vault/item; touch {}", marker.display());
    assert_eq!(
        secrets.get("B").map(Secret::expose),
        Some(expected.as_str())
    );
    assert_eq!(
        secrets.get("C").map(Secret::expose),
        Some(expected.replace(' ', "").as_str()),
        "unquoted: split into words, as the shell does, and nothing more"
    );
    // The backticks were written by the user inside the command: they run, as in a shell.
    assert_eq!(secrets.get("D").map(Secret::expose), Some("ok"));
    std::fs::remove_file(&marker).expect("the user's own backticks ran");
    let text = format!(
        "A='$(touch {0})'\nB=$(echo \"$A\")\nC=\"x $A\"\n",
        marker.display()
    );
    let secrets = parse_secrets_text(&text, &SecretsOptions::default()).expect("parses");
    assert_eq!(
        secrets.get("B").map(Secret::expose),
        Some(format!("$(touch {})", marker.display()).as_str())
    );
    assert_eq!(
        secrets.get("C").map(Secret::expose),
        Some(format!("x $(touch {})", marker.display()).as_str())
    );
    assert!(!marker.exists(), "a value was run as a command");
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn deploy_yml(dir: &tempfile::TempDir, extra: &str) -> String {
    format!(
        "service: app\nimage: user/app\nregistry:\n  username: user\n  password: [REGISTRY_PASSWORD]\n\
         builder:\n  arch: amd64\nservers:\n  - 10.0.0.1\nsecrets_path: {}/.kamal/secrets\n{extra}",
        dir.path().display()
    )
}

fn load_in(dir: &tempfile::TempDir, destination: Option<&str>) -> Loaded {
    let options = LoadOptions {
        config_file: dir.path().join("config/deploy.yml"),
        destination: destination.map(str::to_string),
    };
    load_with_env(&options, &|_| None).expect("config loads")
}

#[test]
fn common_file_then_main_file_later_wins() {
    let dir = project(&[
        (
            ".kamal/secrets-common",
            "REGISTRY_PASSWORD=common\nDB_PASSWORD=common-db\n",
        ),
        (".kamal/secrets", "DB_PASSWORD=main-db\n"),
        (".kamal/secrets.staging", "DB_PASSWORD=staging-db\n"),
    ]);
    let yml = deploy_yml(&dir, "env:\n  secret: [DB_PASSWORD, ALIAS:DB_PASSWORD]\n");
    std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
    std::fs::write(dir.path().join("config/deploy.yml"), yml).expect("write");
    let loaded = load_in(&dir, None);
    let secrets = load_secrets(&loaded, &SecretsOptions::default()).expect("secrets load");
    assert_eq!(
        secrets.get("DB_PASSWORD").map(Secret::expose),
        Some("main-db")
    );
    assert_eq!(
        secrets.get("REGISTRY_PASSWORD").map(Secret::expose),
        Some("common")
    );
    let env = secrets
        .env_values(&loaded.config.roles[0].env)
        .expect("env");
    assert_eq!(env.get("ALIAS").map(Secret::expose), Some("main-db"));
    let auth = secrets
        .registry_auth(&loaded.config.registry)
        .expect("auth")
        .expect("some");
    assert_eq!(auth.0, "user");
    assert_eq!(auth.1.expose(), "common");

    std::fs::write(
        dir.path().join("config/deploy.staging.yml"),
        "env:\n  clear: {A: 1}\n",
    )
    .expect("write");
    let loaded = load_in(&dir, Some("staging"));
    let secrets = load_secrets(&loaded, &SecretsOptions::default()).expect("secrets load");
    assert_eq!(
        secrets.get("DB_PASSWORD").map(Secret::expose),
        Some("staging-db")
    );
}

#[test]
fn a_missing_secret_points_at_the_yaml_line_that_names_it() {
    let dir = project(&[]);
    let yml = deploy_yml(&dir, "env:\n  secret:\n    - DB_PASSWORD\n");
    std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
    std::fs::write(dir.path().join("config/deploy.yml"), &yml).expect("write");
    let loaded = load_in(&dir, None);
    let error = load_secrets(&loaded, &SecretsOptions::default()).expect_err("missing");
    let messages: Vec<String> = error.errors.iter().map(|e| e.message.clone()).collect();
    assert_eq!(
        messages,
        vec![
            "secret REGISTRY_PASSWORD is not set",
            "secret DB_PASSWORD is not set"
        ]
    );
    let location = error.errors[1].location.clone().expect("location");
    assert!(location.ends_with("config/deploy.yml:13:7"), "{location}");
}

#[test]
fn commands_run_unless_disabled_and_failures_hide_output() {
    let dir = project(&[(".kamal/secrets", "REGISTRY_PASSWORD=$(echo from-cmd)\n")]);
    let yml = deploy_yml(&dir, "");
    std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
    std::fs::write(dir.path().join("config/deploy.yml"), &yml).expect("write");
    let loaded = load_in(&dir, None);
    let secrets = load_secrets(
        &loaded,
        &SecretsOptions {
            allow_commands: true,
        },
    )
    .expect("runs");
    assert_eq!(
        secrets.get("REGISTRY_PASSWORD").map(Secret::expose),
        Some("from-cmd")
    );
    assert!(!format!("{secrets:?}").contains("from-cmd"));

    let error = load_secrets(
        &loaded,
        &SecretsOptions {
            allow_commands: false,
        },
    )
    .expect_err("refused");
    assert_eq!(error.errors[0].code, Code::SecretCommandsDisabled);
    assert!(
        error.errors[0]
            .help
            .as_deref()
            .unwrap_or_default()
            .contains("--no-secret-commands")
    );

    std::fs::write(
        dir.path().join(".kamal/secrets"),
        "REGISTRY_PASSWORD=$(echo leaked-value; exit 4)\n",
    )
    .expect("write");
    let error = load_secrets(&loaded, &SecretsOptions::default()).expect_err("fails");
    let rendered = format!("{:?} {}", error, error.errors[0].message);
    assert!(
        rendered.contains("REGISTRY_PASSWORD") && rendered.contains("status 4"),
        "{rendered}"
    );
    assert!(!rendered.contains("leaked-value"));
}

/// Kamal's documented pattern runs in-process: `fetch` once, then `extract` from its
/// shell-escaped JSON, with `$SECRETS` or `${SECRETS}`; no `kamal` (nor `sh`) is involved.
#[test]
fn kamal_secrets_fetch_and_extract_run_in_process() {
    let text = "SECRETS=$(kamal secrets fetch --adapter test --account acc --from 'My Vault' KEY1 'KE Y2')\n\
                KEY1=$(kamal secrets extract KEY1 $SECRETS)\n\
                KEY2=$(gantry secrets extract 'KE Y2' ${SECRETS})\n\
                PATHLESS=$(kamal secrets extract 'My Vault/KEY1' $SECRETS)\n";
    let secrets = parse_secrets_text(text, &SecretsOptions::default()).expect("loads");
    let value = |key: &str| secrets.get(key).map(Secret::expose).map(str::to_string);
    assert_eq!(value("KEY1").as_deref(), Some("1YEK/tluaV yM"));
    assert_eq!(value("KEY2").as_deref(), Some("2Y EK/tluaV yM"));
    assert_eq!(value("PATHLESS").as_deref(), Some("1YEK/tluaV yM"));
    assert_eq!(
        value("SECRETS").as_deref(),
        Some(
            r#"\{\"My\ Vault/KEY1\":\"1YEK/tluaV\ yM\",\"My\ Vault/KE\ Y2\":\"2Y\ EK/tluaV\ yM\"\}"#
        )
    );
}

#[test]
fn a_failing_secrets_command_names_the_key_and_what_failed() {
    let text = "A=$(kamal secrets extract MISSING '{\"B\":\"hunter2\"}')\n";
    let error = parse_secrets_text(text, &SecretsOptions::default()).expect_err("fails");
    let message = error.errors[0].to_string();
    assert!(
        message.contains("Could not find secret MISSING"),
        "{message}"
    );
    assert!(message.contains("for A"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

/// Variables go into a `kamal secrets` command's text as Ruby dotenv puts them there.
#[test]
fn variables_in_a_command_text_follow_dotenv() {
    let lookup = |name: &str| match name {
        "SECRETS" => "{\"a\":1}".to_string(),
        "lower" => "l".to_string(),
        _ => String::new(),
    };
    let substitute = |text: &str| substitute::substitute_variables(text, &lookup);
    assert_eq!(
        substitute("extract A $SECRETS ${SECRETS} '$SECRETS'"),
        "extract A {\"a\":1} {\"a\":1} '{\"a\":1}'"
    );
    assert_eq!(substitute("\\$SECRETS $lower $NOPE."), "$SECRETS l .");
    assert_eq!(substitute("$ ${} $(x) \\$(y) 5$"), "$ ${} $(x) \\$(y) 5$");
}
