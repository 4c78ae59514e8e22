//! The whole file rendered by Ruby's own ERB, for code the native evaluator does not know.
//!
//! Kamal renders deploy.yml with `ERB.new(template, trim_mode: "-").result`; this runs the same
//! call in the `ruby` found on `PATH`, through the shell runner (same deadline, stdin closed,
//! stderr to the user's terminal, where Ruby's own message appears). Ruby sees the process
//! environment, with `KAMAL_DESTINATION` and every variable the file names as the loader's
//! environment has them. ActiveSupport's `blank?`/`present?` are loaded when installed, as Kamal
//! has them. Running Ruby runs the repository's code, so it obeys the same switch as commands.

use super::offset_map::OffsetMap;
use super::parse::Unsupported;
use super::shell;
use super::{Rendered, SUPPORTED_FORMS, one_line};
use crate::config::diagnostic::{Code, Problem};
use crate::config::source::{FileId, Span};

/// Reads the template from the environment, renders it, and answers on stdout with `ok` and
/// the text, or `error`, the template line and the exception class.
const SCRIPT: &str = r#"
template = ENV.delete("GANTRY_ERB_TEMPLATE")
ENV.delete("GANTRY_ERB_SCRIPT")
ENV.delete("GANTRY_RUBY")
begin
  begin
    require "active_support"
    require "active_support/core_ext/object/blank"
  rescue LoadError
  end
  rendered = ERB.new(template, trim_mode: "-").result
  $stdout.write("ok\n", rendered)
rescue Exception => e
  line = (e.backtrace_locations || []).find { |l| l.path == "(erb)" }&.lineno
  line ||= e.message[/\(erb\):(\d+)/, 1]
  $stderr.puts(e.full_message(highlight: false))
  $stdout.write("error\n#{line}\n#{e.class}")
end
"#;

/// Renders `template` with Ruby because of `unsupported`, or says why it could not.
pub fn render(
    template: &str,
    file: FileId,
    env: &dyn Fn(&str) -> Option<String>,
    allow_commands: bool,
    unsupported: &Unsupported,
) -> Result<Rendered, Problem> {
    let code = one_line(enclosing_code(template, unsupported.span.offset));
    if !allow_commands {
        return Err(Problem::new(
            Code::ErbCommandsDisabled,
            format!("`{code}` needs Ruby to render, and running code is disabled"),
        )
        .at(
            unsupported.span,
            format!("gantry does not evaluate {}", unsupported.what),
        )
        .help(
            "run without --no-secret-commands (and without GANTRY_SECRET_COMMANDS=0) so that \
             Ruby renders this file as Kamal does",
        ));
    }
    let Some(ruby) = find_ruby(env) else {
        return Err(Problem::new(
            Code::ErbUnsupported,
            format!("`{code}` needs Ruby to render, and no `ruby` is on PATH"),
        )
        .at(
            unsupported.span,
            format!("gantry does not evaluate {}", unsupported.what),
        )
        .help(format!(
            "install Ruby (e.g. `apt-get install ruby`): gantry then renders this file with \
             Ruby's ERB, as Kamal does. Without Ruby, gantry evaluates {SUPPORTED_FORMS}"
        )));
    };
    let mut variables = vec![
        ("GANTRY_ERB_TEMPLATE".to_string(), template.to_string()),
        ("GANTRY_ERB_SCRIPT".to_string(), SCRIPT.to_string()),
        ("GANTRY_RUBY".to_string(), ruby),
    ];
    // Ruby inherits the process environment; only where the loader's view differs is it set
    // or removed.
    let mut unset = Vec::new();
    for name in named_variables(template) {
        let inherited = std::env::var(name).ok();
        match env(name) {
            value if value == inherited => {}
            Some(value) => variables.push((name.to_string(), value)),
            None => unset.push(name),
        }
    }
    let failed = |why: String| {
        Problem::new(
            Code::ErbError,
            format!("Ruby could not render this file: {why}"),
        )
        .help("Ruby's message is printed above; Kamal stops on the same error")
    };
    let output = shell::run(
        "exec \"$GANTRY_RUBY\" -rerb -e \"$GANTRY_ERB_SCRIPT\"",
        &variables,
        &unset,
    )
    .map_err(|failure| failed(format!("ruby {failure}")))?;
    if let Some(text) = output.stdout.strip_prefix("ok\n") {
        return Ok(Rendered {
            text: text.to_string(),
            map: OffsetMap::by_line(template, text),
        });
    }
    let mut answer = output
        .stdout
        .strip_prefix("error\n")
        .map(|rest| rest.lines());
    let line = answer
        .as_mut()
        .and_then(|lines| lines.next())
        .and_then(|line| line.parse::<usize>().ok());
    let class = answer.and_then(|mut lines| lines.next()).unwrap_or("");
    let problem = if class.is_empty() {
        failed(format!("ruby exited with status {}", output.status))
    } else {
        failed(format!("{class} raised"))
    };
    Err(
        match line.and_then(|line| line_span(template, file, line)) {
            Some(span) => problem.at(span, format!("{class} raised here")),
            None => problem,
        },
    )
}

/// The code of the tag around byte `offset` (`Time.now.year` for `<%= Time.now.year %>`).
fn enclosing_code(template: &str, offset: usize) -> &str {
    let start = template[..offset].rfind("<%").map_or(0, |i| i + 2);
    let end = template[offset..]
        .find("%>")
        .map_or(template.len(), |i| offset + i);
    template[start..end]
        .trim_start_matches(['=', '-'])
        .trim_end_matches('-')
        .trim()
}

/// `ruby` in one of `PATH`'s directories.
fn find_ruby(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = env("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("ruby"))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
        .map(|candidate| candidate.display().to_string())
}

/// Names that look like environment variables (`KAMAL_DESTINATION`, `DB_HOST`) in the file.
fn named_variables(template: &str) -> Vec<&str> {
    let mut names: Vec<&str> = template
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            word.len() > 1
                && word.starts_with(|c: char| c.is_ascii_uppercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && !word.starts_with("GANTRY_ERB")
                && *word != "GANTRY_RUBY"
                && *word != "PATH"
        })
        .collect();
    names.push("KAMAL_DESTINATION");
    names.sort_unstable();
    names.dedup();
    names
}

/// The span of line `line` (1-based) of `template`.
fn line_span(template: &str, file: FileId, line: usize) -> Option<Span> {
    let mut offset = 0;
    for (index, text) in template.split_inclusive('\n').enumerate() {
        if index + 1 == line {
            return Some(Span {
                file,
                offset,
                len: text.trim_end_matches(['\n', '\r']).len(),
            });
        }
        offset += text.len();
    }
    None
}
