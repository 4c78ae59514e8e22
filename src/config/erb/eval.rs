//! Evaluates a parsed template: [`Node`]s → rendered text and its [`OffsetMap`].
//!
//! Ruby's semantics for the forms the parser admits: only `nil` and `false` are false, `<%= %>`
//! prints `to_s`, a method Ruby would not find on a value (`nil.strip`) is an error at that
//! expression, as Kamal's would be. `ENV` is the environment the loader was given plus what
//! `Dotenv.load` read (which, as in the dotenv gem, never overrides a variable that is set).

use std::collections::BTreeMap;

use super::offset_map::OffsetMap;
use super::parse::{Builtin, Expr, ExprKind, Piece, Statement};
use super::shell;
use super::template::Node;
use super::value::Value;
use crate::config::diagnostic::{Code, Problem, Problems};
use crate::config::source::Span;

/// What templates may read and run.
pub struct Evaluator<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether backticks and `%x()` may run (the switch secrets' `$(...)` obeys).
    pub allow_commands: bool,
    /// Variables `Dotenv.load` added.
    pub(super) dotenv: BTreeMap<String, String>,
    /// Locals and constants the template assigned.
    names: BTreeMap<String, Value>,
}

pub(super) type Eval<T> = Result<T, Problem>;

impl<'a> Evaluator<'a> {
    pub fn new(env: &'a dyn Fn(&str) -> Option<String>, allow_commands: bool) -> Self {
        Evaluator {
            env,
            allow_commands,
            dotenv: BTreeMap::new(),
            names: BTreeMap::new(),
        }
    }

    /// Renders `nodes` of `template`; the first error stops rendering, as Ruby's would.
    /// Warnings (a command that failed) go to `problems`.
    pub fn render(
        &mut self,
        nodes: &[Node],
        template: &str,
        out: &mut String,
        map: &mut OffsetMap,
        problems: &mut Problems,
    ) -> Eval<()> {
        for node in nodes {
            match node {
                Node::Text { start, end } => {
                    map.push(out.len(), end - start, *start, end - start, true);
                    out.push_str(&template[*start..*end]);
                }
                Node::Escape { start } => {
                    map.push(out.len(), 2, *start, 3, false);
                    out.push_str("<%");
                }
                Node::Output { expr, consumed } => {
                    let text = self.evaluate(expr, problems)?.to_s();
                    if text.trim_end_matches(['\n', '\r']).contains(['\n', '\r']) {
                        return Err(Problem::new(
                            Code::ErbMultilineValue,
                            "this ERB value contains a line break",
                        )
                        .at(
                            expr.span,
                            "substituting it here would change the YAML structure",
                        )
                        .help(
                            "remove the line break from the value (`.strip`, `.chomp`), or move \
                             the value into .kamal/secrets",
                        ));
                    }
                    map.push(out.len(), text.len(), consumed.offset, consumed.len, false);
                    out.push_str(&text);
                }
                Node::Silent {
                    statements,
                    consumed,
                } => {
                    for statement in statements {
                        match statement {
                            Statement::Assign(name, expr) => {
                                let value = self.evaluate(expr, problems)?;
                                self.names.insert(name.clone(), value);
                            }
                            Statement::Expr(expr) => {
                                self.evaluate(expr, problems)?;
                            }
                        }
                    }
                    map.push(out.len(), 0, consumed.offset, consumed.len, false);
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut chosen = otherwise;
                    for (condition, body) in branches {
                        if self.evaluate(condition, problems)?.truthy() {
                            chosen = body;
                            break;
                        }
                    }
                    self.render(chosen, template, out, map, problems)?;
                }
                Node::Each {
                    list,
                    variable,
                    body,
                } => {
                    let items = match self.evaluate(list, problems)? {
                        Value::Array(items) => items,
                        other => return Err(no_method(list, "each", &other)),
                    };
                    for item in items {
                        self.names.insert(variable.clone(), item);
                        self.render(body, template, out, map, problems)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A variable as the template sees it in `ENV`.
    pub(super) fn env_var(&self, name: &str) -> Option<String> {
        (self.env)(name).or_else(|| self.dotenv.get(name).cloned())
    }

    pub fn evaluate(&mut self, expr: &Expr, problems: &mut Problems) -> Eval<Value> {
        Ok(match &expr.kind {
            ExprKind::Nil => Value::Nil,
            ExprKind::Bool(value) => Value::Bool(*value),
            ExprKind::Int(value) => Value::Int(*value),
            ExprKind::Str(pieces) => Value::Str(self.interpolate(pieces, problems)?),
            ExprKind::Command(pieces) => {
                let script = self.interpolate(pieces, problems)?;
                Value::Str(self.run_command(&script, expr.span, problems)?)
            }
            ExprKind::Array(items) => Value::Array(self.evaluate_all(items, problems)?),
            ExprKind::Name(name) => self.names.get(name).cloned().unwrap_or(Value::Nil),
            ExprKind::Builtin(_) => {
                return Err(error(
                    expr,
                    "this constant is only usable with a method call",
                ));
            }
            ExprKind::Index(target, index) => {
                let index_value = self.evaluate(index, problems)?;
                match (&target.kind, index_value) {
                    (ExprKind::Builtin(Builtin::Env), Value::Str(name)) => {
                        self.env_var(&name).map_or(Value::Nil, Value::Str)
                    }
                    (_, Value::Int(position)) => match self.evaluate(target, problems)? {
                        Value::Array(items) => index_array(&items, position),
                        other => return Err(no_method(expr, "[]", &other)),
                    },
                    (_, other) => return Err(no_method(expr, "[]", &other)),
                }
            }
            ExprKind::Not(inner) => Value::Bool(!self.evaluate(inner, problems)?.truthy()),
            ExprKind::And(left, right) => {
                let left = self.evaluate(left, problems)?;
                if left.truthy() {
                    self.evaluate(right, problems)?
                } else {
                    left
                }
            }
            ExprKind::Or(left, right) => {
                let left = self.evaluate(left, problems)?;
                if left.truthy() {
                    left
                } else {
                    self.evaluate(right, problems)?
                }
            }
            ExprKind::Ternary(condition, then, otherwise) => {
                if self.evaluate(condition, problems)?.truthy() {
                    self.evaluate(then, problems)?
                } else {
                    self.evaluate(otherwise, problems)?
                }
            }
            ExprKind::Binary(op, left, right) => {
                let left = self.evaluate(left, problems)?;
                let right = self.evaluate(right, problems)?;
                super::methods::binary(op, left, right).map_err(|message| error(expr, &message))?
            }
            ExprKind::Call {
                receiver,
                method,
                args,
                safe,
            } => match receiver.as_deref() {
                None => {
                    let args = self.evaluate_all(args, problems)?;
                    self.require(expr, &args)?
                }
                Some(Expr {
                    kind: ExprKind::Builtin(builtin),
                    ..
                }) => {
                    let args = self.evaluate_all(args, problems)?;
                    self.call_builtin(*builtin, expr, method, &args)?
                }
                Some(receiver) => {
                    // Ruby evaluates the receiver first; `&.` skips the call (and its
                    // arguments) on `nil`.
                    let value = self.evaluate(receiver, problems)?;
                    if *safe && value == Value::Nil {
                        Value::Nil
                    } else {
                        let args = self.evaluate_all(args, problems)?;
                        super::methods::call(value, method, &args)
                            .map_err(|message| error(expr, &message))?
                    }
                }
            },
        })
    }

    fn evaluate_all(&mut self, exprs: &[Expr], problems: &mut Problems) -> Eval<Vec<Value>> {
        exprs
            .iter()
            .map(|expr| self.evaluate(expr, problems))
            .collect()
    }

    fn interpolate(&mut self, pieces: &[Piece], problems: &mut Problems) -> Eval<String> {
        let mut text = String::new();
        for piece in pieces {
            match piece {
                Piece::Text(literal) => text.push_str(literal),
                Piece::Code(expr) => text.push_str(&self.evaluate(expr, problems)?.to_s()),
            }
        }
        Ok(text)
    }

    fn run_command(&mut self, script: &str, span: Span, problems: &mut Problems) -> Eval<String> {
        if !self.allow_commands {
            return Err(Problem::new(
                Code::ErbCommandsDisabled,
                "this ERB runs a shell command, and commands are disabled",
            )
            .at(span, "a shell command")
            .help(
                "run without --no-secret-commands (and without GANTRY_SECRET_COMMANDS=0) to \
                 allow it, or pass the value in through the environment",
            ));
        }
        let mut variables: Vec<(String, String)> = self.dotenv.clone().into_iter().collect();
        let destination = (self.env)("KAMAL_DESTINATION");
        if let Some(destination) = &destination {
            variables.push(("KAMAL_DESTINATION".to_string(), destination.clone()));
        }
        let unset: &[&str] = if destination.is_none() {
            &["KAMAL_DESTINATION"]
        } else {
            &[]
        };
        match shell::run(script, &variables, unset) {
            Ok(output) => {
                if output.status != 0 {
                    problems.warn(
                        Problem::new(
                            Code::ErbCommandFailed,
                            format!("this command exited with status {}", output.status),
                        )
                        .at(span, "its output is used anyway, as Kamal uses it")
                        .help("run the command by hand to see its error"),
                    );
                }
                Ok(output.stdout)
            }
            Err(failure) => Err(Problem::new(
                Code::ErbCommandFailed,
                format!("this command {failure}"),
            )
            .at(span, "a shell command")
            .help("run the command by hand to see its error")),
        }
    }
}

fn index_array(items: &[Value], position: i64) -> Value {
    let index = if position < 0 {
        i64::try_from(items.len()).unwrap_or(i64::MAX) + position
    } else {
        position
    };
    usize::try_from(index)
        .ok()
        .and_then(|index| items.get(index))
        .cloned()
        .unwrap_or(Value::Nil)
}

pub(super) fn error(expr: &Expr, message: &str) -> Problem {
    Problem::new(Code::ErbError, format!("ERB error: {message}"))
        .at(expr.span, "Ruby would raise this error here")
        .help("Kamal stops on this error too; fix the expression or the variable it reads")
}

fn no_method(expr: &Expr, method: &str, value: &Value) -> Problem {
    error(
        expr,
        &format!("undefined method `{method}` for {}", value.class()),
    )
}
