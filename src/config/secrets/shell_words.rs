//! Shell words as Ruby's `Shellwords` reads and writes them.
//!
//! Kamal splits an inline `kamal secrets ...` command with `shellsplit` and passes `fetch`'s
//! JSON back through `shellescape`, so the exact rules decide what `extract` receives and what
//! `SECRETS=$(kamal secrets fetch ...)` holds. `shlex` follows POSIX sh and differs in the
//! details (which characters get a backslash, `\` before a newline), hence this module.

/// A command line that does not split into words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShellWordsError {
    #[error("unmatched quote at character {0}")]
    UnmatchedQuote(usize),
    #[error("NUL character at character {0}")]
    Nul(usize),
}

/// Splits `line` into words as `Shellwords.shellsplit`: blanks separate words, single quotes
/// are literal, double quotes keep a backslash only before `$`, `` ` ``, `"`, `\` and a
/// newline, and a bare backslash escapes the next character. Nothing is expanded.
pub fn split(line: &str) -> Result<Vec<String>, ShellWordsError> {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        match c {
            '\0' => return Err(ShellWordsError::Nul(index)),
            c if is_blank(c) => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                index += 1;
            }
            '\'' => {
                let close = chars[index + 1..]
                    .iter()
                    .position(|c| *c == '\'' || *c == '\0')
                    .filter(|offset| chars[index + 1 + offset] == '\'')
                    .ok_or(ShellWordsError::UnmatchedQuote(index))?;
                word.extend(&chars[index + 1..index + 1 + close]);
                in_word = true;
                index += close + 2;
            }
            '"' => {
                let mut end = index + 1;
                let mut text = String::new();
                loop {
                    match chars.get(end) {
                        None | Some('\0') => return Err(ShellWordsError::UnmatchedQuote(index)),
                        Some('"') => break,
                        Some('\\') => match chars.get(end + 1) {
                            None | Some('\0') => {
                                return Err(ShellWordsError::UnmatchedQuote(index));
                            }
                            Some(next @ ('$' | '`' | '"' | '\\' | '\n')) => {
                                text.push(*next);
                                end += 2;
                            }
                            Some(next) => {
                                text.push('\\');
                                text.push(*next);
                                end += 2;
                            }
                        },
                        Some(other) => {
                            text.push(*other);
                            end += 1;
                        }
                    }
                }
                word.push_str(&text);
                in_word = true;
                index = end + 1;
            }
            '\\' => {
                // Ruby drops the backslash unless a newline follows it (its `.` stops there).
                match chars.get(index + 1) {
                    Some('\0') => return Err(ShellWordsError::Nul(index + 1)),
                    Some('\n') => {
                        word.push_str("\\\n");
                        index += 2;
                    }
                    Some(next) => {
                        word.push(*next);
                        index += 2;
                    }
                    None => {
                        word.push('\\');
                        index += 1;
                    }
                }
                in_word = true;
            }
            other => {
                word.push(other);
                in_word = true;
                index += 1;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Escapes `word` for a POSIX shell as `Shellwords.escape`: `''` for the empty word, a
/// backslash before every character but `A-Za-z0-9_-.,:+/@` and newline, and a newline
/// wrapped in single quotes.
pub fn escape(word: &str) -> String {
    if word.is_empty() {
        return "''".to_string();
    }
    let mut out = String::with_capacity(word.len() * 2);
    for c in word.chars() {
        match c {
            '\n' => out.push_str("'\n'"),
            c if c.is_ascii_alphanumeric() || "_-.,:+/@".contains(c) => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out
}

/// Ruby's `\s`: space, tab, newline, vertical tab, form feed, carriage return.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split(line).expect("splits")
    }

    #[test]
    fn splits_quotes_and_escapes_as_ruby() {
        assert_eq!(
            words(r#"  kamal secrets  extract "KE Y" 'a b'c d\ e "x\y\"z" \\ "#),
            [
                "kamal", "secrets", "extract", "KE Y", "a bc", "d e", "x\\y\"z", "\\"
            ]
        );
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words("''"), [""]);
        assert_eq!(split("a 'b"), Err(ShellWordsError::UnmatchedQuote(2)));
        assert_eq!(split("a \"b\\\""), Err(ShellWordsError::UnmatchedQuote(2)));
    }

    #[test]
    fn escaped_json_splits_back_to_itself() {
        let json = r#"{"K":"pa ss \"q\" 'x' =eq #h ünï€ \\ (p)","L":"a\nb"}"#;
        let escaped = escape(json);
        assert!(escaped.starts_with(r#"\{\"K\":\"pa\ ss"#), "{escaped}");
        assert_eq!(
            words(&format!("extract K {escaped}")),
            ["extract", "K", json]
        );
        assert_eq!(escape(""), "''");
        assert_eq!(escape("a\nb"), "a'\n'b");
        assert_eq!(escape("ü"), "\\ü");
    }
}
