//! Kamal's audit log: one line per change, on every host a command touches.
//!
//! `.kamal/<svc[-dest]>-audit.log`, lines `[<UTC time>] [<performer>] [<destination>] [<role>]
//! <message>` with the optional parts left out when empty, exactly as `Kamal::Commands::Auditor`
//! writes them, so `kamal audit` shows gantry's lines among Kamal's.

use crate::host::{Host, HostError};
use crate::naming::ServiceNames;

/// One audit line.
pub fn line(
    recorded_at: &str,
    performer: &str,
    destination: Option<&str>,
    role: Option<&str>,
    message: &str,
) -> String {
    let mut tags = vec![recorded_at, performer];
    tags.extend(destination);
    tags.extend(role);
    let tags: Vec<String> = tags.iter().map(|tag| format!("[{tag}]")).collect();
    format!("{} {message}", tags.join(" "))
}

/// Appends a line to the host's audit log.
pub async fn record(host: &dyn Host, names: &ServiceNames, line: &str) -> Result<(), HostError> {
    host.append_line(&names.audit_log(), line).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_kamals_tags() {
        assert_eq!(
            line(
                "2026-11-26T10:00:00Z",
                "me@x.com",
                Some("staging"),
                Some("web"),
                "Booted app version abc"
            ),
            "[2026-11-26T10:00:00Z] [me@x.com] [staging] [web] Booted app version abc"
        );
        assert_eq!(
            line("t", "me", None, None, "Deployed app version abc"),
            "[t] [me] Deployed app version abc"
        );
    }
}
