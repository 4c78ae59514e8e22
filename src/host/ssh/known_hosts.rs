//! Host key verification against OpenSSH's known_hosts files, with OpenSSH's `accept-new`.
//!
//! Input: the files and settings OpenSSH would use ([`HostKeys`]: every `UserKnownHostsFile`,
//! every `GlobalKnownHostsFile`, `HostKeyAlias`, `StrictHostKeyChecking`), the name and port
//! the host is reached at, the key it presented. Output: a [`Verdict`]. A host found in none
//! of the files is trusted and recorded in the first user file (`accept-new`), or refused
//! under `StrictHostKeyChecking yes` (never recorded); a host whose
//! recorded key of the same type differs is refused with the new key's fingerprint and the
//! known_hosts line, before anything is sent: that is a reinstalled server or someone in the
//! middle, and only a person can tell which. A host recorded only with keys of other types is
//! refused too: [`preferred_algorithms`] makes the handshake ask for the recorded types first, as
//! OpenSSH does, so a server that no longer offers them is not silently re-learned.
//!
//! The file format is OpenSSH's: comma-separated host patterns (`*`, `?`, `!negation`,
//! `[host]:port`, hashed `|1|salt|hmac`), `@revoked` keys refused wherever they appear. A host
//! pinned by `@cert-authority` is refused unless a plain key line trusts it: gantry does not
//! check host certificates, and learning a plain key would undo the pin. Lines that do not
//! parse are skipped, like OpenSSH does. This module never writes anything but whole appended
//! lines, and creates a missing `~/.ssh` with mode 0700 as OpenSSH does.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::ssh_key::{Algorithm, PublicKey};
use russh::keys::{HashAlg, parse_public_key_base64};
use sha1::Sha1;

/// Every connection of a run checks and appends at once; one reader-writer at a time keeps a host
/// connected twice from being recorded twice and lines from interleaving.
static KNOWN_HOSTS_LOCK: Mutex<()> = Mutex::new(());

/// Where a host's key is looked up and what an unknown host gets, as OpenSSH's options say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKeys {
    /// `UserKnownHostsFile` (all of them): read; a new key is recorded in the first.
    pub user_files: Vec<PathBuf>,
    /// `GlobalKnownHostsFile` (`/etc/ssh/ssh_known_hosts` and `ssh_known_hosts2` by default):
    /// read, never written.
    pub global_files: Vec<PathBuf>,
    /// `HostKeyAlias`: the name keys are looked up and recorded under, instead of
    /// `host` or `[host]:port`.
    pub alias: Option<String>,
    /// `StrictHostKeyChecking yes` (or `ask`, which has no one to ask here): an unknown host is
    /// refused and nothing is recorded.
    pub strict: bool,
}

impl HostKeys {
    /// One file, read and written, and OpenSSH's defaults otherwise.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        HostKeys {
            user_files: vec![path.into()],
            global_files: Vec::new(),
            alias: None,
            strict: false,
        }
    }

    /// OpenSSH's default global files.
    pub fn default_global_files() -> Vec<PathBuf> {
        vec![
            PathBuf::from("/etc/ssh/ssh_known_hosts"),
            PathBuf::from("/etc/ssh/ssh_known_hosts2"),
        ]
    }

    /// The file new keys go to, for messages.
    pub fn recorded_in(&self) -> &Path {
        self.user_files
            .first()
            .map_or(Path::new("~/.ssh/known_hosts"), PathBuf::as_path)
    }

    /// The name the host's keys are filed under.
    fn lookup_name(&self, host: &str, port: u16) -> String {
        self.alias
            .clone()
            .unwrap_or_else(|| lookup_name(host, port))
    }

    /// Every usable line of every file, user files first; a missing file has none.
    fn entries(&self) -> Result<Vec<Entry>, String> {
        let mut entries = Vec::new();
        for path in self.user_files.iter().chain(&self.global_files) {
            entries.extend(parse(&read(path)?, path));
        }
        Ok(entries)
    }
}

/// What the check decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The recorded key matches.
    Trusted,
    /// First contact: the key was recorded.
    Learned,
    /// First contact under `StrictHostKeyChecking yes`: refused, nothing recorded.
    Unknown { fingerprint: String },
    /// The host is pinned by a `@cert-authority` line, and gantry does not check certificates.
    CertificateRequired { file: PathBuf, line: usize },
    /// The host presented another key than the recorded one.
    Changed { fingerprint: String, line: usize },
    /// The presented key is listed as `@revoked`.
    Revoked { fingerprint: String, line: usize },
    /// known_hosts could not be read or written.
    Failed(String),
}

/// One usable line of a known_hosts file.
struct Entry {
    file: PathBuf,
    line: usize,
    marker: Marker,
    patterns: String,
    key: PublicKey,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

/// The name OpenSSH looks a host up by: `host`, or `[host]:port` off port 22.
fn lookup_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

fn parse(text: &str, file: &Path) -> Vec<Entry> {
    let mut entries = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let mut fields = raw.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        if first.starts_with('#') {
            continue;
        }
        let marker = match first {
            "@revoked" => Marker::Revoked,
            "@cert-authority" => Marker::CertAuthority,
            _ => Marker::None,
        };
        if marker != Marker::None {
            let Some(patterns) = fields.next() else {
                continue;
            };
            first = patterns;
        }
        let (Some(_key_type), Some(key_base64)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(key) = parse_public_key_base64(key_base64) else {
            continue;
        };
        entries.push(Entry {
            file: file.to_path_buf(),
            line: index + 1,
            marker,
            patterns: first.to_string(),
            key,
        });
    }
    entries
}

/// OpenSSH's pattern list: a negated match excludes the line, else any positive match includes it.
fn matches_patterns(name: &str, patterns: &str) -> bool {
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if matches_one(name, negated) {
                return false;
            }
        } else if matches_one(name, pattern) {
            matched = true;
        }
    }
    matched
}

fn matches_one(name: &str, pattern: &str) -> bool {
    match pattern.strip_prefix("|1|") {
        Some(hashed) => matches_hashed(name, hashed),
        None => wildcard_match(name.as_bytes(), pattern.as_bytes()),
    }
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as `HashKnownHosts yes` writes it.
fn matches_hashed(name: &str, hashed: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((salt, digest)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(digest)) = (engine.decode(salt), engine.decode(digest)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&digest).is_ok()
}

/// `*` and `?` globbing, ASCII case-insensitive like OpenSSH's `match_pattern`.
fn wildcard_match(name: &[u8], pattern: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard_match(&name[skip..], rest)),
        Some((b'?', rest)) => !name.is_empty() && wildcard_match(&name[1..], rest),
        Some((expected, rest)) => match name.split_first() {
            Some((actual, name_rest)) => {
                actual.eq_ignore_ascii_case(expected) && wildcard_match(name_rest, rest)
            }
            None => false,
        },
    }
}

fn same_family(left: &Algorithm, right: &Algorithm) -> bool {
    left == right
        || (matches!(left, Algorithm::Rsa { .. }) && matches!(right, Algorithm::Rsa { .. }))
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn read(path: &Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(format!("reading {}: {error}", path.display())),
    }
}

/// Host key algorithms in the order to offer them: the types recorded for this host first (so
/// the server shows the key that can be checked), then russh's defaults.
pub fn preferred_algorithms(keys: &HostKeys, host: &str, port: u16) -> Vec<Algorithm> {
    let defaults = russh::Preferred::DEFAULT.key.to_vec();
    let name = keys.lookup_name(host, port);
    let recorded: Vec<Algorithm> = keys
        .entries()
        .unwrap_or_default()
        .into_iter()
        .filter(|entry| entry.marker == Marker::None && matches_patterns(&name, &entry.patterns))
        .map(|entry| entry.key.algorithm())
        .collect();
    let (mut first, rest): (Vec<Algorithm>, Vec<Algorithm>) = defaults
        .into_iter()
        .partition(|algorithm| recorded.iter().any(|known| same_family(known, algorithm)));
    first.extend(rest);
    first
}

/// Checks the key `host:port` presents against every file and, on first contact, records it
/// (unless strict, or pinned by a certificate authority).
pub fn verify(keys: &HostKeys, host: &str, port: u16, key: &PublicKey) -> Verdict {
    let _guard = KNOWN_HOSTS_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let entries = match keys.entries() {
        Ok(entries) => entries,
        Err(message) => return Verdict::Failed(message),
    };
    if let Some(revoked) = entries
        .iter()
        .find(|entry| entry.marker == Marker::Revoked && entry.key.key_data() == key.key_data())
    {
        return Verdict::Revoked {
            fingerprint: fingerprint(key),
            line: revoked.line,
        };
    }
    let name = keys.lookup_name(host, port);
    let name = name.as_str();
    let matching = |marker: Marker| {
        entries
            .iter()
            .filter(move |entry| entry.marker == marker && matches_patterns(name, &entry.patterns))
    };
    let recorded: Vec<&Entry> = matching(Marker::None).collect();
    if recorded
        .iter()
        .any(|entry| entry.key.key_data() == key.key_data())
    {
        return Verdict::Trusted;
    }
    let same_type = recorded
        .iter()
        .find(|entry| same_family(&entry.key.algorithm(), &key.algorithm()));
    if let Some(entry) = same_type.or(recorded.first()) {
        return Verdict::Changed {
            fingerprint: fingerprint(key),
            line: entry.line,
        };
    }
    if let Some(authority) = matching(Marker::CertAuthority).next() {
        return Verdict::CertificateRequired {
            file: authority.file.clone(),
            line: authority.line,
        };
    }
    if keys.strict {
        return Verdict::Unknown {
            fingerprint: fingerprint(key),
        };
    }
    let Some(path) = keys.user_files.first() else {
        return Verdict::Failed("no UserKnownHostsFile to record the host key in".into());
    };
    let current = match read(path) {
        Ok(text) => text,
        Err(message) => return Verdict::Failed(message),
    };
    match append(path, &current, &keys.lookup_name(host, port), key) {
        Ok(()) => Verdict::Learned,
        Err(error) => Verdict::Failed(format!("recording the key in {}: {error}", path.display())),
    }
}

/// Appends `name keytype base64` as one write, after a newline if the file lacks its last one.
fn append(path: &Path, current: &str, name: &str, key: &PublicKey) -> std::io::Result<()> {
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty() && !parent.exists())
    {
        // As OpenSSH makes `~/.ssh`: private to its owner.
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    let encoded = key.to_openssh().map_err(std::io::Error::other)?;
    let mut parts = encoded.split_whitespace();
    let (Some(key_type), Some(key_base64)) = (parts.next(), parts.next()) else {
        return Err(std::io::Error::other("the key has no OpenSSH encoding"));
    };
    let separator = if current.is_empty() || current.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    let line = format!("{separator}{name} {key_type} {key_base64}\n");
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIGMdEBNkD6ZtIp7Mv5Qu8OuYhXEGqR2/XN3nv5OdKC16";
    const SECOND: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIM1aDXrrSEiDaHXdAg89vfQ+Tpgm2nURBBCAjhYCnDwy";
    const RSA: &str = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQCrBSgISk3UHhPTLf93v5jqhkLxLyaJMWhOwSXXUQJSa4OZhrbLk/KxQ+TiTSJ87f0XKP2Jax/EYAwe9OgQpBGWc/sgYvyKR0QM9S9VjpBzxMF2S/7CTIIlO8fP7gM8+r1dptBJZal7+Eicz5DbceeH6AEysbG7G6h2VW44B+fWpQ==";

    fn key(base64: &str) -> PublicKey {
        parse_public_key_base64(base64).unwrap()
    }

    fn known_hosts(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn accept_new_then_trust_then_refuse_a_changed_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ssh").join("known_hosts");
        let first = key(FIRST);
        assert_eq!(
            verify(&HostKeys::file(&path), "10.0.0.1", 22, &first),
            Verdict::Learned
        );
        assert_eq!(
            verify(&HostKeys::file(&path), "10.0.0.1", 22, &first),
            Verdict::Trusted
        );
        assert_eq!(
            verify(&HostKeys::file(&path), "10.0.0.1", 2222, &first),
            Verdict::Learned
        );
        let Verdict::Changed { fingerprint, line } =
            verify(&HostKeys::file(&path), "10.0.0.1", 22, &key(SECOND))
        else {
            panic!("a different key must be refused");
        };
        assert_eq!(
            fingerprint,
            key(SECOND).fingerprint(HashAlg::Sha256).to_string()
        );
        assert!(fingerprint.starts_with("SHA256:"));
        assert_eq!(line, 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("10.0.0.1 ssh-ed25519 {FIRST}\n[10.0.0.1]:2222 ssh-ed25519 {FIRST}\n")
        );
    }

    #[test]
    fn line_numbers_count_comments_and_blank_lines() {
        let (_dir, path) = known_hosts(&format!(
            "# comment\n\nother ssh-ed25519 {SECOND}\nweb-1,10.0.0.5\tssh-ed25519   {FIRST}\n"
        ));
        assert_eq!(
            verify(&HostKeys::file(&path), "web-1", 22, &key(FIRST)),
            Verdict::Trusted
        );
        assert_eq!(
            verify(&HostKeys::file(&path), "10.0.0.5", 22, &key(FIRST)),
            Verdict::Trusted
        );
        let Verdict::Changed { line, .. } =
            verify(&HostKeys::file(&path), "web-1", 22, &key(SECOND))
        else {
            panic!("changed");
        };
        assert_eq!(line, 4);
    }

    #[test]
    fn hashed_entries_written_by_ssh_keygen_match() {
        // `ssh-keygen -H` output for `10.0.0.1` and `[10.0.0.1]:2222`.
        let (_dir, path) = known_hosts(&format!(
            "|1|SEVOJy9QhkU5oKMaO6xWn8MCsJA=|Ep2vWmr8moI/r/A3a5DvhmdDxKc= ssh-ed25519 {FIRST}\n\
             |1|FQTgyC23P9vVs1zuxSnvNEsjLnY=|UFboo6nkRHhZjS8bnOLaSzK6Mjg= ssh-ed25519 {SECOND}\n"
        ));
        assert_eq!(
            verify(&HostKeys::file(&path), "10.0.0.1", 22, &key(FIRST)),
            Verdict::Trusted
        );
        assert_eq!(
            verify(&HostKeys::file(&path), "10.0.0.1", 2222, &key(SECOND)),
            Verdict::Trusted
        );
        assert!(matches!(
            verify(&HostKeys::file(&path), "10.0.0.1", 2222, &key(FIRST)),
            Verdict::Changed { line: 2, .. }
        ));
    }

    #[test]
    fn wildcards_negation_and_markers() {
        let (_dir, path) = known_hosts(&format!(
            "*.example.com,!bad.example.com ssh-ed25519 {FIRST}\n\
             @cert-authority *.example.com ssh-ed25519 {SECOND}\n\
             @revoked * ssh-ed25519 {SECOND}\n"
        ));
        assert_eq!(
            verify(&HostKeys::file(&path), "web.EXAMPLE.com", 22, &key(FIRST)),
            Verdict::Trusted
        );
        assert!(matches!(
            verify(&HostKeys::file(&path), "web.example.com", 22, &key(SECOND)),
            Verdict::Revoked { line: 3, .. }
        ));
        // Negated from the plain line, bad.example.com is still pinned by the authority: its
        // plain key is refused, not learned (#15).
        assert_eq!(
            verify(&HostKeys::file(&path), "bad.example.com", 22, &key(FIRST)),
            Verdict::CertificateRequired {
                file: path.clone(),
                line: 2
            }
        );
        assert_eq!(
            verify(&HostKeys::file(&path), "other.test", 22, &key(FIRST)),
            Verdict::Learned
        );
    }

    #[test]
    fn a_host_known_only_by_another_key_type_is_refused_and_that_type_is_asked_for_first() {
        let (_dir, path) = known_hosts(&format!("10.0.0.1 ssh-rsa {RSA}\n"));
        let preferred = preferred_algorithms(&HostKeys::file(&path), "10.0.0.1", 22);
        assert!(
            matches!(preferred[0], Algorithm::Rsa { .. }),
            "{preferred:?}"
        );
        assert_eq!(
            preferred.len(),
            russh::Preferred::DEFAULT.key.len(),
            "nothing added or lost"
        );
        assert_eq!(
            preferred_algorithms(&HostKeys::file(&path), "10.0.0.2", 22),
            russh::Preferred::DEFAULT.key.to_vec()
        );
        assert!(matches!(
            verify(&HostKeys::file(&path), "10.0.0.1", 22, &key(FIRST)),
            Verdict::Changed { line: 1, .. }
        ));
    }

    #[test]
    fn an_unreadable_known_hosts_fails_instead_of_trusting() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be.
        assert!(matches!(
            verify(&HostKeys::file(dir.path()), "10.0.0.1", 22, &key(FIRST)),
            Verdict::Failed(_)
        ));
    }

    /// A host pinned only in a global file (`/etc/ssh/ssh_known_hosts`) or in a second
    /// `UserKnownHostsFile` is known: its key is checked there, a different key is refused,
    /// and nothing is learned into the first file (#15).
    #[test]
    fn every_user_and_global_file_is_consulted() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("known_hosts");
        let second = dir.path().join("known_hosts2");
        let global = dir.path().join("ssh_known_hosts");
        std::fs::write(&second, format!("web-2 ssh-ed25519 {FIRST}\n")).unwrap();
        std::fs::write(&global, format!("web-1 ssh-ed25519 {FIRST}\n")).unwrap();
        let keys = HostKeys {
            user_files: vec![mine.clone(), second],
            global_files: vec![global, dir.path().join("missing")],
            alias: None,
            strict: false,
        };
        for host in ["web-1", "web-2"] {
            assert_eq!(verify(&keys, host, 22, &key(FIRST)), Verdict::Trusted);
            assert!(matches!(
                verify(&keys, host, 22, &key(SECOND)),
                Verdict::Changed { line: 1, .. }
            ));
            assert!(matches!(
                preferred_algorithms(&keys, host, 22)[0],
                Algorithm::Ed25519
            ));
        }
        assert!(!mine.exists(), "nothing learned");
        assert_eq!(verify(&keys, "web-3", 22, &key(FIRST)), Verdict::Learned);
        assert_eq!(
            std::fs::read_to_string(&mine).unwrap(),
            format!("web-3 ssh-ed25519 {FIRST}\n")
        );
    }

    /// `HostKeyAlias`: keys are looked up and recorded under the alias, port or not (#15).
    #[test]
    fn host_key_alias_names_the_key() {
        let (_dir, path) = known_hosts(&format!("web-alias ssh-ed25519 {FIRST}\n"));
        let keys = HostKeys {
            alias: Some("web-alias".into()),
            ..HostKeys::file(&path)
        };
        assert_eq!(
            verify(&keys, "10.0.0.9", 2222, &key(FIRST)),
            Verdict::Trusted
        );
        assert!(matches!(
            verify(&keys, "10.0.0.9", 2222, &key(SECOND)),
            Verdict::Changed { line: 1, .. }
        ));
        let other = HostKeys {
            alias: Some("db-alias".into()),
            ..HostKeys::file(&path)
        };
        assert_eq!(
            verify(&other, "10.0.0.9", 2222, &key(SECOND)),
            Verdict::Learned
        );
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with(&format!("db-alias ssh-ed25519 {SECOND}\n"))
        );
    }

    /// `StrictHostKeyChecking yes` never records a key: an unknown host is refused (#15).
    #[test]
    fn strict_checking_refuses_unknown_hosts_and_records_nothing() {
        let (_dir, path) = known_hosts(&format!("known ssh-ed25519 {FIRST}\n"));
        let keys = HostKeys {
            strict: true,
            ..HostKeys::file(&path)
        };
        assert_eq!(verify(&keys, "known", 22, &key(FIRST)), Verdict::Trusted);
        assert_eq!(
            verify(&keys, "new-host", 22, &key(SECOND)),
            Verdict::Unknown {
                fingerprint: key(SECOND).fingerprint(HashAlg::Sha256).to_string()
            }
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("known ssh-ed25519 {FIRST}\n")
        );
    }

    /// A missing `~/.ssh` is made private to its owner, as OpenSSH makes it (#15).
    #[test]
    fn a_new_ssh_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("home").join(".ssh").join("known_hosts");
        assert_eq!(
            verify(&HostKeys::file(&path), "h", 22, &key(FIRST)),
            Verdict::Learned
        );
        for created in [
            dir.path().join("home").join(".ssh"),
            dir.path().join("home"),
        ] {
            let mode = std::fs::metadata(&created).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", created.display());
        }
    }
}
