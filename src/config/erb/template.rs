//! A template's text → its tags, then a tree of [`Node`]s with the blocks (`if`, `unless`,
//! `each`) nested, as Ruby's ERB with `trim_mode: "-"` reads it.
//!
//! Trim marks are resolved here: each node knows the original range it consumes (a `<%-`
//! takes the indentation before it, a `-%>` the newline after it), so the renderer only copies
//! and maps. Tags are parsed in file order, so a name is known from its assignment on.

use std::collections::BTreeSet;

use super::parse::{Directive, Expr, Statement, Unsupported, parse_tag};
use crate::config::diagnostic::{Code, Problem};
use crate::config::source::{FileId, Span};

/// One piece of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Template text copied as it is: `start..end` of the original.
    Text { start: usize, end: usize },
    /// `<%%` at `start`, which prints `<%`.
    Escape { start: usize },
    /// A tag that prints: the expression, and the original range the tag consumes.
    Output { expr: Expr, consumed: Span },
    /// A tag that prints nothing (code, a comment, or a block's `else`/`end`).
    Silent {
        statements: Vec<Statement>,
        consumed: Span,
    },
    /// `if`/`unless` with its `elsif`s: the first true condition's body is rendered.
    If {
        branches: Vec<(Expr, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    /// `LIST.each do |variable|` ... `end`.
    Each {
        list: Expr,
        variable: String,
        body: Vec<Node>,
    },
}

/// Why a template cannot be rendered natively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// Broken ERB (an unclosed tag, an `end` without a block): Ruby would refuse it too.
    Syntax(Problem),
    /// Code gantry does not evaluate: Ruby can.
    Unsupported(Unsupported),
}

/// A tag found by the scanner, before its code is parsed.
struct Tag<'a> {
    code: &'a str,
    code_offset: usize,
    kind: TagKind,
    consumed: Span,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TagKind {
    Output,
    Code,
    Comment,
}

/// An open block while the tree is built.
enum Open {
    If {
        branches: Vec<(Expr, Vec<Node>)>,
        condition: Expr,
        in_else: bool,
        opened: Span,
    },
    Each {
        list: Expr,
        variable: String,
        opened: Span,
    },
}

/// Parses `template` (the text of `file`) into nodes.
pub fn parse(template: &str, file: FileId) -> Result<Vec<Node>, TemplateError> {
    let mut names = BTreeSet::new();
    // The nodes of each open block, innermost last; the first is the file's top level.
    let mut bodies: Vec<Vec<Node>> = vec![Vec::new()];
    let mut open: Vec<Open> = Vec::new();
    let mut pos = 0;
    while let Some(found) = template[pos..].find("<%") {
        let start = pos + found;
        if template[start..].starts_with("<%%") {
            push_text(&mut bodies, pos, start);
            current(&mut bodies).push(Node::Escape { start });
            pos = start + 3;
            continue;
        }
        let tag = scan_tag(template, file, pos, start)?;
        push_text(&mut bodies, pos, tag.consumed.offset);
        pos = tag.consumed.offset + tag.consumed.len;
        let directive = directive(&tag, file, &mut names)?;
        let consumed = tag.consumed;
        let silent = Node::Silent {
            statements: Vec::new(),
            consumed,
        };
        match directive {
            Directive::Output(expr) => current(&mut bodies).push(Node::Output { expr, consumed }),
            Directive::Run(statements) => {
                current(&mut bodies).push(Node::Silent {
                    statements,
                    consumed,
                });
            }
            Directive::If(condition) | Directive::Unless(condition) => {
                current(&mut bodies).push(silent);
                open.push(Open::If {
                    branches: Vec::new(),
                    condition,
                    in_else: false,
                    opened: consumed,
                });
                bodies.push(Vec::new());
            }
            Directive::Each { list, variable } => {
                current(&mut bodies).push(silent);
                open.push(Open::Each {
                    list,
                    variable,
                    opened: consumed,
                });
                bodies.push(Vec::new());
            }
            Directive::Elsif(next) => elsif(&mut bodies, &mut open, next, consumed, silent)?,
            Directive::Else => else_branch(&mut bodies, &mut open, consumed, silent)?,
            Directive::End => end_block(&mut bodies, &mut open, consumed, silent)?,
        }
    }
    push_text(&mut bodies, pos, template.len());
    if let Some(block) = open.last() {
        let (Open::If { opened, .. } | Open::Each { opened, .. }) = block;
        return Err(TemplateError::Syntax(
            Problem::new(Code::ErbSyntax, "this ERB block has no `end`")
                .at(*opened, "opened here")
                .help("close the block with `<% end %>`"),
        ));
    }
    Ok(bodies.pop().unwrap_or_default())
}

/// The directive a tag holds; `unless` becomes an `if` of the negated condition.
fn directive(
    tag: &Tag<'_>,
    file: FileId,
    names: &mut BTreeSet<String>,
) -> Result<Directive, TemplateError> {
    let directive = match tag.kind {
        TagKind::Comment => Directive::Run(Vec::new()),
        kind => parse_tag(
            tag.code,
            tag.code_offset,
            file,
            kind == TagKind::Output,
            names,
        )
        .map_err(TemplateError::Unsupported)?,
    };
    let directive = match directive {
        Directive::Unless(condition) => Directive::If(negate(condition)),
        directive => directive,
    };
    Ok(directive)
}

/// `elsif`: the open `if`'s current branch closes, the next one opens.
fn elsif(
    bodies: &mut [Vec<Node>],
    open: &mut [Open],
    next: Expr,
    consumed: Span,
    silent: Node,
) -> Result<(), TemplateError> {
    let Some(Open::If {
        branches,
        condition,
        in_else: false,
        ..
    }) = open.last_mut()
    else {
        return Err(stray(consumed, "elsif"));
    };
    let body = std::mem::take(current(bodies));
    branches.push((std::mem::replace(condition, next), body));
    current(bodies).push(silent);
    Ok(())
}

/// `else`: the open `if`'s last branch closes; what follows runs when no branch matched.
fn else_branch(
    bodies: &mut [Vec<Node>],
    open: &mut [Open],
    consumed: Span,
    silent: Node,
) -> Result<(), TemplateError> {
    let Some(Open::If {
        branches,
        condition,
        in_else,
        ..
    }) = open.last_mut()
    else {
        return Err(stray(consumed, "else"));
    };
    if *in_else {
        return Err(stray(consumed, "else"));
    }
    let body = std::mem::take(current(bodies));
    branches.push((condition.clone(), body));
    *in_else = true;
    current(bodies).push(silent);
    Ok(())
}

/// `end`: the innermost open block becomes one node of its parent.
fn end_block(
    bodies: &mut Vec<Vec<Node>>,
    open: &mut Vec<Open>,
    consumed: Span,
    silent: Node,
) -> Result<(), TemplateError> {
    let (Some(block), Some(body)) = (open.pop(), bodies.pop()) else {
        return Err(stray(consumed, "end"));
    };
    let node = match block {
        Open::If {
            mut branches,
            condition,
            in_else,
            ..
        } => {
            let otherwise = if in_else {
                body
            } else {
                branches.push((condition, body));
                Vec::new()
            };
            Node::If {
                branches,
                otherwise,
            }
        }
        Open::Each { list, variable, .. } => Node::Each {
            list,
            variable,
            body,
        },
    };
    let Some(parent) = bodies.last_mut() else {
        return Err(stray(consumed, "end"));
    };
    parent.push(node);
    parent.push(silent);
    Ok(())
}

fn negate(condition: Expr) -> Expr {
    let span = condition.span;
    Expr {
        kind: super::parse::ExprKind::Not(Box::new(condition)),
        span,
    }
}

fn current(bodies: &mut [Vec<Node>]) -> &mut Vec<Node> {
    let last = bodies.len() - 1;
    &mut bodies[last]
}

fn push_text(bodies: &mut [Vec<Node>], start: usize, end: usize) {
    if end > start {
        current(bodies).push(Node::Text { start, end });
    }
}

fn stray(at: Span, keyword: &str) -> TemplateError {
    TemplateError::Syntax(
        Problem::new(
            Code::ErbSyntax,
            format!("`{keyword}` outside of an ERB block"),
        )
        .at(at, "no open `if`, `unless` or `each` here")
        .help("check that each block's `<% end %>` matches its opening tag"),
    )
}

/// The tag starting at `start`; text before it begins at `text_start`.
fn scan_tag(
    template: &str,
    file: FileId,
    text_start: usize,
    start: usize,
) -> Result<Tag<'_>, TemplateError> {
    let Some(close) = template[start + 2..].find("%>").map(|i| start + 2 + i) else {
        return Err(TemplateError::Syntax(
            Problem::new(Code::ErbUnterminated, "ERB tag is not closed")
                .at(
                    Span {
                        file,
                        offset: start,
                        len: 2,
                    },
                    "this `<%` has no matching `%>`",
                )
                .help("close the tag with `%>`, or write `<%%` for a literal `<%`"),
        ));
    };
    let mut code_offset = start + 2;
    let mut code_end = close;
    let mut consumed_start = start;
    if template[code_offset..].starts_with('-') {
        code_offset += 1;
        // `<%-` removes the indentation before it, when only indentation precedes it.
        let line_start = template[..start].rfind('\n').map_or(0, |i| i + 1);
        if line_start >= text_start
            && template[line_start..start]
                .chars()
                .all(|c| c == ' ' || c == '\t')
        {
            consumed_start = line_start;
        }
    }
    let mut consumed_end = close + 2;
    if code_end > code_offset && template[..code_end].ends_with('-') {
        code_end -= 1;
        if template[consumed_end..].starts_with("\r\n") {
            consumed_end += 2;
        } else if template[consumed_end..].starts_with('\n') {
            consumed_end += 1;
        }
    }
    let (kind, skip) = match template.as_bytes().get(code_offset) {
        Some(b'=') => (TagKind::Output, 1),
        Some(b'#') => (TagKind::Comment, 0),
        _ => (TagKind::Code, 0),
    };
    code_offset = (code_offset + skip).min(code_end);
    Ok(Tag {
        code: &template[code_offset..code_end],
        code_offset,
        kind,
        consumed: Span {
            file,
            offset: consumed_start,
            len: consumed_end - consumed_start,
        },
    })
}
