//! ERB, the small subset Kamal configs use, rendered before YAML parsing.
//!
//! Input: a file's original text and an environment lookup. Output: the rendered text and an
//! [`OffsetMap`] from rendered byte offsets back to the original text, so YAML spans still point
//! at what the user wrote (a value that came from `ENV` points at its `<%= %>` tag).
//!
//! Supported, with Kamal's `trim_mode: "-"`: `<%= ENV["X"] %>`, `<%= ENV['X'] %>`,
//! `<%= ENV.fetch("X") %>`, `<%= ENV.fetch("X", "default") %>`, `<%# comment %>`, `<%%`, `<%-`
//! and `-%>`. Anything else is a diagnostic naming the line, never evaluated: this module runs no
//! Ruby and no shell. A value with a newline would silently change the YAML structure, so it is
//! an error.

use super::diagnostic::{Code, Problem, Problems};
use super::source::{FileId, Span};

/// The forms gantry evaluates, for help texts.
pub const SUPPORTED_FORMS: &str = "<%= ENV[\"X\"] %>, <%= ENV['X'] %>, <%= ENV.fetch(\"X\") %>, \
                                   <%= ENV.fetch(\"X\", \"default\") %> and <%# comments %>";

/// One stretch of rendered text and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    rendered: usize,
    rendered_len: usize,
    original: usize,
    original_len: usize,
    /// Copied byte for byte (offsets map linearly), or produced by a tag.
    copied: bool,
}

/// Maps byte offsets in rendered text back to the original file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetMap {
    segments: Vec<Segment>,
    original_len: usize,
}

impl OffsetMap {
    /// The identity map of a text that had no ERB.
    pub fn identity(len: usize) -> Self {
        OffsetMap {
            segments: vec![Segment {
                rendered: 0,
                rendered_len: len,
                original: 0,
                original_len: len,
                copied: true,
            }],
            original_len: len,
        }
    }

    /// The original (offset, len) of a rendered range. A range that starts inside a tag's output
    /// maps to the whole tag.
    pub fn to_original(&self, offset: usize, len: usize) -> (usize, usize) {
        let index = self
            .segments
            .partition_point(|segment| segment.rendered <= offset)
            .saturating_sub(1);
        let Some(segment) = self.segments.get(index) else {
            return (self.original_len, 0);
        };
        if !segment.copied {
            return (segment.original, segment.original_len);
        }
        let start = segment.original
            + offset
                .saturating_sub(segment.rendered)
                .min(segment.rendered_len);
        let end_in_segment = (offset + len).min(segment.rendered + segment.rendered_len);
        let end = segment.original + (end_in_segment - segment.rendered);
        (start, end.saturating_sub(start))
    }

    fn push(
        &mut self,
        rendered: usize,
        rendered_len: usize,
        original: usize,
        original_len: usize,
        copied: bool,
    ) {
        if rendered_len == 0 && original_len == 0 {
            return;
        }
        self.segments.push(Segment {
            rendered,
            rendered_len,
            original,
            original_len,
            copied,
        });
    }
}

/// A rendered file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub map: OffsetMap,
}

/// Renders `template` (the text of `file`), reading variables through `env`.
pub fn render(
    template: &str,
    file: FileId,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Rendered {
    if !template.contains("<%") {
        return Rendered {
            text: template.to_string(),
            map: OffsetMap::identity(template.len()),
        };
    }
    let mut out = String::with_capacity(template.len());
    let mut map = OffsetMap {
        segments: Vec::new(),
        original_len: template.len(),
    };
    let mut pos = 0;
    while let Some(found) = template[pos..].find("<%") {
        let start = pos + found;
        let mut literal_end = start;
        let tag = &template[start..];
        if tag.starts_with("<%%") {
            copy(template, pos, start, &mut out, &mut map);
            map.push(out.len(), 2, start, 3, false);
            out.push_str("<%");
            pos = start + 3;
            continue;
        }
        let Some(close) = tag[2..].find("%>").map(|i| start + 2 + i) else {
            let span = Span {
                file,
                offset: start,
                len: 2,
            };
            problems.error(
                Problem::new(Code::ErbUnterminated, "ERB tag is not closed")
                    .at(span, "this `<%` has no matching `%>`")
                    .help("close the tag with `%>`, or write `<%%` for a literal `<%`"),
            );
            break;
        };
        let mut inner = &template[start + 2..close];
        if let Some(rest) = inner.strip_prefix('-') {
            inner = rest;
            let line_start = template[..start].rfind('\n').map_or(0, |i| i + 1);
            if template[line_start.max(pos)..start]
                .chars()
                .all(|c| c == ' ' || c == '\t')
                && line_start >= pos
            {
                literal_end = line_start;
            }
        }
        let trim_newline = inner.ends_with('-');
        if trim_newline {
            inner = &inner[..inner.len() - 1];
        }
        let mut tag_end = close + 2;
        if trim_newline {
            if template[tag_end..].starts_with("\r\n") {
                tag_end += 2;
            } else if template[tag_end..].starts_with('\n') {
                tag_end += 1;
            }
        }
        copy(template, pos, literal_end, &mut out, &mut map);
        let span = Span {
            file,
            offset: start,
            len: close + 2 - start,
        };
        let value =
            if let Some(expression) = inner.strip_prefix('=') {
                evaluate(expression, span, env, problems)
            } else if inner.starts_with('#') {
                String::new()
            } else {
                problems.error(
                Problem::new(
                    Code::ErbUnsupported,
                    format!("unsupported ERB tag `{}`", one_line(&template[start..close + 2])),
                )
                .at(span, "gantry does not run Ruby code")
                .help(format!(
                    "gantry supports {SUPPORTED_FORMS}; compute other values before running gantry \
                     and pass them in through the environment"
                )),
            );
                String::new()
            };
        map.push(
            out.len(),
            value.len(),
            literal_end,
            tag_end - literal_end,
            false,
        );
        out.push_str(&value);
        pos = tag_end;
    }
    copy(template, pos, template.len(), &mut out, &mut map);
    Rendered { text: out, map }
}

fn copy(template: &str, from: usize, to: usize, out: &mut String, map: &mut OffsetMap) {
    if to > from {
        map.push(out.len(), to - from, from, to - from, true);
        out.push_str(&template[from..to]);
    }
}

fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 {
        format!("{}…", flat.chars().take(60).collect::<String>())
    } else {
        flat
    }
}

/// The value of one `<%= %>` expression, or an empty string after recording a problem.
fn evaluate(
    expression: &str,
    span: Span,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> String {
    let Some(lookup) = parse_expression(expression) else {
        problems.error(
            Problem::new(
                Code::ErbUnsupported,
                format!(
                    "unsupported ERB expression `{}`",
                    one_line(expression.trim())
                ),
            )
            .at(span, "not one of the supported forms")
            .help(format!("gantry supports {SUPPORTED_FORMS}")),
        );
        return String::new();
    };
    let value = match (env(&lookup.name), lookup.kind) {
        (Some(value), _) => value,
        (None, LookupKind::Index) => String::new(),
        (None, LookupKind::FetchWithDefault(default)) => default,
        (None, LookupKind::Fetch) => {
            problems.error(
                Problem::new(
                    Code::ErbMissingEnv,
                    format!("environment variable {} is not set", lookup.name),
                )
                .at(span, format!("ENV.fetch needs {}", lookup.name))
                .help(format!(
                    "set {} before running gantry, or give a default: ENV.fetch(\"{}\", \"...\")",
                    lookup.name, lookup.name
                )),
            );
            String::new()
        }
    };
    if value.contains('\n') || value.contains('\r') {
        problems.error(
            Problem::new(
                Code::ErbMultilineValue,
                format!("environment variable {} contains a line break", lookup.name),
            )
            .at(span, "substituting it here would change the YAML structure")
            .help("remove the line break from the variable, or move the value into .kamal/secrets"),
        );
        return String::new();
    }
    value
}

/// How an expression reads the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
enum LookupKind {
    /// `ENV["X"]`: empty when unset.
    Index,
    /// `ENV.fetch("X")`: an error when unset.
    Fetch,
    /// `ENV.fetch("X", "d")`.
    FetchWithDefault(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Lookup {
    name: String,
    kind: LookupKind,
}

/// A tiny cursor over an expression; whitespace between tokens is skipped.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, token: &str) -> bool {
        self.rest = self.rest.trim_start();
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn string(&mut self) -> Option<String> {
        self.rest = self.rest.trim_start();
        let quote = self
            .rest
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')?;
        let body = &self.rest[1..];
        let end = body.find(quote)?;
        let value = &body[..end];
        if value.contains('\\') || (quote == '"' && value.contains("#{")) {
            return None;
        }
        self.rest = &body[end + 1..];
        Some(value.to_string())
    }

    fn done(&self) -> bool {
        self.rest.trim().is_empty()
    }
}

fn parse_expression(expression: &str) -> Option<Lookup> {
    let mut cursor = Cursor { rest: expression };
    if !cursor.eat("ENV") {
        return None;
    }
    let lookup = if cursor.eat("[") {
        let name = cursor.string()?;
        if !cursor.eat("]") {
            return None;
        }
        Lookup {
            name,
            kind: LookupKind::Index,
        }
    } else if cursor.eat(".") && cursor.eat("fetch") && cursor.eat("(") {
        let name = cursor.string()?;
        let kind = if cursor.eat(",") {
            LookupKind::FetchWithDefault(cursor.string()?)
        } else {
            LookupKind::Fetch
        };
        if !cursor.eat(")") {
            return None;
        }
        Lookup { name, kind }
    } else {
        return None;
    };
    cursor.done().then_some(lookup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("app.example.com".into()),
            "MULTI" => Some("a\nb".into()),
            _ => None,
        }
    }

    fn run(template: &str) -> (Rendered, Problems) {
        let mut problems = Problems::default();
        let rendered = render(template, FileId(0), &env, &mut problems);
        (rendered, problems)
    }

    #[test]
    fn substitutes_every_supported_form() {
        let (out, problems) = run(
            "a: <%= ENV[\"HOST\"] %>\nb: <%= ENV['HOST'] %>\nc: <%= ENV.fetch(\"HOST\") %>\n\
             d: <%= ENV.fetch('NOPE', 'dflt') %>\ne: <%= ENV[\"NOPE\"] %>x\n",
        );
        assert!(!problems.has_errors(), "{:?}", problems.errors());
        assert_eq!(
            out.text,
            "a: app.example.com\nb: app.example.com\nc: app.example.com\nd: dflt\ne: x\n"
        );
    }

    #[test]
    fn trim_marks_remove_the_newline_and_indentation() {
        let (out, problems) = run("a: 1\n  <%-# c -%>\nb: 2\n<%# note -%>\nc: 3\n");
        assert!(!problems.has_errors());
        assert_eq!(out.text, "a: 1\nb: 2\nc: 3\n");
    }

    #[test]
    fn escaped_tag_is_literal() {
        let (out, _) = run("a: \"<%% x %>\"\n");
        assert_eq!(out.text, "a: \"<% x %>\"\n");
    }

    #[test]
    fn offsets_after_a_substitution_map_back_to_the_original() {
        let template = "a: <%= ENV[\"HOST\"] %> bad\n";
        let (out, _) = run(template);
        let rendered_bad = out.text.find("bad").expect("rendered");
        let (offset, len) = out.map.to_original(rendered_bad, 3);
        assert_eq!(&template[offset..offset + len], "bad");
        let (offset, len) = out.map.to_original(3, 4);
        assert_eq!(&template[offset..offset + len], "<%= ENV[\"HOST\"] %>");
    }

    #[test]
    fn missing_fetch_names_the_variable() {
        let (_, problems) = run("a: <%= ENV.fetch(\"DB_HOST\") %>\n");
        let error = &problems.errors()[0];
        assert_eq!(error.code, Code::ErbMissingEnv);
        assert!(error.message.contains("DB_HOST"));
        assert_eq!(error.span.map(|s| s.offset), Some(3));
    }

    #[test]
    fn code_and_other_expressions_are_refused() {
        let (_, problems) =
            run("<% if true %>\na: <%= %x(aws ecr get-login-password) %>\n<% end %>\n");
        let codes: Vec<_> = problems.errors().iter().map(|p| p.code).collect();
        assert_eq!(codes, vec![Code::ErbUnsupported; 3]);
    }

    #[test]
    fn multiline_values_and_unclosed_tags_are_errors() {
        let (_, problems) = run("a: <%= ENV[\"MULTI\"] %>\nb: <%= ENV[\"HOST\"]\n");
        let codes: Vec<_> = problems.errors().iter().map(|p| p.code).collect();
        assert_eq!(codes, vec![Code::ErbMultilineValue, Code::ErbUnterminated]);
    }
}
