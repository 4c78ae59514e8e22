//! Running a password manager's own CLI, as Kamal's adapters do with backticks.
//!
//! The argv is given word by word (Kamal builds a shell string from `shellescape`d words; the
//! words its shell ends up with are these). stdout is captured and is the answer; stdin and
//! stderr stay the user's terminal, because that is where a password manager asks for a
//! password or shows a login link. The answer is never logged nor put into an error.

use std::process::{Command, Stdio};

/// One call of a vendor CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VendorCall {
    pub program: &'static str,
    pub args: Vec<String>,
    /// Variables added to the CLI's environment (Bitwarden's `BW_SESSION`).
    pub env: Vec<(&'static str, String)>,
    /// Whether the CLI's stderr is discarded (Kamal's `2> /dev/null` on status checks).
    pub quiet: bool,
}

impl VendorCall {
    /// `program` with `args`, stderr shown.
    pub fn new(program: &'static str, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        VendorCall {
            program,
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            quiet: false,
        }
    }

    /// The same call with stderr discarded.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// The same call with `name=value` in its environment.
    pub fn env(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.env.push((name, value.into()));
        self
    }
}

/// What a call printed and whether it succeeded; a CLI that cannot start did not succeed.
#[derive(Clone, PartialEq, Eq)]
pub struct VendorOutput {
    pub success: bool,
    pub stdout: String,
}

impl std::fmt::Debug for VendorOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorOutput")
            .field("success", &self.success)
            .finish_non_exhaustive()
    }
}

/// Runs vendor CLIs; tests substitute a recorder.
pub trait VendorRunner {
    fn run(&mut self, call: &VendorCall) -> VendorOutput;
}

/// Runs the real programs found on `PATH`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemRunner;

impl VendorRunner for SystemRunner {
    fn run(&mut self, call: &VendorCall) -> VendorOutput {
        let output = Command::new(call.program)
            .args(&call.args)
            .envs(call.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(if call.quiet {
                Stdio::null()
            } else {
                Stdio::inherit()
            })
            .output();
        match output {
            Ok(output) => VendorOutput {
                success: output.status.success(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            },
            Err(_) => VendorOutput {
                success: false,
                stdout: String::new(),
            },
        }
    }
}
