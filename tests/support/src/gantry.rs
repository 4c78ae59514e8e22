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

/// A `gantry` run in the background (to interrupt, kill, or race it).
#[derive(Debug)]
pub struct Background {
    child: std::process::Child,
    args: Vec<String>,
    started: Instant,
    dir: tempfile::TempDir,
}

/// Starts `bin` with `args` in `dir` without waiting; `env` is added to its environment.
pub fn spawn(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Background {
    let logs =
        tempfile::tempdir().unwrap_or_else(|error| panic!("creating a log directory: {error}"));
    let stdout =
        std::fs::File::create(logs.path().join("stdout")).unwrap_or_else(|error| panic!("{error}"));
    let stderr =
        std::fs::File::create(logs.path().join("stderr")).unwrap_or_else(|error| panic!("{error}"));
    let child = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|error| panic!("running {}: {error}", bin.display()));
    Background {
        child,
        args: args.iter().map(|arg| arg.to_string()).collect(),
        started: Instant::now(),
        dir: logs,
    }
}

impl Background {
    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`INT`, `TERM`, `KILL`) with `kill(1)`.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .unwrap_or_else(|error| panic!("kill: {error}"));
        assert!(status.success(), "kill -{name} {} failed", self.pid());
    }

    /// What it printed so far.
    pub fn output_so_far(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stdout"), read("stderr"))
    }

    /// Waits for it to exit, killing it after `timeout`.
    pub fn wait(mut self, timeout: Duration) -> GantryRun {
        let code = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.code(),
                Ok(None) if self.started.elapsed() >= timeout => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(error) => panic!("waiting for gantry: {error}"),
            }
        };
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        GantryRun {
            args: self.args.clone(),
            code,
            stdout: read("stdout"),
            stderr: read("stderr"),
            duration: self.started.elapsed(),
        }
    }
}
