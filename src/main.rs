//! The `gantry` binary: parse the command line, run it, render errors, and turn how the command
//! ended into the process's status: the only place a status is chosen (`specs/exit-codes.md`).

use std::process::ExitCode;

use gantry::session::Exit;

fn main() -> ExitCode {
    let exit = match gantry::cli::parse() {
        Ok(cli) => match gantry::cli::run(cli) {
            Ok(exit) => exit,
            Err(report) => {
                // Errors quote hosts (daemon messages, container names): no escape sequence of a
                // host reaches the terminal.
                eprintln!(
                    "{}",
                    gantry::printable::for_terminal(&format!("{report:?}"))
                );
                Exit::Failed
            }
        },
        Err(exit) => exit,
    };
    ExitCode::from(status(exit))
}

/// The process status of each way a command ends.
fn status(exit: Exit) -> u8 {
    match exit {
        Exit::Success => 0,
        Exit::Failed => 1,
        // `plan --detailed-exitcode` and `drift`: changes to apply; nothing else exits 2.
        Exit::Changes => 2,
        // sysexits.h's EX_USAGE: a mistyped flag never reads as "changes" (2) to cron.
        Exit::Usage => 64,
        // The shell's convention: 128 + the signal (130 for Ctrl-C, 143 SIGTERM, 129 SIGHUP).
        Exit::Interrupted { signal } => u8::try_from(128 + signal).unwrap_or(130),
        Exit::CommandExited(code) => code,
        // The canaries failed and are back on the previous version; the rest never moved.
        Exit::CanaryFailed => 3,
    }
}
