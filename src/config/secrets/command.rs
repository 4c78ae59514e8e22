//! `$(command)` in a secrets file: run through `sh -c`, with a deadline.
//!
//! stdout becomes the value (one trailing newline removed, as Ruby's `chomp`); stderr goes to
//! the user's terminal untouched, because it is where password managers ask for input. Neither
//! stream is ever logged or put into an error: a failure is reported by exit status only.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one command may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a command gave no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandFailure {
    /// `sh` could not be started.
    Spawn(String),
    /// Non-zero exit, or killed by a signal (`None`).
    Exit(Option<i32>),
    TimedOut,
}

/// Runs `script` with `sh -c`, `variables` added to its environment, and returns its stdout.
pub fn run<'a>(
    script: &str,
    variables: impl IntoIterator<Item = (&'a str, &'a str)>,
    timeout: Duration,
) -> Result<String, CommandFailure> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .envs(variables)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|error| CommandFailure::Spawn(error.to_string()))?;
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut output = Vec::new();
        if let Some(stdout) = stdout.as_mut() {
            // A read error leaves what was read so far; the exit status decides success.
            let _ = stdout.read_to_end(&mut output);
        }
        output
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // The child may have exited in between; either way it must not outlive us.
                let _ = child.kill();
                let _ = child.wait();
                return Err(CommandFailure::TimedOut);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(error) => return Err(CommandFailure::Spawn(error.to_string())),
        }
    };
    let output = reader.join().unwrap_or_default();
    if !status.success() {
        return Err(CommandFailure::Exit(status.code()));
    }
    let mut text = String::from_utf8_lossy(&output).into_owned();
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_loses_one_trailing_newline() {
        assert_eq!(
            run("printf 'a\\n\\n'", [], COMMAND_TIMEOUT),
            Ok("a\n".to_string())
        );
    }

    #[test]
    fn failures_report_the_status_only() {
        assert_eq!(
            run("echo secret; exit 3", [], COMMAND_TIMEOUT),
            Err(CommandFailure::Exit(Some(3)))
        );
    }

    #[test]
    fn slow_commands_are_killed() {
        let started = Instant::now();
        assert_eq!(
            run("sleep 5", [], Duration::from_millis(100)),
            Err(CommandFailure::TimedOut)
        );
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
