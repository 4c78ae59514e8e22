//! The `.kamal/secrets` dialect of dotenv, parsed without evaluating anything.
//!
//! Follows Ruby dotenv (which Kamal uses): `KEY=VALUE` or `KEY: VALUE`, an optional `export`
//! prefix, `#` comments, single quotes (literal, may span lines), double quotes (`\n`, `\r` and
//! backslash escapes, may span lines) and unquoted values (up to a `#`, trimmed). Substitution
//! (`$VAR`, `${VAR}`, `$(command)`) is left to [`super::expand`]; this module only says which
//! values are subject to it. Errors name the line, never the value.

/// How a value was quoted, which decides what happens to `$`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quoting {
    /// Unquoted: escapes removed, substitutions applied.
    Bare,
    /// Single quotes: taken literally.
    Single,
    /// Double quotes: escapes, then substitutions.
    Double,
}

/// One assignment, before substitution.
#[derive(Clone, PartialEq, Eq)]
pub struct Assignment {
    pub key: String,
    /// The value with quotes and escapes processed; `\$` is still escaped.
    pub raw: String,
    pub quoting: Quoting,
    /// 1-based line of the key.
    pub line: usize,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assignment")
            .field("key", &self.key)
            .field("quoting", &self.quoting)
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// A line that is not an assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: &'static str,
}

/// Parses a whole file.
pub fn parse(text: &str) -> Result<Vec<Assignment>, SyntaxError> {
    let chars: Vec<char> = text.chars().collect();
    let mut parser = Parser {
        chars,
        pos: 0,
        line: 1,
    };
    let mut assignments = Vec::new();
    loop {
        parser.skip_blank_and_comments();
        if parser.at_end() {
            return Ok(assignments);
        }
        assignments.push(parser.assignment()?);
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
    }

    fn skip_to_line_end(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    fn skip_blank_and_comments(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    self.bump();
                }
                '#' => self.skip_to_line_end(),
                _ => break,
            }
        }
    }

    fn error(&self, line: usize, message: &'static str) -> SyntaxError {
        SyntaxError { line, message }
    }

    fn key(&mut self) -> String {
        let mut key = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                key.push(c);
                self.bump();
            } else {
                break;
            }
        }
        key
    }

    fn assignment(&mut self) -> Result<Assignment, SyntaxError> {
        let line = self.line;
        let mut key = self.key();
        if key == "export" && matches!(self.peek(), Some(' ' | '\t')) {
            self.skip_spaces();
            key = self.key();
        }
        if key.is_empty() {
            return Err(self.error(line, "expected `KEY=value`"));
        }
        self.skip_spaces();
        match self.peek() {
            Some('=') => {
                self.bump();
            }
            Some(':') if matches!(self.chars.get(self.pos + 1), Some(' ' | '\t')) => {
                self.bump();
            }
            _ => return Err(self.error(line, "expected `=` after the key")),
        }
        self.skip_spaces();
        let (raw, quoting) = match self.peek() {
            Some('\'') => (self.quoted('\'', line)?, Quoting::Single),
            Some('"') => (unescape_double(&self.quoted('"', line)?), Quoting::Double),
            _ => (self.bare(), Quoting::Bare),
        };
        self.skip_spaces();
        match self.peek() {
            None | Some('\n' | '\r') => {}
            Some('#') => self.skip_to_line_end(),
            Some(_) => return Err(self.error(self.line, "unexpected text after a quoted value")),
        }
        Ok(Assignment {
            key,
            raw,
            quoting,
            line,
        })
    }

    /// The text between two quotes; a backslash protects the next character.
    fn quoted(&mut self, quote: char, line: usize) -> Result<String, SyntaxError> {
        self.bump();
        let mut value = String::new();
        loop {
            match self.bump() {
                None => return Err(self.error(line, "a quoted value is not closed")),
                Some('\\') => {
                    value.push('\\');
                    if let Some(next) = self.bump() {
                        value.push(next);
                    }
                }
                Some(c) if c == quote => return Ok(value),
                Some(c) => value.push(c),
            }
        }
    }

    /// An unquoted value: up to a comment or the end of the line, trimmed, escapes removed.
    fn bare(&mut self) -> String {
        let mut value = String::new();
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            if c == '\n' || c == '\r' || (c == '#' && depth == 0) {
                break;
            }
            if c == '(' && value.ends_with('$') {
                depth += 1;
            } else if c == ')' && depth > 0 {
                depth -= 1;
            }
            value.push(c);
            self.bump();
        }
        unescape(value.trim())
    }
}

/// Double-quoted escapes: `\n` and `\r`, then Ruby dotenv's `\X` → `X` (except `\$`).
fn unescape_double(value: &str) -> String {
    unescape(&value.replace("\\n", "\n").replace("\\r", "\r"))
}

/// `\X` → `X` for every `X` but `$`, which substitution handles.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('$') | None => out.push('\\'),
                Some(_) => {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, Quoting)> {
        parse(text)
            .expect("parses")
            .into_iter()
            .map(|a| (a.key, a.raw, a.quoting))
            .collect()
    }

    #[test]
    fn reads_every_form() {
        let text = "# comment\nA=1\nexport B = two words # note\nC='lit $X \\n'\nD=\"x\\ny\\\"z\\$W\"\nE: colon\nF=\nG=\"multi\nline\"\n";
        let parsed = pairs(text);
        assert_eq!(
            parsed,
            vec![
                ("A".into(), "1".into(), Quoting::Bare),
                ("B".into(), "two words".into(), Quoting::Bare),
                ("C".into(), "lit $X \\n".into(), Quoting::Single),
                ("D".into(), "x\ny\"z\\$W".into(), Quoting::Double),
                ("E".into(), "colon".into(), Quoting::Bare),
                ("F".into(), "".into(), Quoting::Bare),
                ("G".into(), "multi\nline".into(), Quoting::Double),
            ]
        );
    }

    #[test]
    fn command_parentheses_survive_a_hash_inside() {
        let parsed = pairs("A=$(echo '#x') # trailing\n");
        assert_eq!(parsed[0].1, "$(echo '#x')");
    }

    #[test]
    fn errors_name_the_line_not_the_value() {
        let error = parse("A=1\nnot an assignment\n").expect_err("invalid");
        assert_eq!(error.line, 2);
        let error = parse("A=\"open\nB=2\n").expect_err("unclosed");
        assert_eq!(error.line, 1);
        assert_eq!(error.message, "a quoted value is not closed");
    }

    #[test]
    fn debug_output_hides_values() {
        let parsed = parse("TOKEN=hunter22\n").expect("parses");
        assert!(!format!("{parsed:?}").contains("hunter22"));
    }
}
