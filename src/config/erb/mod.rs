//! ERB in deploy.yml, rendered before YAML parsing, as Kamal renders it.
//!
//! Input: a file's original text, an environment lookup and whether code may run. Output: the
//! rendered text and an [`OffsetMap`] from rendered byte offsets back to the original text, so
//! YAML spans still point at what the user wrote (a value from `ENV` points at its `<%= %>`).
//!
//! The file is read as a whole first ([`template`], [`parse`]): when every tag is one of the
//! forms gantry implements ([`lexer`] → [`parse`] → [`eval`] over [`value`]s), gantry renders
//! it natively, with spans down to the expression. When any tag is not, the whole file goes to
//! Ruby's own ERB ([`ruby`]), so one file never mixes two evaluators. Shell commands and Ruby
//! run only when the loader allows code (the switch that governs `$(...)` in secrets files).
//! specs/config.md §4 lists the forms.

mod ast;
mod builtins;
mod eval;
mod expr;
mod lexer;
mod methods;
mod offset_map;
mod parse;
mod ruby;
mod shell;
mod template;
mod value;

pub use offset_map::OffsetMap;

use super::diagnostic::{Problem, Problems};
use super::source::FileId;
use template::TemplateError;

/// The forms gantry evaluates without Ruby, for help texts.
pub const SUPPORTED_FORMS: &str = "ENV[...], ENV.fetch, ||, &&, !, comparisons, ternaries, \
                                   if/elsif/else/unless, each loops, string methods, \
                                   interpolation, backticks, File.read and Dotenv.load \
                                   (see specs/config.md §4)";

/// What a template may read and run.
pub struct ErbInput<'a> {
    /// `ENV` as the file sees it (the loader adds `KAMAL_DESTINATION`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether backticks, `%x()` and Ruby may run.
    pub allow_commands: bool,
}

/// A rendered file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub map: OffsetMap,
}

/// Renders `template` (the text of `file`); `None` after recording why it cannot be.
pub fn render(
    template: &str,
    file: FileId,
    input: &ErbInput<'_>,
    problems: &mut Problems,
) -> Option<Rendered> {
    if !template.contains("<%") {
        return Some(Rendered {
            text: template.to_string(),
            map: OffsetMap::identity(template.len()),
        });
    }
    let rendered = match template::parse(template, file) {
        Ok(nodes) => {
            let mut evaluator = eval::Evaluator::new(input.env, input.allow_commands);
            let mut text = String::with_capacity(template.len());
            let mut map = OffsetMap::new(template.len());
            evaluator
                .render(&nodes, template, &mut text, &mut map, problems)
                .map(|()| Rendered { text, map })
        }
        Err(TemplateError::Syntax(problem)) => Err(problem),
        Err(TemplateError::Unsupported(unsupported)) => ruby::render(
            template,
            file,
            input.env,
            input.allow_commands,
            &unsupported,
        ),
    };
    rendered
        .map_err(|problem: Problem| problems.error(problem))
        .ok()
}

fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 60 {
        format!("{}…", flat.chars().take(60).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests;
