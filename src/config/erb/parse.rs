//! Tokens of one ERB tag → a [`Directive`]: an expression to print, statements to run, or a
//! piece of control flow (`if`, `elsif`, `else`, `unless`, `each do |x|`, `end`).
//!
//! The parser accepts only what the evaluator implements: known methods, `ENV`, `File`,
//! `Dotenv`, `require`, and names the file assigned earlier. Anything else is [`Unsupported`],
//! decided here, before anything runs, so a file is rendered either natively or by Ruby as a
//! whole.

use std::collections::BTreeSet;

use super::lexer::{Kind, Part, Token, tokenize};
use crate::config::source::{FileId, Span};

/// The constants gantry implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Env,
    File,
    Dotenv,
}

/// A piece of an interpolated string or command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Code(Expr),
}

/// An expression and the bytes of the file it was written as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    Nil,
    Bool(bool),
    Int(i64),
    Str(Vec<Piece>),
    /// A backtick or `%x()`: runs a shell command.
    Command(Vec<Piece>),
    Array(Vec<Expr>),
    /// A local variable or constant the file assigned.
    Name(String),
    Builtin(Builtin),
    Call {
        receiver: Option<Box<Expr>>,
        method: String,
        args: Vec<Expr>,
    },
    Index(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `==`, `!=`, `<`, `<=`, `>`, `>=`, `+`.
    Binary(&'static str, Box<Expr>, Box<Expr>),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// One statement of a `<% %>` tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    Assign(String, Expr),
    Expr(Expr),
}

/// What one tag says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Directive {
    Output(Expr),
    Run(Vec<Statement>),
    If(Expr),
    Unless(Expr),
    Elsif(Expr),
    Else,
    End,
    Each { list: Expr, variable: String },
}

/// Code gantry does not evaluate, and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub span: Span,
    pub what: String,
}

/// Methods the evaluator implements, on any receiver type it knows.
pub const METHODS: &[&str] = &[
    "nil?",
    "empty?",
    "present?",
    "blank?",
    "presence",
    "to_s",
    "to_i",
    "inspect",
    "strip",
    "lstrip",
    "rstrip",
    "chomp",
    "split",
    "upcase",
    "downcase",
    "first",
    "last",
    "join",
    "length",
    "size",
    "include?",
    "start_with?",
    "end_with?",
    "compact",
    "uniq",
    "fetch",
    "key?",
    "read",
    "exist?",
    "load",
];

/// Libraries `require` may name: gantry implements what they provide.
pub const REQUIRABLE: &[&str] = &["dotenv", "dotenv/load"];

/// Parses the code of a tag (`code` at byte `offset` of `file`); `output` for `<%= %>`.
/// `names` holds the names assigned so far in the file and learns new ones.
pub fn parse_tag(
    code: &str,
    offset: usize,
    file: FileId,
    output: bool,
    names: &mut BTreeSet<String>,
) -> Result<Directive, Unsupported> {
    let tokens = tokenize(code, offset).map_err(|error| Unsupported {
        span: Span {
            file,
            offset: error.offset,
            len: error.len,
        },
        what: error.what,
    })?;
    let whole = Span {
        file,
        offset,
        len: code.len(),
    };
    let mut parser = Parser {
        source: code,
        tokens: &tokens,
        pos: 0,
        file,
        whole,
        names,
    };
    parser.skip_separators();
    let directive = if output {
        Directive::Output(parser.expression()?)
    } else {
        parser.directive()?
    };
    parser.skip_separators();
    match parser.peek() {
        None => Ok(directive),
        Some(token) => Err(parser.unsupported_at(token, "more code after the expression")),
    }
}

struct Parser<'a> {
    /// The code being parsed; it starts at `whole.offset` of the file.
    source: &'a str,
    tokens: &'a [Token],
    pos: usize,
    file: FileId,
    whole: Span,
    names: &'a mut BTreeSet<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_kind(&self) -> Option<&Kind> {
        self.peek().map(|token| &token.kind)
    }

    fn eat(&mut self, punct: &str) -> bool {
        let found = matches!(self.peek_kind(), Some(Kind::Punct(p)) if *p == punct)
            || matches!(self.peek_kind(), Some(Kind::Keyword(k)) if *k == punct);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, punct: &str) -> Result<(), Unsupported> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(self.unsupported_here(&format!("code where `{punct}` was expected")))
        }
    }

    fn skip_separators(&mut self) {
        while self.eat(";") || self.eat("\n") {}
    }

    fn span_of(&self, token: &Token) -> Span {
        Span {
            file: self.file,
            offset: token.offset,
            len: token.len,
        }
    }

    fn unsupported_at(&self, token: &Token, what: &str) -> Unsupported {
        Unsupported {
            span: self.span_of(token),
            what: what.to_string(),
        }
    }

    fn unsupported_here(&self, what: &str) -> Unsupported {
        match self.peek() {
            Some(token) => self.unsupported_at(token, what),
            None => Unsupported {
                span: self.whole,
                what: what.to_string(),
            },
        }
    }

    /// The span from `start` to the end of the last token consumed.
    fn span_from(&self, start: Span) -> Span {
        let end = self
            .tokens
            .get(self.pos.saturating_sub(1))
            .map_or(start.offset + start.len, |token| token.offset + token.len);
        Span {
            file: self.file,
            offset: start.offset,
            len: end.saturating_sub(start.offset),
        }
    }

    fn directive(&mut self) -> Result<Directive, Unsupported> {
        for (keyword, make) in [
            ("if", Directive::If as fn(Expr) -> Directive),
            ("unless", Directive::Unless),
            ("elsif", Directive::Elsif),
        ] {
            if self.eat(keyword) {
                let condition = self.expression()?;
                self.eat("then");
                return Ok(make(condition));
            }
        }
        if self.eat("else") {
            return Ok(Directive::Else);
        }
        if self.eat("end") {
            return Ok(Directive::End);
        }
        if let Some(each) = self.each()? {
            return Ok(each);
        }
        let mut statements = Vec::new();
        while self.peek().is_some() {
            statements.push(self.statement()?);
            if self.peek().is_some() && !(self.eat(";") || self.eat("\n")) {
                return Err(self.unsupported_here("more code after the statement"));
            }
            self.skip_separators();
        }
        Ok(Directive::Run(statements))
    }

    /// `LIST.each do |x|`: the tag's last six tokens are `. each do | x |`.
    fn each(&mut self) -> Result<Option<Directive>, Unsupported> {
        let rest = &self.tokens[self.pos..];
        let n = rest.len();
        if n < 7 {
            return Ok(None);
        }
        let tail: Vec<&Kind> = rest[n - 6..].iter().map(|token| &token.kind).collect();
        let (Kind::Punct("."), Kind::Ident(each), Kind::Keyword("do"), Kind::Punct("|")) =
            (tail[0], tail[1], tail[2], tail[3])
        else {
            return Ok(None);
        };
        let (Kind::Ident(variable), Kind::Punct("|")) = (tail[4], tail[5]) else {
            return Ok(None);
        };
        if each != "each" {
            return Ok(None);
        }
        let variable = variable.clone();
        let mut list_parser = Parser {
            source: self.source,
            tokens: &self.tokens[..self.pos + n - 6],
            pos: self.pos,
            file: self.file,
            whole: self.whole,
            names: self.names,
        };
        let list = list_parser.expression()?;
        if list_parser.peek().is_some() {
            return Err(list_parser.unsupported_here("more code before `.each`"));
        }
        self.pos += n;
        self.names.insert(variable.clone());
        Ok(Some(Directive::Each { list, variable }))
    }

    fn statement(&mut self) -> Result<Statement, Unsupported> {
        if let (Some(Kind::Ident(name) | Kind::Const(name)), Some(Kind::Punct("="))) = (
            self.peek_kind(),
            self.tokens.get(self.pos + 1).map(|token| &token.kind),
        ) {
            let name = name.clone();
            self.pos += 2;
            let value = self.expression()?;
            self.names.insert(name.clone());
            return Ok(Statement::Assign(name, value));
        }
        Ok(Statement::Expr(self.expression()?))
    }

    /// `a and b`, `a or b`, `not a`: Ruby's lowest precedence.
    pub fn expression(&mut self) -> Result<Expr, Unsupported> {
        let mut left = self.not_expression()?;
        loop {
            let and = if self.eat("and") {
                true
            } else if self.eat("or") {
                false
            } else {
                return Ok(left);
            };
            let right = self.not_expression()?;
            left = self.join(left, right, |a, b| {
                if and {
                    ExprKind::And(a, b)
                } else {
                    ExprKind::Or(a, b)
                }
            });
        }
    }

    fn not_expression(&mut self) -> Result<Expr, Unsupported> {
        let start = self.peek().map(|token| self.span_of(token));
        if self.eat("not") {
            let inner = self.not_expression()?;
            let span = self.span_from(start.unwrap_or(inner.span));
            return Ok(Expr {
                kind: ExprKind::Not(Box::new(inner)),
                span,
            });
        }
        self.ternary()
    }

    fn ternary(&mut self) -> Result<Expr, Unsupported> {
        let condition = self.binary(0)?;
        if !self.eat("?") {
            return Ok(condition);
        }
        let then = self.ternary()?;
        self.expect(":")?;
        let otherwise = self.ternary()?;
        let span = self.span_from(condition.span);
        Ok(Expr {
            kind: ExprKind::Ternary(Box::new(condition), Box::new(then), Box::new(otherwise)),
            span,
        })
    }

    /// Binary operators by level, loosest first.
    fn binary(&mut self, level: usize) -> Result<Expr, Unsupported> {
        const LEVELS: &[&[&str]] = &[
            &["||"],
            &["&&"],
            &["==", "!="],
            &["<", "<=", ">", ">="],
            &["+"],
        ];
        let Some(operators) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut left = self.binary(level + 1)?;
        loop {
            let Some(op) = operators.iter().find(|op| self.eat(op)).copied() else {
                return Ok(left);
            };
            let right = self.binary(level + 1)?;
            left = self.join(left, right, |a, b| match op {
                "||" => ExprKind::Or(a, b),
                "&&" => ExprKind::And(a, b),
                op => ExprKind::Binary(op, a, b),
            });
        }
    }

    fn join(
        &self,
        left: Expr,
        right: Expr,
        make: impl FnOnce(Box<Expr>, Box<Expr>) -> ExprKind,
    ) -> Expr {
        let span = self.span_from(left.span);
        Expr {
            kind: make(Box::new(left), Box::new(right)),
            span,
        }
    }

    fn unary(&mut self) -> Result<Expr, Unsupported> {
        let start = self.peek().map(|token| self.span_of(token));
        if self.eat("!") {
            let inner = self.unary()?;
            let span = self.span_from(start.unwrap_or(inner.span));
            return Ok(Expr {
                kind: ExprKind::Not(Box::new(inner)),
                span,
            });
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, Unsupported> {
        let mut expr = self.primary()?;
        loop {
            if self.eat(".") {
                let Some(token) = self.peek().cloned() else {
                    return Err(self.unsupported_here("a method name"));
                };
                let Kind::Ident(method) = &token.kind else {
                    return Err(self.unsupported_at(&token, "this method call"));
                };
                if !METHODS.contains(&method.as_str()) {
                    return Err(self.unsupported_at(&token, &format!("the method `{method}`")));
                }
                self.pos += 1;
                let args = self.arguments()?;
                let span = self.span_from(expr.span);
                expr = Expr {
                    kind: ExprKind::Call {
                        receiver: Some(Box::new(expr)),
                        method: method.clone(),
                        args,
                    },
                    span,
                };
            } else if self.eat("[") {
                let index = self.expression()?;
                self.expect("]")?;
                let span = self.span_from(expr.span);
                expr = Expr {
                    kind: ExprKind::Index(Box::new(expr), Box::new(index)),
                    span,
                };
            } else {
                return Ok(expr);
            }
        }
    }

    /// `(a, b)` after a method name, or nothing.
    fn arguments(&mut self) -> Result<Vec<Expr>, Unsupported> {
        let mut args = Vec::new();
        if !self.eat("(") {
            return Ok(args);
        }
        if self.eat(")") {
            return Ok(args);
        }
        loop {
            args.push(self.expression()?);
            if self.eat(")") {
                return Ok(args);
            }
            self.expect(",")?;
        }
    }

    fn primary(&mut self) -> Result<Expr, Unsupported> {
        let Some(token) = self.peek().cloned() else {
            return Err(self.unsupported_here("an empty expression"));
        };
        let span = self.span_of(&token);
        self.pos += 1;
        let kind = match &token.kind {
            Kind::Keyword("nil") => ExprKind::Nil,
            Kind::Keyword("true") => ExprKind::Bool(true),
            Kind::Keyword("false") => ExprKind::Bool(false),
            Kind::Int(value) => ExprKind::Int(*value),
            Kind::Str(parts) => ExprKind::Str(self.pieces(parts)?),
            Kind::Command(parts) => ExprKind::Command(self.pieces(parts)?),
            Kind::Words(words) => ExprKind::Array(
                words
                    .iter()
                    .map(|word| Expr {
                        kind: ExprKind::Str(vec![Piece::Text(word.clone())]),
                        span,
                    })
                    .collect(),
            ),
            Kind::Punct("(") => {
                let inner = self.expression()?;
                self.expect(")")?;
                return Ok(Expr {
                    kind: inner.kind,
                    span: self.span_from(span),
                });
            }
            Kind::Punct("[") => {
                let mut items = Vec::new();
                while !self.eat("]") {
                    items.push(self.expression()?);
                    if !self.eat(",") {
                        self.expect("]")?;
                        break;
                    }
                }
                ExprKind::Array(items)
            }
            Kind::Const(name) => match name.as_str() {
                "ENV" => ExprKind::Builtin(Builtin::Env),
                "File" => ExprKind::Builtin(Builtin::File),
                "Dotenv" => ExprKind::Builtin(Builtin::Dotenv),
                _ if self.names.contains(name) => ExprKind::Name(name.clone()),
                _ => return Err(self.unsupported_at(&token, &format!("the constant `{name}`"))),
            },
            Kind::Ident(name) if self.names.contains(name) => ExprKind::Name(name.clone()),
            Kind::Ident(name) if name == "require" => {
                let args = if matches!(self.peek_kind(), Some(Kind::Str(_))) {
                    vec![self.primary()?]
                } else {
                    self.arguments()?
                };
                let library = match args.as_slice() {
                    [
                        Expr {
                            kind: ExprKind::Str(pieces),
                            ..
                        },
                    ] => match pieces.as_slice() {
                        [Piece::Text(library)] => library.as_str(),
                        _ => "",
                    },
                    _ => "",
                };
                if !REQUIRABLE.contains(&library) {
                    return Err(self.unsupported_at(&token, "this `require`"));
                }
                ExprKind::Call {
                    receiver: None,
                    method: name.clone(),
                    args,
                }
            }
            Kind::Ident(name) => {
                return Err(self.unsupported_at(&token, &format!("the method `{name}`")));
            }
            _ => return Err(self.unsupported_at(&token, "this code")),
        };
        Ok(Expr {
            kind,
            span: self.span_from(span),
        })
    }

    /// Parses each `#{...}` of a string or command.
    fn pieces(&mut self, parts: &[Part]) -> Result<Vec<Piece>, Unsupported> {
        parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => Ok(Piece::Text(text.clone())),
                Part::Code { offset, len } => {
                    let start = offset - self.whole.offset;
                    let code = self.source.get(start..start + len).unwrap_or_default();
                    let tokens = tokenize(code, *offset).map_err(|error| Unsupported {
                        span: Span {
                            file: self.file,
                            offset: error.offset,
                            len: error.len,
                        },
                        what: error.what,
                    })?;
                    let mut inner = Parser {
                        source: code,
                        tokens: &tokens,
                        pos: 0,
                        file: self.file,
                        whole: Span {
                            file: self.file,
                            offset: *offset,
                            len: *len,
                        },
                        names: self.names,
                    };
                    let expr = inner.expression()?;
                    if inner.peek().is_some() {
                        return Err(inner.unsupported_here("more code in the interpolation"));
                    }
                    Ok(Piece::Code(expr))
                }
            })
            .collect()
    }
}
