//! Running the `gantry` binary in a project directory, as a user would.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a `gantry` run ended.
#[derive(Clone, Debug)]
pub struct GantryRun {
    pub args: Vec<String>,
    /// The exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl GantryRun {
    /// Panics with gantry's output unless it exited with `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "gantry {} exited {:?} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.duration,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `bin` (the `gantry` binary) with `args` in `dir`, with `NO_COLOR` and no terminal.
pub fn run(bin: &Path, dir: &Path, args: &[&str]) -> GantryRun {
    let started = Instant::now();
    let output = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", bin.display()));
    GantryRun {
        args: args.iter().map(|arg| arg.to_string()).collect(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        duration: started.elapsed(),
    }
}
