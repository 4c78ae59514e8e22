//! Host key verification: OpenSSH's `accept-new`.
//!
//! A host seen for the first time is trusted and recorded in known_hosts. A host whose recorded
//! key differs from the one it presents is refused before anything is sent, with the new key's
//! fingerprint and the known_hosts line: that is either a reinstalled server or someone in the
//! middle, and only a person can tell which. A host recorded only with keys of other types is
//! refused too (russh does not negotiate the recorded type the way OpenSSH does, so accepting
//! the new type would let an attacker pick one).

use std::path::Path;
use std::sync::Mutex;

use russh::keys::ssh_key::PublicKey;
use russh::keys::{HashAlg, known_hosts};

/// known_hosts is appended to by every connection of a run at once; one writer at a time.
static LEARN: Mutex<()> = Mutex::new(());

/// What the check decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The recorded key matches.
    Trusted,
    /// First contact: the key was recorded.
    Learned,
    /// The host presented another key than the recorded one.
    Changed { fingerprint: String, line: usize },
    /// known_hosts could not be read or written.
    Failed(String),
}

/// Checks (and on first contact records) the key `name:port` presents.
pub fn verify(path: &Path, name: &str, port: u16, key: &PublicKey) -> Verdict {
    let _guard = LEARN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let recorded = match known_hosts::known_host_keys_path(name, port, path) {
        Ok(recorded) => recorded,
        Err(error) => return Verdict::Failed(format!("reading {}: {error}", path.display())),
    };
    if recorded.iter().any(|(_, known)| known == key) {
        return Verdict::Trusted;
    }
    if let Some((line, _)) = recorded.first() {
        return Verdict::Changed {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            line: *line,
        };
    }
    match known_hosts::learn_known_hosts_path(name, port, key, path) {
        Ok(()) => Verdict::Learned,
        Err(error) => Verdict::Failed(format!("recording the key in {}: {error}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGMdEBNkD6ZtIp7Mv5Qu8OuYhXEGqR2/XN3nv5OdKC16";
    const SECOND: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIM1aDXrrSEiDaHXdAg89vfQ+Tpgm2nURBBCAjhYCnDwy";

    fn key(base64: &str) -> PublicKey {
        russh::keys::parse_public_key_base64(base64).unwrap()
    }

    #[test]
    fn accept_new_then_trust_then_refuse_a_changed_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let first = key(FIRST);
        assert_eq!(verify(&path, "10.0.0.1", 22, &first), Verdict::Learned);
        assert_eq!(verify(&path, "10.0.0.1", 22, &first), Verdict::Trusted);
        assert_eq!(verify(&path, "10.0.0.1", 2222, &first), Verdict::Learned);
        let other = key(SECOND);
        let Verdict::Changed { fingerprint, line } = verify(&path, "10.0.0.1", 22, &other) else {
            panic!("a different key must be refused");
        };
        assert!(fingerprint.starts_with("SHA256:"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[line - 1].starts_with("10.0.0.1 ssh-ed25519 "),
            "{text}"
        );
        assert!(text.contains("\n[10.0.0.1]:2222 ssh-ed25519 "), "{text}");
    }
}
