//! Kamal's audit log: one line per change, on every host a command touches.
//!
//! `.kamal/<svc[-dest]>-audit.log`, lines `[<UTC time>] [<performer>] [<destination>] [<role>]
//! <message>` with the optional parts left out when empty, exactly as `Kamal::Commands::Auditor`
//! writes them, so `kamal audit` shows gantry's lines among Kamal's.
//!
//! Every part is written on one line ([`crate::printable::one_line`]): a line break in an exec
//! command or a rollback cause would otherwise add a line that reads as an entry of its own.

use crate::host::{Host, HostError};
use crate::naming::ServiceNames;
use crate::printable::one_line;
use crate::secret::Redactor;

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
    let tags: Vec<String> = tags
        .iter()
        .map(|tag| format!("[{}]", one_line(tag)))
        .collect();
    format!("{} {}", tags.join(" "), one_line(message))
}

/// Appends a line to the host's audit log.
pub async fn record(host: &dyn Host, names: &ServiceNames, line: &str) -> Result<(), HostError> {
    host.append_line(&names.audit_log(), line).await
}

/// Kamal's line for a command run on `host` (`exec`, `server exec`), secrets scrubbed, appended
/// now by `performer`. Best effort: a host that cannot take it runs the command all the same,
/// as in Kamal.
pub async fn record_command(
    host: &dyn Host,
    names: &ServiceNames,
    performer: &str,
    redactor: &Redactor,
    command: &str,
) {
    let line = line(
        &now_rfc3339(),
        performer,
        names.destination(),
        None,
        &format!("Executed cmd '{command}' on {}", host.name()),
    );
    let _ = record(host, names, &redactor.redact(&line)).await;
}

/// The current time as RFC 3339, UTC, to the second (Kamal's `iso8601`).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
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

    /// A line break in a message or a tag cannot forge a second entry (#15).
    #[test]
    fn a_line_break_cannot_forge_an_entry() {
        let forged = line(
            "t",
            "me\n[t] [admin]",
            None,
            Some("web"),
            "Executed `ls\n[2026-01-01T00:00:00Z] [admin] Deployed app version evil`",
        );
        assert_eq!(forged.lines().count(), 1);
        assert_eq!(
            forged,
            "[t] [me\\n[t] [admin]] [web] Executed `ls\\n[2026-01-01T00:00:00Z] [admin] Deployed app version evil`"
        );
    }
}
