//! Tokens of one ERB tag → a [`Directive`]: an expression to print, statements to run, or a
//! piece of control flow (`if`, `elsif`, `else`, `unless`, `each do |x|`, `end`).
//!
//! The parser accepts only what the evaluator implements: known methods, `ENV`, `File`,
//! `Dotenv`, `require`, and names the file assigned earlier. Anything else is [`Unsupported`],
//! decided here, before anything runs, so a file is rendered either natively or by Ruby as a
//! whole.

use std::collections::BTreeSet;

pub use super::ast::{Builtin, Directive, Expr, ExprKind, Piece, Statement, Unsupported};
use super::lexer::{Kind, Token, tokenize};
use crate::config::source::{FileId, Span};

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

pub(super) struct Parser<'a> {
    /// The code being parsed; it starts at `whole.offset` of the file.
    pub(super) source: &'a str,
    pub(super) tokens: &'a [Token],
    pub(super) pos: usize,
    pub(super) file: FileId,
    pub(super) whole: Span,
    pub(super) names: &'a mut BTreeSet<String>,
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    pub(super) fn peek_kind(&self) -> Option<&Kind> {
        self.peek().map(|token| &token.kind)
    }

    pub(super) fn eat(&mut self, punct: &str) -> bool {
        let found = matches!(self.peek_kind(), Some(Kind::Punct(p)) if *p == punct)
            || matches!(self.peek_kind(), Some(Kind::Keyword(k)) if *k == punct);
        if found {
            self.pos += 1;
        }
        found
    }

    pub(super) fn expect(&mut self, punct: &str) -> Result<(), Unsupported> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(self.unsupported_here(&format!("code where `{punct}` was expected")))
        }
    }

    fn skip_separators(&mut self) {
        while self.eat(";") || self.eat("\n") {}
    }

    pub(super) fn span_of(&self, token: &Token) -> Span {
        Span {
            file: self.file,
            offset: token.offset,
            len: token.len,
        }
    }

    pub(super) fn unsupported_at(&self, token: &Token, what: &str) -> Unsupported {
        Unsupported {
            span: self.span_of(token),
            what: what.to_string(),
        }
    }

    pub(super) fn unsupported_here(&self, what: &str) -> Unsupported {
        match self.peek() {
            Some(token) => self.unsupported_at(token, what),
            None => Unsupported {
                span: self.whole,
                what: what.to_string(),
            },
        }
    }

    /// The span from `start` to the end of the last token consumed.
    pub(super) fn span_from(&self, start: Span) -> Span {
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
}
