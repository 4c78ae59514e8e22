//! ERB for files that are not configuration: an accessory's `files:` ending in `erb`.
//!
//! The same renderer as deploy.yml's ([`super::erb`]), with one difference: a value may hold
//! line breaks (a certificate, a multi-line script). The renderer refuses those, as they would
//! reshape YAML, so such a value goes in as a placeholder and is put in place afterwards.

use std::cell::RefCell;

use super::diagnostic::Problems;
use super::erb;
use super::source::FileId;

/// Why a template could not be rendered: the first problem, with its line in the template.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TemplateError {
    /// 1-based line of the template.
    pub line: usize,
    /// What is wrong, with the renderer's help text.
    pub message: String,
}

/// Renders `template` reading variables through `env`.
pub fn render_text(
    template: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, TemplateError> {
    let values_with_breaks: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let placeholder = |index: usize| format!("\u{0}gantry-template-value-{index}\u{0}");
    let env_for_renderer = |name: &str| -> Option<String> {
        let value = env(name)?;
        if !value.contains(['\n', '\r']) {
            return Some(value);
        }
        let mut values = values_with_breaks.borrow_mut();
        values.push(value);
        Some(placeholder(values.len() - 1))
    };
    let mut problems = Problems::default();
    // Building the desired state runs nothing: templates get the native forms only, no shell
    // commands and no Ruby (a tag that needs them is an error at its line).
    let input = erb::ErbInput {
        env: &env_for_renderer,
        allow_commands: false,
    };
    let rendered = erb::render(template, FileId(0), &input, &mut problems);
    let (errors, _) = problems.into_parts();
    if let Some(problem) = errors.into_iter().next() {
        let line = problem.span.map_or(1, |span| {
            template[..span.offset.min(template.len())]
                .matches('\n')
                .count()
                + 1
        });
        // The switch the loader's message names does not apply here: templates never run code.
        let help = if problem.code == super::Code::ErbCommandsDisabled {
            Some(
                "gantry renders accessory templates with the ERB forms it evaluates itself and \
                 runs no code for them; rewrite the tag with those forms (specs/config.md, \
                 section 4)"
                    .to_string(),
            )
        } else {
            problem.help
        };
        return Err(TemplateError {
            line,
            message: match help {
                Some(help) => format!("{} ({help})", problem.message),
                None => problem.message,
            },
        });
    }
    let Some(rendered) = rendered else {
        return Err(TemplateError {
            line: 1,
            message: "the template could not be rendered".into(),
        });
    };
    let mut text = rendered.text;
    for (index, value) in values_with_breaks.into_inner().iter().enumerate() {
        text = text.replace(&placeholder(index), value);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PASSWORD" => Some("s3cret".into()),
            "CERT" => Some("-----BEGIN-----\nabc\n-----END-----".into()),
            _ => None,
        }
    }

    #[test]
    fn renders_env_lookups_and_keeps_line_breaks_in_values() {
        assert_eq!(
            render_text(
                "CREATE USER app IDENTIFIED BY '<%= ENV[\"PASSWORD\"] %>';\n<%= ENV['CERT'] %>\n<%= ENV['NOPE'] %>.\n",
                &env
            )
            .unwrap(),
            "CREATE USER app IDENTIFIED BY 's3cret';\n-----BEGIN-----\nabc\n-----END-----\n.\n"
        );
        assert_eq!(
            render_text("no tags at all\n", &env).unwrap(),
            "no tags at all\n"
        );
    }

    #[test]
    fn a_form_gantry_does_not_evaluate_names_its_line() {
        let error = render_text("a\nb\n<% 3.times do %>x<% end %>\n", &env).unwrap_err();
        assert_eq!(error.line, 3, "{error}");
        assert!(error.message.contains("runs no code"), "{error}");
        let error = render_text("<%= ENV.fetch(\"MISSING\") %>", &env).unwrap_err();
        assert!(error.message.contains("MISSING"), "{error}");
    }
}
