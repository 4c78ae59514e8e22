//! Substitution in a secrets value: `\$`, `${VAR}`, `$VAR` and `$(command)`, left to right.
//!
//! Variables read keys defined earlier (this file and earlier files), then the environment.
//! Commands are run by the caller's `run` (which decides whether commands are allowed and gives
//! the command the variables through its environment). The script of a `$(...)` is passed as
//! written: a variable inside it is expanded by the shell, as data, never pasted into the script
//! first, so a value holding `;` or `$(...)` (a branch name from CI, a password manager's
//! answer) cannot become code. Command output, like variable values, is not expanded again.

use std::collections::BTreeMap;

use crate::secret::Secret;

/// Applies `$(command)`, `${VAR}`, `$VAR` and `\$` to a value, left to right; command output
/// and variable values are not expanded again, and `run` gets each command's script untouched.
pub(crate) fn expand<E>(
    raw: &str,
    known: &BTreeMap<String, Secret>,
    env: &dyn Fn(&str) -> Option<String>,
    run: &mut dyn FnMut(&str) -> Result<String, E>,
) -> Result<String, E> {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::with_capacity(raw.len());
    let mut index = 0;
    let lookup = |name: &str| -> String {
        known
            .get(name)
            .map(|secret| secret.expose().to_string())
            .or_else(|| env(name))
            .unwrap_or_default()
    };
    while index < chars.len() {
        let c = chars[index];
        if c == '\\' && chars.get(index + 1) == Some(&'$') {
            out.push('$');
            index += 2;
            continue;
        }
        if c != '$' {
            out.push(c);
            index += 1;
            continue;
        }
        match chars.get(index + 1) {
            Some('(') => {
                let mut depth = 1;
                let mut end = index + 2;
                while end < chars.len() && depth > 0 {
                    match chars[end] {
                        // As Kamal: an escaped parenthesis does not open or close.
                        '\\' => end += 1,
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    end += 1;
                }
                if depth > 0 || end > chars.len() {
                    out.extend(&chars[index..]);
                    break;
                }
                let script: String = chars[index + 2..end - 1].iter().collect();
                if script.is_empty() {
                    // Kamal runs nothing for `$()` and keeps it as written.
                    out.push_str("$()");
                } else {
                    out.push_str(&run(&script)?);
                }
                index = end;
            }
            Some('{') => {
                let close = chars[index + 2..].iter().position(|c| *c == '}');
                let name: Option<String> =
                    close.map(|close| chars[index + 2..index + 2 + close].iter().collect());
                match (close, name) {
                    (Some(close), Some(name)) if is_name(&name) => {
                        out.push_str(&lookup(&name));
                        index += close + 3;
                    }
                    _ => {
                        out.push('$');
                        index += 1;
                    }
                }
            }
            _ => {
                let name: String = chars[index + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .collect();
                if name.is_empty() {
                    out.push('$');
                    index += 1;
                } else {
                    out.push_str(&lookup(&name));
                    index += 1 + name.chars().count();
                }
            }
        }
    }
    Ok(out)
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Replaces variables in the text of a `$(...)` command the way Ruby dotenv's variable
/// substitution does before Kamal runs the command: `$NAME`, `${NAME}` (ASCII letters, digits,
/// `_`) become `lookup(NAME)`; `\$NAME` loses its backslash and stays; a `$` followed by `(` or
/// by no name stays as written. The quirks are dotenv's: a lone `{` or `}` around the name is
/// consumed, and quotes do not protect anything (the text is not parsed as shell).
pub(crate) fn substitute_variables(text: &str, lookup: &dyn Fn(&str) -> String) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < chars.len() {
        let escaped = chars[index] == '\\' && chars.get(index + 1) == Some(&'$');
        let dollar = if escaped { index + 1 } else { index };
        if chars[dollar] != '$' || chars.get(dollar + 1) == Some(&'(') {
            out.push(chars[index]);
            index += 1;
            continue;
        }
        let mut end = dollar + 1;
        if chars.get(end) == Some(&'{') {
            end += 1;
        }
        let name_start = end;
        while chars
            .get(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            end += 1;
        }
        let name: String = chars[name_start..end].iter().collect();
        if chars.get(end) == Some(&'}') {
            end += 1;
        }
        if escaped {
            out.extend(&chars[dollar..end]);
        } else if name.is_empty() {
            out.extend(&chars[index..end]);
        } else {
            out.push_str(&lookup(&name));
        }
        index = end;
    }
    out
}
