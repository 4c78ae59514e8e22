//! Pass 1a: rendered YAML text → spanned [`Node`] tree.
//!
//! serde-saphyr parses (YAML 1.1 booleans and integers like Psych, a [`Budget`] against alias
//! bombs and deep nesting); a hand-written visitor builds our own tree from `Spanned` values, so
//! no typed decoding happens here. Merge keys are read as ordinary keys and applied afterwards
//! with Psych's semantics (Kamal's parser): entries are assigned in order, so a key written
//! *before* `<<:` is overwritten by the merged map, and in `<<: [*a, *b]` the first map wins.
//! Because the YAML spec says the opposite for the first case, that case is a warning.
//! Duplicate keys keep the last value (Psych) with a warning.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, DuplicateKeyPolicy, MergeKeyPolicy, Options, Spanned};

use super::diagnostic::{Code, Problem, Problems};
use super::erb::OffsetMap;
use super::node::{Entry, Node, Value};
use super::source::{FileId, Span};

/// Parses one rendered file. Returns `None` (after recording the error) when the YAML is
/// malformed or over the budget. An empty document is an empty map.
pub fn parse(text: &str, file: FileId, map: &OffsetMap, problems: &mut Problems) -> Option<Node> {
    let locate = |location: serde_saphyr::Location| -> Span {
        let span = location.span();
        let (offset, len) = match span.byte_offset() {
            Some(offset) => (offset as usize, span.byte_len().unwrap_or(0) as usize),
            None => (offset_of(text, location.line(), location.column()), 1),
        };
        let (offset, len) = map.to_original(offset, len);
        Span { file, offset, len }
    };
    if text.trim().is_empty() || only_comments(text) {
        return Some(Node {
            value: Value::Map(Vec::new()),
            span: Span {
                file,
                offset: 0,
                len: 0,
            },
        });
    }
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(text, options()) {
        Ok(root) => Some(build(root, &locate, problems)),
        Err(error) => {
            let code = if is_limit(&error) {
                Code::YamlLimit
            } else {
                Code::YamlSyntax
            };
            let span = error.location().map(locate).unwrap_or(Span {
                file,
                offset: 0,
                len: 0,
            });
            let message = first_line(&error.without_snippet().to_string());
            let help = if code == Code::YamlLimit {
                "the file is far larger or more nested than a deploy.yml can be; look for \
                 runaway anchors and aliases"
            } else {
                "fix the YAML syntax; `gantry config` shows the file once it parses"
            };
            problems.error(
                Problem::new(code, format!("invalid YAML: {message}"))
                    .at(span, "here")
                    .help(help),
            );
            None
        }
    }
}

/// The byte offset of a 1-based line and column (in characters), clamped to the text.
fn offset_of(text: &str, line: u64, column: u64) -> usize {
    let Some(line_start) = (if line <= 1 {
        Some(0)
    } else {
        text.match_indices('\n')
            .nth(usize::try_from(line - 2).unwrap_or(usize::MAX))
            .map(|(index, _)| index + 1)
    }) else {
        return text.len();
    };
    let rest = &text[line_start..];
    let column = usize::try_from(column.saturating_sub(1)).unwrap_or(usize::MAX);
    line_start
        + rest
            .char_indices()
            .nth(column)
            .map_or(rest.len(), |(index, _)| index)
}

fn only_comments(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line == "---"
    })
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

fn is_limit(error: &serde_saphyr::Error) -> bool {
    let text = error.without_snippet().to_string().to_lowercase();
    ["budget breached", "alias replay", "alias expansion"]
        .iter()
        .any(|needle| text.contains(needle))
}

/// The parser settings: Psych-like typing, our own merge handling, a tight budget.
fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_events = 200_000;
    budget.max_aliases = 10_000;
    budget.max_anchors = 10_000;
    budget.max_depth = 48;
    budget.max_nodes = 100_000;
    budget.max_total_scalar_bytes = 8 * 1024 * 1024;
    budget.max_documents = 1;
    budget.max_merge_keys = 10_000;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = DuplicateKeyPolicy::PassThrough;
    options.merge_keys = MergeKeyPolicy::AsOrdinary;
    options.alias_limits.max_total_replayed_events = 200_000;
    options.alias_limits.max_replay_stack_depth = 16;
    options.strict_booleans = false;
    options
}

/// A value as the visitor sees it, with spanned children.
enum RawNode {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawKey>, Spanned<RawNode>)>),
}

/// A map key: any scalar, read as text.
struct RawKey(String);

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Int(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        Ok(RawNode::Int(v.into()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawNode, E> {
        Ok(RawNode::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawNode, E> {
        Ok(i128::try_from(v).map_or(RawNode::Float(v as f64), RawNode::Int))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawNode, E> {
        Ok(RawNode::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(deserializer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawKey>>()? {
            let value = map.next_value::<Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = RawKey;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar key (a hash or list cannot be a key in deploy.yml)")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawKey, E> {
        Ok(RawKey(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawKey, E> {
        Ok(RawKey(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawKey, E> {
        Ok(RawKey(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawKey, E> {
        Ok(RawKey(super::node::format_float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawKey, E> {
        Ok(RawKey(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawKey, E> {
        Ok(RawKey(String::new()))
    }
    fn visit_none<E: de::Error>(self) -> Result<RawKey, E> {
        Ok(RawKey(String::new()))
    }
}

impl<'de> Deserialize<'de> for RawKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

/// Turns the visitor's tree into [`Node`]s, applying merge keys and flagging duplicates.
fn build(
    raw: Spanned<RawNode>,
    locate: &dyn Fn(serde_saphyr::Location) -> Span,
    problems: &mut Problems,
) -> Node {
    let span = locate(raw.referenced);
    let value = match raw.value {
        RawNode::Null => Value::Null,
        RawNode::Bool(flag) => Value::Bool(flag),
        RawNode::Int(number) => Value::Int(number),
        RawNode::Float(number) => Value::Float(number),
        RawNode::Str(text) => Value::Str(text),
        RawNode::Seq(items) => Value::Seq(
            items
                .into_iter()
                .map(|item| build(item, locate, problems))
                .collect(),
        ),
        RawNode::Map(entries) => {
            let entries = entries
                .into_iter()
                .map(|(key, value)| Entry {
                    key: key.value.0,
                    key_span: locate(key.referenced),
                    value: build(value, locate, problems),
                })
                .collect();
            Value::Map(apply_merges(entries, problems))
        }
    };
    Node { value, span }
}

/// Where an entry of a map being built came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Explicit,
    Merged,
}

/// Psych's reading of a map's entries: each assignment in order, merges included.
fn apply_merges(entries: Vec<Entry>, problems: &mut Problems) -> Vec<Entry> {
    let mut out: Vec<(Entry, Origin)> = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry.key == "<<" {
            let sources: Vec<&Node> = match &entry.value.value {
                Value::Map(_) => vec![&entry.value],
                Value::Seq(items) if items.iter().all(|item| item.as_map().is_some()) => {
                    items.iter().rev().collect()
                }
                _ => {
                    problems.error(
                        Problem::new(
                            Code::YamlSyntax,
                            "invalid YAML: a merge key `<<` needs a hash or a list of hashes",
                        )
                        .at(entry.value.span, format!("found {}", entry.value.kind()))
                        .help("write `<<: *anchor` where the anchor names a hash"),
                    );
                    continue;
                }
            };
            for source in sources {
                for merged in source.as_map().unwrap_or_default() {
                    if let Some((existing, origin)) =
                        out.iter_mut().find(|(e, _)| e.key == merged.key)
                    {
                        if *origin == Origin::Explicit {
                            problems.warn(
                                Problem::new(
                                    Code::MergeKeyOrder,
                                    format!(
                                        "`{}` is written before `<<:` and the merge \
                                         replaces it",
                                        merged.key
                                    ),
                                )
                                .at(
                                    existing.key_span,
                                    "overwritten by the merge below, \
                                     as Kamal reads it",
                                )
                                .help(
                                    "move explicit keys after `<<:`: Kamal (Psych) lets \
                                     the merge win here, the YAML spec lets this key win",
                                ),
                            );
                        }
                        existing.value = merged.value.clone();
                        *origin = Origin::Merged;
                    } else {
                        out.push((merged.clone(), Origin::Merged));
                    }
                }
            }
        } else if let Some((existing, origin)) = out.iter_mut().find(|(e, _)| e.key == entry.key) {
            if *origin == Origin::Explicit {
                problems.warn(
                    Problem::new(
                        Code::DuplicateKey,
                        format!("`{}` appears twice in the same hash", entry.key),
                    )
                    .at(entry.key_span, "this later value is used")
                    .help("remove one of the two; Kamal silently keeps the last"),
                );
            }
            *existing = entry;
            *origin = Origin::Explicit;
        } else {
            out.push((entry, Origin::Explicit));
        }
    }
    out.into_iter().map(|(entry, _)| entry).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> (Option<Node>, Problems) {
        let mut problems = Problems::default();
        let node = parse(
            text,
            FileId(0),
            &OffsetMap::identity(text.len()),
            &mut problems,
        );
        (node, problems)
    }

    #[test]
    fn scalars_keep_their_yaml_type_and_span() {
        let text = "service: app\nport: 22\nssl: yes\nratio: 0.5\nbig: 10_000_000\nnothing:\n";
        let (node, problems) = parse_text(text);
        assert!(!problems.has_errors(), "{:?}", problems.errors());
        let node = node.expect("parsed");
        let service = node.get("service").expect("service");
        assert_eq!(service.as_str(), Some("app"));
        assert_eq!(
            &text[service.span.offset..service.span.offset + service.span.len],
            "app"
        );
        assert_eq!(node.get("port").and_then(Node::as_int), Some(22));
        assert_eq!(node.get("ssl").and_then(Node::as_bool), Some(true));
        assert_eq!(
            node.get("ratio").and_then(Node::text).as_deref(),
            Some("0.5")
        );
        assert_eq!(node.get("big").and_then(Node::as_int), Some(10_000_000));
        assert!(node.get("nothing").is_some_and(Node::is_null));
        let key = node.entry("port").expect("port");
        assert_eq!(
            &text[key.key_span.offset..key.key_span.offset + key.key_span.len],
            "port"
        );
    }

    #[test]
    fn merge_keys_follow_psych_and_warn_about_earlier_keys() {
        let text = "base: &base\n  a: 1\n  b: 2\nother: &other\n  b: 3\n  c: 4\nx:\n  a: 0\n  <<: [*base, *other]\n  d: 5\n";
        let (node, problems) = parse_text(text);
        let node = node.expect("parsed");
        let x = node.get("x").expect("x");
        assert_eq!(
            x.get("a").and_then(Node::as_int),
            Some(1),
            "the merge overwrote a"
        );
        assert_eq!(x.get("b").and_then(Node::as_int), Some(2), "first map wins");
        assert_eq!(x.get("c").and_then(Node::as_int), Some(4));
        assert_eq!(x.get("d").and_then(Node::as_int), Some(5));
        let (_, warnings) = problems.into_parts();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, Code::MergeKeyOrder);
    }

    #[test]
    fn duplicate_keys_keep_the_last_with_a_warning() {
        let (node, problems) = parse_text("a: 1\na: 2\n");
        assert_eq!(
            node.and_then(|n| n.get("a").and_then(Node::as_int)),
            Some(2)
        );
        let (_, warnings) = problems.into_parts();
        assert_eq!(warnings[0].code, Code::DuplicateKey);
    }

    #[test]
    fn alias_bombs_hit_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let (node, problems) = parse_text(&text);
        assert!(node.is_none());
        assert_eq!(
            problems.errors()[0].code,
            Code::YamlLimit,
            "{:?}",
            problems.errors()
        );
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let text = "service: app\nservers: [a, b\n";
        let (node, problems) = parse_text(text);
        assert!(node.is_none());
        assert_eq!(problems.errors()[0].code, Code::YamlSyntax);
    }
}
