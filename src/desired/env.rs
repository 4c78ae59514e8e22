//! Environment values exactly as a Kamal-deployed container ends up with them.
//!
//! Kamal never hands values to Docker directly: clear values go through a shell command line
//! (`--env KEY="<dumped>"`) and secrets through an env file that Docker reads literally. Both
//! paths escape characters with Ruby's `String#dump`, and what the container finally sees differs
//! from the YAML value for a few characters (a newline becomes the two characters `\n`, a
//! backslash in a secret is doubled). gantry creates containers through the Engine API, so it
//! applies the same transformations itself: a container gantry creates has byte-for-byte the
//! environment Kamal would have given it, and a Kamal-deployed host reads back as "no changes".
//! See `specs/naming.md` for the table.

use std::collections::BTreeMap;

use crate::config::Env;
use crate::secret::Secret;

/// Looks secret values up by key; implemented by the loaded `.kamal/secrets`.
pub trait SecretValues {
    /// The value of one secret, `None` when no secrets file provides it.
    fn secret(&self, key: &str) -> Option<&Secret>;
}

impl SecretValues for BTreeMap<String, Secret> {
    fn secret(&self, key: &str) -> Option<&Secret> {
        self.get(key)
    }
}

impl SecretValues for crate::config::Secrets {
    fn secret(&self, key: &str) -> Option<&Secret> {
        self.get(key)
    }
}

/// A secret that an `env.secret` entry names but no secrets file provides.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("secret `{key}` (for env var {name}) is not set in any .kamal/secrets file")]
pub struct MissingSecret {
    pub name: String,
    pub key: String,
}

/// Escapes one ASCII character as Ruby's `String#dump` does, or returns `None` to keep it.
fn dump_escape(c: char, next: Option<char>) -> Option<String> {
    let escaped = match c {
        '\n' => "\\n".to_string(),
        '\t' => "\\t".to_string(),
        '\r' => "\\r".to_string(),
        '\x0c' => "\\f".to_string(),
        '\x0b' => "\\v".to_string(),
        '\x08' => "\\b".to_string(),
        '\x07' => "\\a".to_string(),
        '\x1b' => "\\e".to_string(),
        '#' if matches!(next, Some('{' | '$' | '@')) => "\\#".to_string(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!("\\x{:02X}", c as u32),
        _ => return None,
    };
    Some(escaped)
}

/// The value a container sees for a clear env var that Kamal passed as `--env KEY="<dump>"`:
/// the shell undoes `\"`, `\\`, `\$` and `` \` ``, and keeps every other escape as two characters.
pub fn clear_value_in_container(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii() {
            out.push(c);
            continue;
        }
        match dump_escape(c, chars.peek().copied()) {
            Some(escaped) => out.push_str(&escaped),
            None => out.push(c),
        }
    }
    out
}

/// A secret's line value in Kamal's env file (`Kamal::EnvFile`): `String#dump` without the
/// surrounding quotes, with `\"` and `\#` turned back. Docker reads env files literally, so this
/// is also the value the container sees.
pub fn env_file_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii() {
            out.push(c);
            continue;
        }
        match c {
            '\\' => out.push_str("\\\\"),
            '#' => out.push('#'),
            _ => match dump_escape(c, chars.peek().copied()) {
                Some(escaped) => out.push_str(&escaped),
                None => out.push(c),
            },
        }
    }
    out
}

/// Kamal's `escape_shell_value` (`Kamal::Utils`): each run of ASCII characters goes through
/// `String#dump` (surrounding quotes included), then backticks and every `$` not followed by a
/// `{...}` are escaped for the shell; runs of other characters are kept as they are. Kamal builds
/// `--log-opt`, `--env` and `--label` arguments with it, and prints them in `kamal config`.
pub fn escape_shell_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    let mut rest = value;
    while let Some(first) = rest.chars().next() {
        let ascii = first.is_ascii();
        let end = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii() != ascii)
            .map_or(rest.len(), |(index, _)| index);
        let (run, tail) = rest.split_at(end);
        if ascii {
            out.push_str(&escape_ascii_run(run));
        } else {
            out.push_str(run);
        }
        rest = tail;
    }
    out
}

/// One ASCII run of [`escape_shell_value`].
fn escape_ascii_run(run: &str) -> String {
    let mut dumped = String::with_capacity(run.len() + 2);
    dumped.push('"');
    let mut chars = run.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => dumped.push_str("\\\""),
            '\\' => dumped.push_str("\\\\"),
            _ => match dump_escape(c, chars.peek().copied()) {
                Some(escaped) => dumped.push_str(&escaped),
                None => dumped.push(c),
            },
        }
    }
    dumped.push('"');
    let mut out = String::with_capacity(dumped.len());
    for (index, c) in dumped.char_indices() {
        match c {
            '`' => out.push_str("\\`"),
            '$' if !expands_braces(&dumped[index + 1..]) => out.push_str("\\$"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether text starts with `{...}` (a closing brace after anything but braces' end).
fn expands_braces(text: &str) -> bool {
    text.strip_prefix('{')
        .is_some_and(|rest| rest.contains('}'))
}

/// The secret env of one container, resolved: `(variable name, value as the container sees it)`
/// in the order of `env.secret`, aliases (`NAME:KEY`) followed.
pub fn resolve_secrets(
    env: &Env,
    secrets: &dyn SecretValues,
) -> Result<Vec<(String, Secret)>, MissingSecret> {
    env.secrets
        .iter()
        .map(|entry| {
            let value = secrets.secret(&entry.key).ok_or_else(|| MissingSecret {
                name: entry.name.clone(),
                key: entry.key.clone(),
            })?;
            Ok((
                entry.name.clone(),
                Secret::new(env_file_value(value.expose())),
            ))
        })
        .collect()
}

/// The contents of Kamal's env file for these (already escaped) secrets: `KEY=value` lines, or a
/// single newline when there are none (Kamal avoids empty uploads).
pub fn env_file_contents(secrets: &[(String, Secret)]) -> Secret {
    if secrets.is_empty() {
        return Secret::new("\n");
    }
    let mut contents = String::new();
    for (name, value) in secrets {
        contents.push_str(name);
        contents.push('=');
        contents.push_str(value.expose());
        contents.push('\n');
    }
    Secret::new(contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretEnv;

    #[test]
    fn shell_values_are_escaped_as_kamal_escapes_them() {
        // Expected values printed by Kamal 2.11's `Kamal::Utils.escape_shell_value`.
        assert_eq!(escape_shell_value("10m"), r#""10m""#);
        assert_eq!(escape_shell_value(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            escape_shell_value("$HOME ${HOME} `x`"),
            r#""\$HOME ${HOME} \`x\`""#
        );
        assert_eq!(escape_shell_value("#{x} #y"), r#""\#{x} #y""#);
        assert_eq!(escape_shell_value("a\nb"), r#""a\nb""#);
        assert_eq!(escape_shell_value("héllo"), r#""h"é"llo""#);
    }

    #[test]
    fn plain_values_are_unchanged() {
        assert_eq!(
            clear_value_in_container("postgres://db:5432/app"),
            "postgres://db:5432/app"
        );
        assert_eq!(env_file_value("s3cr3t-Value_1"), "s3cr3t-Value_1");
        assert_eq!(clear_value_in_container("héllo wörld"), "héllo wörld");
    }

    #[test]
    fn clear_values_go_through_dump_and_the_shell() {
        assert_eq!(clear_value_in_container("a\nb"), "a\\nb");
        assert_eq!(clear_value_in_container("say \"hi\""), "say \"hi\"");
        assert_eq!(clear_value_in_container("back\\slash"), "back\\slash");
        assert_eq!(
            clear_value_in_container("#{x} and # alone"),
            "\\#{x} and # alone"
        );
        assert_eq!(clear_value_in_container("$HOME"), "$HOME");
        assert_eq!(clear_value_in_container("nul\0"), "nul\\x00");
    }

    #[test]
    fn env_file_values_double_backslashes() {
        assert_eq!(env_file_value("a\nb"), "a\\nb");
        assert_eq!(env_file_value("back\\slash"), "back\\\\slash");
        assert_eq!(env_file_value("quote\"d #{x}"), "quote\"d #{x}");
        assert_eq!(env_file_value("tab\there"), "tab\\there");
    }

    #[test]
    fn secrets_resolve_through_aliases_in_order() {
        let env = Env {
            clear: BTreeMap::new(),
            secrets: vec![
                SecretEnv {
                    name: "DB_PASSWORD".into(),
                    key: "MAIN_DB_PASSWORD".into(),
                },
                SecretEnv {
                    name: "API_KEY".into(),
                    key: "API_KEY".into(),
                },
            ],
        };
        let values: BTreeMap<String, Secret> = [
            ("MAIN_DB_PASSWORD".to_string(), Secret::new("pw")),
            ("API_KEY".to_string(), Secret::new("k\\1")),
        ]
        .into_iter()
        .collect();
        let resolved = resolve_secrets(&env, &values).unwrap();
        assert_eq!(resolved[0].0, "DB_PASSWORD");
        assert_eq!(resolved[0].1.expose(), "pw");
        assert_eq!(resolved[1].1.expose(), "k\\\\1");
        assert_eq!(
            env_file_contents(&resolved).expose(),
            "DB_PASSWORD=pw\nAPI_KEY=k\\\\1\n"
        );
        assert_eq!(env_file_contents(&[]).expose(), "\n");
    }

    #[test]
    fn missing_secret_names_variable_and_key() {
        let env = Env {
            clear: BTreeMap::new(),
            secrets: vec![SecretEnv {
                name: "DB_PASSWORD".into(),
                key: "MAIN".into(),
            }],
        };
        let error = resolve_secrets(&env, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "secret `MAIN` (for env var DB_PASSWORD) is not set in any .kamal/secrets file"
        );
    }
}
