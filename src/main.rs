//! The `gantry` binary: parse the command line, run it, render errors, pick the exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = gantry::cli::parse();
    match gantry::cli::run(cli) {
        Ok(code) => code,
        Err(report) => {
            // Errors quote hosts (daemon messages, container names): no escape sequence of a
            // host reaches the terminal.
            eprintln!(
                "{}",
                gantry::printable::for_terminal(&format!("{report:?}"))
            );
            ExitCode::from(1)
        }
    }
}
