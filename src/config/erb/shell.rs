//! Shell commands in ERB (backticks, `%x()`), run as secrets' `$(...)` are: `sh -c`, stdin
//! closed, stderr to the user's terminal, the same deadline.
//!
//! Unlike `$(...)`, Ruby's backticks keep the output whole (trailing newline included) and
//! do not fail on a non-zero exit; so the script runs in a subshell followed by a line with its
//! status, which the shared runner never chomps.

use std::fmt;

use crate::config::secrets::{COMMAND_TIMEOUT, CommandFailure, run_shell};

/// What a command printed and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    pub stdout: String,
    pub status: i32,
}

/// Why a command produced no output at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellFailure(CommandFailure);

impl fmt::Display for ShellFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            CommandFailure::Spawn(error) => write!(f, "could not start sh: {error}"),
            CommandFailure::Exit(Some(code)) => write!(f, "exited with status {code}"),
            CommandFailure::Exit(None) => f.write_str("was killed by a signal"),
            CommandFailure::TimedOut => {
                write!(f, "did not finish within {} s", COMMAND_TIMEOUT.as_secs())
            }
        }
    }
}

/// Runs `script` with `variables` added to the environment and `unset` removed from it.
pub fn run(
    script: &str,
    variables: &[(String, String)],
    unset: &[&str],
) -> Result<CommandOutput, ShellFailure> {
    let mut wrapped = String::new();
    for name in unset {
        wrapped.push_str(&format!("unset {name}; "));
    }
    wrapped.push_str(&format!("({script}\n); printf '\\n%s' \"$?\""));
    let variables = variables
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()));
    let output = run_shell(&wrapped, variables, COMMAND_TIMEOUT).map_err(ShellFailure)?;
    let (stdout, status) = output
        .rsplit_once('\n')
        .ok_or(ShellFailure(CommandFailure::Exit(None)))?;
    Ok(CommandOutput {
        stdout: stdout.to_string(),
        status: status.trim().parse().unwrap_or(-1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_its_trailing_newline_and_status() {
        let output = run("printf 'a\\n'; exit 3", &[], &[]).expect("runs");
        assert_eq!(
            output,
            CommandOutput {
                stdout: "a\n".into(),
                status: 3
            }
        );
    }

    #[test]
    fn variables_are_set_and_unset() {
        let variables = [("GANTRY_ERB_TEST".to_string(), "x y".to_string())];
        let output = run(
            "echo \"$GANTRY_ERB_TEST-${HOME:-none}\"",
            &variables,
            &["HOME"],
        )
        .expect("runs");
        assert_eq!(output.stdout, "x y-none\n");
    }
}
