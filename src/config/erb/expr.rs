//! Ruby expressions, loosest binding first: `and`/`or`, `not`, ternary, `||`, `&&`,
//! equality, comparison, `+`, `!`, then method calls and indexing on a primary. Only methods
//! in [`METHODS`] and names the file assigned are accepted.

use super::ast::{Builtin, Expr, ExprKind, Piece, Unsupported};
use super::lexer::{Kind, Part, tokenize};
use super::parse::{METHODS, Parser, REQUIRABLE};
use crate::config::source::Span;

impl Parser<'_> {
    /// `a and b`, `a or b`, `not a`: Ruby's lowest precedence.
    pub(super) fn expression(&mut self) -> Result<Expr, Unsupported> {
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
            let safe = self.eat("&.");
            if safe || self.eat(".") {
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
                        safe,
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
                    safe: false,
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
