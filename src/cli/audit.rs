//! `gantry audit`: the last 50 lines of the audit log on each selected host, as `kamal audit`
//! shows them (gantry and Kamal write the same file, [`crate::records::audit`]). Reads only: no lock.

use crate::session::Exit;

use clap::Args;

use super::GlobalArgs;
use super::locked::Day2;
use super::session::{TargetArgs, runtime};

/// How many lines of each host's log `kamal audit` shows.
const AUDIT_LINES: usize = 50;

/// `gantry audit` flags.
#[derive(Clone, Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

/// The shell text that prints the end of the audit log at `path` (relative to the SSH user's
/// home, where Kamal keeps `.kamal/`).
fn tail_command(path: &str) -> String {
    format!(
        "tail -n {AUDIT_LINES} {}",
        shlex::try_quote(path).unwrap_or_default()
    )
}

/// Shows each host's audit log.
pub fn run(global: &GlobalArgs, args: &AuditArgs) -> Result<Exit, miette::Report> {
    let day2 = Day2::load(global, &args.target, "audit", None)?;
    let command = tail_command(&day2.names.audit_log());
    let rt = runtime()?;
    let result = rt.block_on(async {
        let connections = day2.connect().await?;
        Ok(super::server::on_every_host(&day2, &connections, &command, false).await)
    });
    rt.shutdown_background();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_kamal_s_fifty_lines_of_the_service_log() {
        assert_eq!(
            tail_command(".kamal/app-staging-audit.log"),
            "tail -n 50 .kamal/app-staging-audit.log"
        );
        assert_eq!(
            tail_command(".kamal/a b.log"),
            "tail -n 50 '.kamal/a b.log'"
        );
    }
}
