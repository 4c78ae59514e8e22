//! `kamal secrets fetch | extract | print`: parsed as Kamal's command line parses them, and run
//! without Kamal, both from a secrets file (`$(kamal secrets ...)`) and as `gantry secrets`.
//!
//! In a secrets file Kamal does not hand `$(kamal secrets ...)` to a shell: it substitutes the
//! file's variables into the command text, splits it with Ruby's `Shellwords`, and runs its own
//! command with `--inline`, which returns `fetch`'s JSON shell-escaped (so that a later
//! `$(kamal secrets extract KEY $SECRETS)` splits it back into one word) and `extract`'s value
//! as it is. [`inline_command`] recognises such a command (`gantry secrets` too) and
//! [`run_inline`] gives the same text, so these files work with neither Ruby nor Kamal.

use serde_json::Value;

use super::adapters::members::Members;
use super::adapters::{self, Adapter, AdapterError, FetchRequest, VendorRunner};
use super::shell_words::{self, ShellWordsError};

/// A `secrets` subcommand with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretsCommand {
    /// `fetch --adapter NAME [--account A] [--from F] [SECRETS...]`
    Fetch {
        adapter: String,
        request: FetchRequest,
    },
    /// `extract NAME SECRETS`: one value out of `fetch`'s JSON.
    Extract { name: String, secrets: String },
    /// `print`: every secret of the files.
    Print,
}

/// Why a `kamal secrets` command gave no value. Never holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum KamalCommandError {
    #[error("cannot split the command into words: {0}")]
    Split(#[from] ShellWordsError),
    #[error("{0}")]
    Usage(String),
    #[error("Unknown secrets adapter: {0}")]
    UnknownAdapter(String),
    #[error("No value provided for required options '--account'")]
    AccountMissing,
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error("Could not find secret {0}")]
    NotFound(String),
    #[error("the secrets given to `extract` are not JSON")]
    NotJson,
    #[error("secret {0} is not a string, it cannot be a value in a secrets file")]
    NotText(String),
    #[error("`print` cannot be used inside a secrets file")]
    PrintInline,
}

/// The words of `command` after the program name when it is a `kamal secrets ...` (or
/// `gantry secrets ...`) command, with the variables already substituted into its text:
/// `None` for any other command, which goes to the shell.
pub fn inline_command(command: &str) -> Option<Result<Vec<String>, ShellWordsError>> {
    let trimmed = command.trim_start();
    let rest = trimmed
        .strip_prefix("kamal")
        .or_else(|| trimmed.strip_prefix("gantry"))?;
    let rest = rest.trim_start().strip_prefix("secrets")?;
    if !rest.starts_with(|c: char| c.is_whitespace()) {
        return None;
    }
    Some(shell_words::split(command).map(|words| words.into_iter().skip(1).collect()))
}

/// Runs the words after `kamal` as Kamal does for `$(kamal ...)` (with `--inline`): the text
/// that replaces the `$(...)`, one trailing newline removed.
pub fn run_inline(
    words: &[String],
    runner: &mut dyn VendorRunner,
) -> Result<String, KamalCommandError> {
    let Some((first, arguments)) = words.split_first() else {
        return Err(KamalCommandError::Usage("no command given".to_string()));
    };
    if first != "secrets" {
        return Err(KamalCommandError::Usage(format!(
            "only `kamal secrets` runs inside a secrets file, not `kamal {first}`"
        )));
    }
    let mut text = match parse(arguments)? {
        SecretsCommand::Fetch { adapter, request } => {
            shell_words::escape(&fetch_json(&adapter, &request, runner)?)
        }
        SecretsCommand::Extract { name, secrets } => match extract(&name, &secrets)? {
            Value::String(text) => text,
            _ => return Err(KamalCommandError::NotText(name)),
        },
        SecretsCommand::Print => return Err(KamalCommandError::PrintInline),
    };
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    } else if text.ends_with('\r') {
        text.pop();
    }
    Ok(text)
}

/// Runs `fetch` with the adapter named `adapter`: the JSON Kamal prints.
pub fn fetch_json(
    adapter: &str,
    request: &FetchRequest,
    runner: &mut dyn VendorRunner,
) -> Result<String, KamalCommandError> {
    let adapter = Adapter::lookup(adapter)
        .ok_or_else(|| KamalCommandError::UnknownAdapter(adapter.to_string()))?;
    if adapter.requires_account() && request.account.as_deref().is_none_or(is_blank) {
        return Err(KamalCommandError::AccountMissing);
    }
    Ok(adapters::fetch(adapter, request, runner)?.to_json())
}

/// The value named `name` in `fetch`'s JSON: the key itself, else the first key ending in
/// `/NAME`, as Kamal looks it up (a `null` or `false` value counts as absent).
pub fn extract(name: &str, secrets: &str) -> Result<Value, KamalCommandError> {
    let Members(members) = Members::parse(secrets).ok_or(KamalCommandError::NotJson)?;
    let exact = members
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
        .filter(|value| !matches!(value, Value::Null | Value::Bool(false)));
    let suffix = format!("/{name}");
    exact
        .or_else(|| {
            members
                .iter()
                .find(|(key, _)| key.ends_with(&suffix))
                .map(|(_, value)| value)
                .filter(|value| !value.is_null())
        })
        .cloned()
        .ok_or_else(|| KamalCommandError::NotFound(name.to_string()))
}

/// How Ruby's `puts` prints an extracted value: a string as it is, an array one element per
/// line, numbers and booleans as Ruby writes them; always ending in a newline.
pub fn puts_text(value: &Value) -> String {
    let mut out = String::new();
    puts_into(value, &mut out);
    out
}

fn puts_into(value: &Value, out: &mut String) {
    match value {
        Value::Array(elements) if elements.is_empty() => out.push('\n'),
        Value::Array(elements) => elements.iter().for_each(|element| puts_into(element, out)),
        other => {
            let text = match other {
                Value::String(text) => text.clone(),
                Value::Null => String::new(),
                Value::Number(number) => ruby_number(number),
                other => other.to_string(),
            };
            out.push_str(&text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}

/// A JSON number as Ruby's `to_s` writes it (a float always has a fraction: `1500.0`).
fn ruby_number(number: &serde_json::Number) -> String {
    match number.as_f64() {
        Some(float) if !number.is_i64() && !number.is_u64() => {
            if float.fract() == 0.0 && float.abs() < 1e16 {
                format!("{float:.1}")
            } else {
                float.to_string()
            }
        }
        _ => number.to_string(),
    }
}

/// Parses the words after `secrets` as Kamal's Thor command line does: options anywhere (an
/// unknown `--option` is a plain argument), `--` ends them, `--name value` or `--name=value`.
/// Kamal's global flags (`-v`, `-d staging`, ...) are accepted and have no effect here.
pub fn parse(arguments: &[String]) -> Result<SecretsCommand, KamalCommandError> {
    let Some((command, rest)) = arguments.split_first() else {
        return Err(KamalCommandError::Usage(
            "`secrets` needs a command: fetch, extract or print".to_string(),
        ));
    };
    let mut positional: Vec<String> = Vec::new();
    let mut adapter = None;
    let mut account = None;
    let mut from = None;
    let mut words = rest.iter();
    while let Some(word) = words.next() {
        if word == "--" {
            positional.extend(words.by_ref().cloned());
            break;
        }
        let (flag, inline_value) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with('-') => (flag, Some(value.to_string())),
            _ => (word.as_str(), None),
        };
        let slot = match (command.as_str(), flag) {
            ("fetch", "--adapter" | "-a") => Some(&mut adapter),
            ("fetch", "--account") => Some(&mut account),
            ("fetch", "--from") => Some(&mut from),
            (_, "--version" | "--hosts" | "-h" | "--roles" | "-r" | "--config-file" | "-c")
            | (_, "--destination" | "-d") => None,
            (
                _,
                "--inline" | "--no-inline" | "--verbose" | "-v" | "--quiet" | "-q" | "--primary"
                | "-p" | "--skip-hooks" | "-H",
            ) => continue,
            _ => {
                positional.push(word.clone());
                continue;
            }
        };
        let value = match inline_value {
            Some(value) => value,
            None => words.next().cloned().ok_or_else(|| {
                KamalCommandError::Usage(format!("No value provided for option '{flag}'"))
            })?,
        };
        if let Some(slot) = slot {
            *slot = Some(value);
        }
    }
    match command.as_str() {
        "fetch" => Ok(SecretsCommand::Fetch {
            adapter: adapter.ok_or_else(|| {
                KamalCommandError::Usage(
                    "No value provided for required options '--adapter'".to_string(),
                )
            })?,
            request: FetchRequest {
                secrets: positional,
                account,
                from,
            },
        }),
        "extract" => match <[String; 2]>::try_from(positional) {
            Ok([name, secrets]) => Ok(SecretsCommand::Extract { name, secrets }),
            Err(_) => Err(KamalCommandError::Usage(
                "`secrets extract` takes two arguments: NAME SECRETS".to_string(),
            )),
        },
        "print" => Ok(SecretsCommand::Print),
        other => Err(KamalCommandError::Usage(format!(
            "unknown `secrets` command `{other}`: fetch, extract or print"
        ))),
    }
}

fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secrets::adapters::{VendorCall, VendorOutput};

    struct NoVendor;
    impl VendorRunner for NoVendor {
        fn run(&mut self, call: &VendorCall) -> VendorOutput {
            panic!("no vendor CLI expected, got {}", call.program)
        }
    }

    fn words(text: &str) -> Vec<String> {
        inline_command(text)
            .expect("a secrets command")
            .expect("splits")
    }

    #[test]
    fn only_kamal_or_gantry_secrets_commands_run_inline() {
        assert_eq!(
            words("  kamal  secrets extract 'A B' x"),
            ["secrets", "extract", "A B", "x"]
        );
        assert_eq!(words("gantry secrets print"), ["secrets", "print"]);
        assert!(inline_command("kamal secrets").is_none());
        assert!(inline_command("op read op://x").is_none());
        assert!(inline_command("kamal app details").is_none());
    }

    #[test]
    fn fetch_then_extract_round_trips_through_shell_escaping() {
        let fetched = run_inline(
            &words("kamal secrets fetch --adapter test --account acc --from 'Va ult' 'K #1' K2"),
            &mut NoVendor,
        )
        .expect("fetches");
        assert_eq!(
            fetched,
            r#"\{\"Va\ ult/K\ \#1\":\"1\#\ K/tlu\ aV\",\"Va\ ult/K2\":\"2K/tlu\ aV\"\}"#
        );
        let line = format!("kamal secrets extract K2 {fetched}");
        assert_eq!(
            run_inline(&words(&line), &mut NoVendor).expect("extracts"),
            "2K/tlu aV"
        );
    }

    #[test]
    fn options_parse_as_thor_parses_them() {
        let parsed = parse(
            &[
                "fetch",
                "-a",
                "test",
                "--bogus",
                "x",
                "-v",
                "--from=V",
                "--account",
                "a",
                "--",
                "--z",
            ]
            .map(String::from),
        )
        .expect("parses");
        assert_eq!(
            parsed,
            SecretsCommand::Fetch {
                adapter: "test".to_string(),
                request: FetchRequest {
                    secrets: ["--bogus", "x", "--z"].map(String::from).to_vec(),
                    account: Some("a".to_string()),
                    from: Some("V".to_string()),
                },
            }
        );
        assert!(parse(&["fetch".to_string(), "--adapter".to_string()]).is_err());
        assert!(parse(&["extract".to_string(), "x".to_string()]).is_err());
    }

    #[test]
    fn extract_finds_the_key_or_a_key_ending_in_it() {
        assert_eq!(extract("a", r#"{"b/a":1}"#).expect("found"), Value::from(1));
        assert_eq!(
            extract("a", r#"{"a":false,"b/a":"x"}"#).expect("found"),
            Value::from("x")
        );
        assert!(matches!(
            extract("c", r#"{"a":"x"}"#),
            Err(KamalCommandError::NotFound(name)) if name == "c"
        ));
        assert_eq!(puts_text(&Value::from(1500.0)), "1500.0\n");
        assert_eq!(puts_text(&serde_json::json!([1, 2])), "1\n2\n");
        assert_eq!(puts_text(&Value::from("q\n")), "q\n");
    }

    #[test]
    fn unknown_adapters_and_missing_accounts_are_refused() {
        let request = FetchRequest::default();
        assert!(matches!(
            fetch_json("TEST", &request, &mut NoVendor),
            Err(KamalCommandError::UnknownAdapter(name)) if name == "TEST"
        ));
        assert!(matches!(
            fetch_json("test", &request, &mut NoVendor),
            Err(KamalCommandError::AccountMissing)
        ));
        assert_eq!(
            fetch_json(
                "test",
                &FetchRequest {
                    account: Some("a".into()),
                    ..request
                },
                &mut NoVendor
            )
            .expect("fetches"),
            "{}"
        );
    }
}
