//! Kamal's deploy lock, as read back from a host.
//!
//! The lock is a directory, `.kamal/lock-<svc[-dest]>/`, on the primary host, holding a
//! `details` file: base64 (with a newline every 60 characters, Ruby's `Base64.encode64`) of
//! `Locked by: <name> at <ISO 8601>\nVersion: <version>\nMessage: <message>`.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// Who holds the lock and why, as far as the details file says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The whole decoded text, for display.
    pub details: String,
    pub holder: Option<String>,
    /// ISO 8601, as written by the holder.
    pub since: Option<String>,
    pub version: Option<String>,
    pub message: Option<String>,
}

impl LockInfo {
    /// Whether the lock was taken automatically by a deploy (Kamal's `Automatic deploy lock`, or
    /// gantry's), as opposed to by hand with a message.
    pub fn is_automatic(&self) -> bool {
        self.message
            .as_deref()
            .is_some_and(|message| message.starts_with("Automatic deploy lock"))
    }
}

/// Reads a details file; text that is not base64 is taken as it is.
pub fn parse_lock_details(contents: &[u8]) -> LockInfo {
    let compact: Vec<u8> = contents
        .iter()
        .copied()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| String::from_utf8_lossy(contents).into_owned());
    let mut info = LockInfo {
        details: decoded.trim_end().to_string(),
        ..LockInfo::default()
    };
    for line in decoded.lines() {
        if let Some(rest) = line.strip_prefix("Locked by: ") {
            match rest.rsplit_once(" at ") {
                Some((holder, since)) => {
                    info.holder = Some(holder.to_string());
                    info.since = Some(since.to_string());
                }
                None => info.holder = Some(rest.to_string()),
            }
        } else if let Some(version) = line.strip_prefix("Version: ") {
            info.version = Some(version.to_string());
        } else if let Some(message) = line.strip_prefix("Message: ") {
            info.message = Some(message.to_string());
        }
    }
    info
}

/// Encodes lock details as Kamal does (`Base64.encode64`: lines of 60 characters).
pub fn encode_lock_details(holder: &str, since: &str, version: &str, message: &str) -> String {
    let text = format!("Locked by: {holder} at {since}\nVersion: {version}\nMessage: {message}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let mut wrapped = String::new();
    for chunk in encoded.as_bytes().chunks(60) {
        wrapped.push_str(&String::from_utf8_lossy(chunk));
        wrapped.push('\n');
    }
    wrapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_kamals_encoding() {
        let encoded = encode_lock_details(
            "Jane Doe",
            "2026-11-26T10:00:00Z",
            "abc123",
            "Automatic deploy lock",
        );
        assert!(encoded.lines().all(|line| line.len() <= 60));
        let info = parse_lock_details(encoded.as_bytes());
        assert_eq!(info.holder.as_deref(), Some("Jane Doe"));
        assert_eq!(info.since.as_deref(), Some("2026-11-26T10:00:00Z"));
        assert_eq!(info.version.as_deref(), Some("abc123"));
        assert!(info.is_automatic());
        assert!(info.details.starts_with("Locked by: Jane Doe at"));
    }

    #[test]
    fn manual_lock_and_garbage() {
        let info = parse_lock_details(
            encode_lock_details("ops", "t", "v", "Migrating the database").as_bytes(),
        );
        assert!(!info.is_automatic());
        let garbage = parse_lock_details(b"not base64 at all!");
        assert_eq!(garbage.details, "not base64 at all!");
        assert_eq!(garbage.holder, None);
    }
}
