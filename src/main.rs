//! The `gantry` binary: parse the command line, run it, render errors, pick the exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = gantry::cli::parse();
    match gantry::cli::run(cli) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::from(1)
        }
    }
}
