//! Ruby tokens of one ERB tag, each with its byte offset in the original file.
//!
//! Double-quoted strings, backticks and `%x()` keep their `#{...}` parts as byte ranges of the
//! file; the parser lexes those again, so an error inside an interpolation still points at it.
//! Whatever this lexer does not know (symbols, regexps, heredocs, `%i[]`, ...) is an
//! [`Unsupported`] error, which sends the whole file to Ruby.

/// A piece of a double-quoted string, backtick command or `%x()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Text(String),
    /// `#{...}`: the byte range of the code between the braces.
    Code {
        offset: usize,
        len: usize,
    },
}

/// What a token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A local name or method name (`x`, `nil?`, `strip`); keywords are [`Kind::Keyword`].
    Ident(String),
    /// A capitalised name (`ENV`, `File`, `HOSTS`).
    Const(String),
    Keyword(&'static str),
    Int(i64),
    Str(Vec<Part>),
    /// A backtick or `%x()` command.
    Command(Vec<Part>),
    /// `%w[...]`.
    Words(Vec<String>),
    Punct(&'static str),
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub offset: usize,
    pub len: usize,
}

/// Source the lexer does not know, at this byte offset of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub offset: usize,
    pub len: usize,
    pub what: String,
}

const KEYWORDS: &[&str] = &[
    "if", "elsif", "else", "end", "unless", "do", "then", "true", "false", "nil", "and", "or",
    "not",
];

/// Ruby keywords of forms gantry leaves to Ruby (definitions, other control flow).
const RUBY_ONLY: &[&str] = &[
    "def", "class", "module", "begin", "rescue", "ensure", "case", "when", "while", "until", "for",
    "yield", "lambda", "proc", "defined?", "__FILE__", "__dir__",
];

/// Longest first, so `==` wins over `=`.
const PUNCTS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "&.", "||", "[", "]", "(", ")", ",", ".", "?", ":", "!", "<",
    ">", "=", "|", ";", "+", "\n",
];

/// Tokens of `source`, which starts at byte `base` of the file.
pub fn tokenize(source: &str, base: usize) -> Result<Vec<Token>, Unsupported> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let c = bytes[pos];
        let start = pos;
        let unsupported = |len: usize, what: &str| Unsupported {
            offset: base + start,
            len,
            what: what.to_string(),
        };
        let kind = match c {
            b' ' | b'\t' | b'\r' => {
                pos += 1;
                continue;
            }
            b'\\' if bytes.get(pos + 1) == Some(&b'\n') => {
                pos += 2;
                continue;
            }
            b'#' => {
                // A comment runs to the end of the line.
                pos = source[pos..].find('\n').map_or(bytes.len(), |i| pos + i);
                continue;
            }
            b'"' | b'`' => {
                let (parts, end) = interpolated(source, pos + 1, c, base)
                    .ok_or_else(|| unsupported(bytes.len() - pos, "an unterminated string"))?;
                pos = end;
                if c == b'"' {
                    Kind::Str(parts)
                } else {
                    Kind::Command(parts)
                }
            }
            b'\'' => {
                let (text, end) = single_quoted(source, pos + 1)
                    .ok_or_else(|| unsupported(bytes.len() - pos, "an unterminated string"))?;
                pos = end;
                Kind::Str(vec![Part::Text(text)])
            }
            b'%' => {
                let (kind, end) = percent_literal(source, pos, base)
                    .ok_or_else(|| unsupported(1, "this `%` literal"))?;
                pos = end;
                kind
            }
            b'0'..=b'9' => {
                let end = source[pos..]
                    .find(|c: char| !(c.is_ascii_digit() || c == '_'))
                    .map_or(bytes.len(), |i| pos + i);
                let digits: String = source[pos..end].chars().filter(|c| *c != '_').collect();
                let value = digits
                    .parse()
                    .map_err(|_| unsupported(end - pos, "a large number"))?;
                pos = end;
                Kind::Int(value)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut end = source[pos..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(bytes.len(), |i| pos + i);
                // `nil?`, `present?`, `strip!`: a suffix attached to a method name, unless it
                // starts `!=` or a ternary's `? :`.
                if matches!(bytes.get(end), Some(b'?' | b'!'))
                    && !matches!(bytes.get(end + 1), Some(b'=' | b':'))
                    && c.is_ascii_lowercase()
                {
                    end += 1;
                }
                let word = &source[pos..end];
                if RUBY_ONLY.contains(&word) {
                    return Err(unsupported(end - pos, &format!("`{word}`")));
                }
                pos = end;
                if let Some(keyword) = KEYWORDS.iter().find(|k| **k == word) {
                    Kind::Keyword(keyword)
                } else if c.is_ascii_uppercase() {
                    Kind::Const(word.to_string())
                } else {
                    Kind::Ident(word.to_string())
                }
            }
            _ => {
                let Some(punct) = PUNCTS.iter().find(|p| source[pos..].starts_with(**p)) else {
                    let found = source[pos..].chars().next().unwrap_or('?');
                    return Err(unsupported(found.len_utf8(), &format!("`{found}` here")));
                };
                pos += punct.len();
                Kind::Punct(punct)
            }
        };
        tokens.push(Token {
            kind,
            offset: base + start,
            len: pos - start,
        });
    }
    Ok(tokens)
}

/// A double-quoted string or command body from `pos` to its `close` byte; returns its parts and
/// the position after the close.
fn interpolated(
    source: &str,
    mut pos: usize,
    close: u8,
    base: usize,
) -> Option<(Vec<Part>, usize)> {
    let bytes = source.as_bytes();
    let mut parts = Vec::new();
    let mut text = String::new();
    while pos < bytes.len() {
        let c = bytes[pos];
        if c == close {
            if !text.is_empty() {
                parts.push(Part::Text(text));
            }
            return Some((parts, pos + 1));
        }
        if c == b'\\' {
            let escaped = source[pos + 1..].chars().next()?;
            text.push(match escaped {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'e' => '\u{1b}',
                's' => ' ',
                '0' => '\0',
                other => other,
            });
            pos += 1 + escaped.len_utf8();
        } else if source[pos..].starts_with("#{") {
            let code_start = pos + 2;
            let code_end = matching_brace(source, code_start)?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Code {
                offset: base + code_start,
                len: code_end - code_start,
            });
            pos = code_end + 1;
        } else {
            let ch = source[pos..].chars().next()?;
            text.push(ch);
            pos += ch.len_utf8();
        }
    }
    None
}

/// The `}` that closes a `#{` whose code starts at `pos`, skipping nested braces and strings.
fn matching_brace(source: &str, mut pos: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    while pos < bytes.len() {
        let c = bytes[pos];
        match (quote, c) {
            (Some(_), b'\\') => pos += 1,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'' | b'`') => quote = Some(c),
            (None, b'{') => depth += 1,
            (None, b'}') if depth == 0 => return Some(pos),
            (None, b'}') => depth -= 1,
            (None, _) => {}
        }
        pos += 1;
    }
    None
}

fn single_quoted(source: &str, mut pos: usize) -> Option<(String, usize)> {
    let mut text = String::new();
    let bytes = source.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b'\'' => return Some((text, pos + 1)),
            b'\\' if matches!(bytes.get(pos + 1), Some(b'\'' | b'\\')) => {
                text.push(char::from(bytes[pos + 1]));
                pos += 2;
            }
            _ => {
                let ch = source[pos..].chars().next()?;
                text.push(ch);
                pos += ch.len_utf8();
            }
        }
    }
    None
}

/// `%x(...)`, `%w[...]` (any of `( [ { <` as delimiters); other `%` literals are unsupported.
fn percent_literal(source: &str, pos: usize, base: usize) -> Option<(Kind, usize)> {
    let bytes = source.as_bytes();
    let letter = *bytes.get(pos + 1)?;
    let open = *bytes.get(pos + 2)?;
    let close = match open {
        b'(' => b')',
        b'[' => b']',
        b'{' => b'}',
        b'<' => b'>',
        _ => return None,
    };
    let body_start = pos + 3;
    match letter {
        b'x' => {
            let (parts, end) = interpolated(source, body_start, close, base)?;
            Some((Kind::Command(parts), end))
        }
        b'w' => {
            let end = body_start + source[body_start..].find(char::from(close))?;
            let words = source[body_start..end]
                .split_whitespace()
                .map(str::to_string)
                .collect();
            Some((Kind::Words(words), end + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<Kind> {
        tokenize(source, 0)
            .expect("lexes")
            .into_iter()
            .map(|token| token.kind)
            .collect()
    }

    #[test]
    fn lexes_methods_operators_and_literals() {
        assert_eq!(
            kinds(r#"ENV["A"].nil? ? 'x' : 10"#),
            vec![
                Kind::Const("ENV".into()),
                Kind::Punct("["),
                Kind::Str(vec![Part::Text("A".into())]),
                Kind::Punct("]"),
                Kind::Punct("."),
                Kind::Ident("nil?".into()),
                Kind::Punct("?"),
                Kind::Str(vec![Part::Text("x".into())]),
                Kind::Punct(":"),
                Kind::Int(10),
            ]
        );
        assert_eq!(
            kinds("a != b"),
            vec![
                Kind::Ident("a".into()),
                Kind::Punct("!="),
                Kind::Ident("b".into())
            ]
        );
    }

    #[test]
    fn interpolation_keeps_file_offsets() {
        let tokens = tokenize(r#""a-#{x}" `git #{y}`"#, 100).expect("lexes");
        assert_eq!(
            tokens[0].kind,
            Kind::Str(vec![
                Part::Text("a-".into()),
                Part::Code {
                    offset: 105,
                    len: 1
                }
            ])
        );
        assert!(matches!(tokens[1].kind, Kind::Command(_)));
    }

    #[test]
    fn percent_literals() {
        assert_eq!(
            kinds("%w[a b] %x(git rev-parse)"),
            vec![
                Kind::Words(vec!["a".into(), "b".into()]),
                Kind::Command(vec![Part::Text("git rev-parse".into())]),
            ]
        );
        assert!(tokenize("%i[a]", 0).is_err());
    }
}
