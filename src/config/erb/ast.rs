//! The syntax tree of ERB tags: expressions with their spans, statements, and the directives
//! a tag can be (print, run, or a piece of control flow).

use crate::config::source::Span;

/// The constants gantry implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Env,
    File,
    Dotenv,
}

impl Builtin {
    /// The constant as written in Ruby.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Env => "ENV",
            Builtin::File => "File",
            Builtin::Dotenv => "Dotenv",
        }
    }
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
    /// `receiver.method(args)`; `safe` for `&.`, which gives `nil` on a `nil` receiver.
    Call {
        receiver: Option<Box<Expr>>,
        method: String,
        args: Vec<Expr>,
        safe: bool,
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
