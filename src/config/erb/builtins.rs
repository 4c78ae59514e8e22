//! The constants and calls gantry implements beyond plain values: `ENV`, `File`, `Dotenv` and
//! `require`. They read the environment and files the way Kamal's Ruby process does.

use super::eval::{Eval, Evaluator, error};
use super::parse::{Builtin, Expr};
use super::value::Value;
use crate::config::diagnostic::{Code, Problem};
use crate::config::secrets::{SecretsOptions, parse_secrets_text};

impl Evaluator<'_> {
    /// `require "dotenv"` (nothing to do) and `require "dotenv/load"` (loads `.env`).
    pub(super) fn require(&mut self, expr: &Expr, args: &[Value]) -> Eval<Value> {
        if let [Value::Str(library)] = args
            && library == "dotenv/load"
        {
            self.dotenv_load(expr, &[])?;
        }
        Ok(Value::Bool(true))
    }

    pub(super) fn call_builtin(
        &mut self,
        builtin: Builtin,
        expr: &Expr,
        method: &str,
        args: &[Value],
    ) -> Eval<Value> {
        match (builtin, method, args) {
            (Builtin::Env, "fetch", [Value::Str(name)]) => match self.env_var(name) {
                Some(value) => Ok(Value::Str(value)),
                None => Err(Problem::new(
                    Code::ErbMissingEnv,
                    format!("environment variable {name} is not set"),
                )
                .at(expr.span, format!("ENV.fetch needs {name}"))
                .help(format!(
                    "set {name} before running gantry, or give a default: \
                     ENV.fetch(\"{name}\", \"...\")"
                ))),
            },
            (Builtin::Env, "fetch", [Value::Str(name), default]) => Ok(self
                .env_var(name)
                .map_or_else(|| default.clone(), Value::Str)),
            (Builtin::Env, "key?", [Value::Str(name)]) => {
                Ok(Value::Bool(self.env_var(name).is_some()))
            }
            (Builtin::File, "read", [Value::Str(path)]) => {
                std::fs::read_to_string(path).map(Value::Str).map_err(|io| {
                    Problem::new(Code::ErbError, format!("cannot read {path}: {io}"))
                        .at(expr.span, "File.read")
                        .help("paths are relative to the directory gantry runs in, as in Kamal")
                })
            }
            (Builtin::File, "exist?", [Value::Str(path)]) => {
                Ok(Value::Bool(std::path::Path::new(path).exists()))
            }
            (Builtin::Dotenv, "load", files) => {
                self.dotenv_load(expr, files)?;
                Ok(Value::Nil)
            }
            _ => Err(error(
                expr,
                &format!("wrong arguments for {}.{method}", builtin.name()),
            )),
        }
    }

    /// Reads each file (`.env` by default) into `ENV` without overriding what is set; a
    /// missing file is skipped, as `Dotenv.load` does.
    fn dotenv_load(&mut self, expr: &Expr, files: &[Value]) -> Eval<()> {
        let default = [Value::Str(".env".to_string())];
        let files = if files.is_empty() {
            &default[..]
        } else {
            files
        };
        for file in files {
            let Value::Str(path) = file else {
                return Err(error(expr, "Dotenv.load takes file names"));
            };
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            let options = SecretsOptions {
                allow_commands: self.allow_commands,
            };
            let values = parse_secrets_text(&text, &options).map_err(|_| {
                Problem::new(Code::ErbError, format!("cannot load {path}"))
                    .at(expr.span, "Dotenv.load")
                    .help(format!(
                        "check {path}: one `KEY=value` per line; `$(...)` needs secret \
                         commands allowed"
                    ))
            })?;
            for (name, value) in values.iter() {
                if self.env_var(name).is_none() {
                    self.dotenv
                        .insert(name.to_string(), value.expose().to_string());
                }
            }
        }
        Ok(())
    }
}
