//! Text from hosts made safe to print or record.
//!
//! Container names, logs, lock details, daemon errors and command output come from hosts, and a
//! host is not trusted with the user's terminal: an escape sequence in a container's log could
//! retitle the window, rewrite the clipboard (OSC 52), move the cursor over earlier output or
//! clear the screen. [`for_terminal`] is applied where gantry writes to stdout and stderr (the
//! `say!`/`tell!` macros, prefixed host output, apply's progress lines, the final error report),
//! so every print is covered, not only the ones known to carry remote text. (JSON output
//! escapes control characters itself; log lines are escaped by `tracing-subscriber`.) [`one_line`] keeps a record on one
//! line (audit entries), where a line break would forge a second entry.

use std::borrow::Cow;

/// `text` with every control character written as an escape (`\u{1b}`, `\r`, `\u{7}`), except
/// line breaks, tabs and colour sequences (`ESC [` digits and `;` `m`), which only style text and
/// which gantry's own plans and reports use.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    let needs_escape = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.contains(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}'
            && let Some(length) = colour_sequence_length(rest)
        {
            out.push_str(&rest[..length]);
            rest = &rest[length..];
            continue;
        }
        if needs_escape(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// `text` on one line: every control character, line breaks included, written as an escape.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !text.contains(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_debug().collect()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// The length of the SGR sequence (`ESC [ 1;31 m`) `text` starts with, if it starts with one.
fn colour_sequence_length(text: &str) -> Option<usize> {
    let parameters = text.strip_prefix("\u{1b}[")?;
    let digits = parameters
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (parameters.as_bytes().get(digits) == Some(&b'm')).then_some(2 + digits + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_keeps_lines_and_colours_and_escapes_the_rest() {
        assert!(matches!(for_terminal("plain\n\ttext"), Cow::Borrowed(_)));
        assert_eq!(
            for_terminal("\u{1b}[1;31mred\u{1b}[0m\n"),
            "\u{1b}[1;31mred\u{1b}[0m\n"
        );
        for (hostile, shown) in [
            ("\u{1b}]0;pwned\u{7}", "\\u{1b}]0;pwned\\u{7}"),
            ("\u{1b}]52;c;ZXZpbA==\u{7}", "\\u{1b}]52;c;ZXZpbA==\\u{7}"),
            ("\u{1b}[2J\u{1b}[H", "\\u{1b}[2J\\u{1b}[H"),
            ("ok\rFAKE", "ok\\rFAKE"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("\u{1b}[31", "\\u{1b}[31"),
        ] {
            assert_eq!(for_terminal(hostile), shown, "{hostile:?}");
        }
    }

    #[test]
    fn one_line_escapes_line_breaks_too() {
        assert!(matches!(one_line("rails db:migrate"), Cow::Borrowed(_)));
        assert_eq!(
            one_line("ls\n[2026-01-01T00:00:00Z] [admin] Rolled back\r"),
            "ls\\n[2026-01-01T00:00:00Z] [admin] Rolled back\\r"
        );
        assert_eq!(one_line("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    }
}
