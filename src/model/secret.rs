//! Secret values that cannot be printed by accident.
//!
//! A [`Secret`] shows `[REDACTED]` through `Debug` and `Display` and has no `Serialize`, so a
//! secret cannot reach a plan, a log line, an error message or JSON output unless code asks for
//! it by name with [`Secret::expose`]. The few places that do (env files, the container's
//! environment, registry credentials) are the only ones allowed to.
//!
//! [`Redactor`] is the second line of defence: it replaces every known secret value in a piece
//! of text, for output that gantry does not compose itself (a failing command's stderr, a
//! container's logs, a hook's output).

use std::fmt;

use sha2::{Digest, Sha256};

/// The text shown in place of a secret value.
pub const REDACTED: &str = "[REDACTED]";

/// A value from `.kamal/secrets*`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value read from a secrets file or a command's output.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself. Call only where the value must leave gantry: an env file, a container's
    /// environment, a registry login.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short fingerprint that tells two values apart without revealing either: the first 16
    /// hex digits of SHA-256 over the name and the value.
    pub fn fingerprint(&self, name: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(name.as_bytes());
        hasher.update([0u8]);
        hasher.update(self.0.as_bytes());
        hex::encode(&hasher.finalize()[..8])
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The bytes of a file gantry writes to a host (an env file, an accessory's `files:`), which may
/// hold secrets: like [`Secret`], never shown; plans show a fingerprint instead.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes read from a local file or rendered from a template.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        SecretBytes(bytes.into())
    }

    /// The bytes themselves. Call only where they must leave gantry: the write on the host.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<Secret> for SecretBytes {
    fn from(secret: Secret) -> Self {
        SecretBytes(secret.0.into_bytes())
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Scrubs known secret values out of text that gantry did not compose itself.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first, so a value that contains another is replaced whole.
    values: Vec<Secret>,
}

impl Redactor {
    /// Values shorter than this are not scrubbed: replacing `1` or `on` everywhere would mangle
    /// output without protecting anything.
    pub const MIN_LEN: usize = 4;

    /// A redactor for these values.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Self {
        let mut values: Vec<Secret> = secrets
            .into_iter()
            .filter(|secret| secret.0.len() >= Self::MIN_LEN)
            .cloned()
            .collect();
        values.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        values.dedup();
        Redactor { values }
    }

    /// A redactor that also finds each value as a JSON string or a Rust `Debug` string would
    /// quote it (`"` as `\"`, a line break as `\n`): the forms log lines carry.
    pub fn with_escaped_forms(&self) -> Redactor {
        let mut forms: Vec<Secret> = Vec::new();
        for secret in &self.values {
            let debug = format!("{:?}", secret.0);
            let json = serde_json::to_string(&secret.0).unwrap_or_else(|_| debug.clone());
            for quoted in [debug, json] {
                forms.push(Secret(quoted[1..quoted.len() - 1].to_string()));
            }
            forms.push(secret.clone());
        }
        Redactor::new(forms.iter())
    }

    /// `text` with every known secret value replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.values {
            if out.contains(secret.expose()) {
                out = out.replace(secret.expose(), REDACTED);
            }
        }
        out
    }

    /// True when `text` contains a known secret value.
    pub fn leaks(&self, text: &str) -> bool {
        self.values
            .iter()
            .any(|secret| text.contains(secret.expose()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "[REDACTED]");
        assert_eq!(format!("{secret}"), "[REDACTED]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([REDACTED])");
    }

    #[test]
    fn fingerprint_depends_on_name_and_value() {
        let a = Secret::new("value");
        assert_eq!(a.fingerprint("A"), Secret::new("value").fingerprint("A"));
        assert_ne!(a.fingerprint("A"), a.fingerprint("B"));
        assert_ne!(a.fingerprint("A"), Secret::new("other").fingerprint("A"));
        assert!(!a.fingerprint("A").contains("value"));
    }

    #[test]
    fn redactor_replaces_longest_values_first() {
        let short = Secret::new("abcd");
        let long = Secret::new("abcdefgh");
        let redactor = Redactor::new([&short, &long]);
        assert_eq!(
            redactor.redact("x abcdefgh y abcd"),
            "x [REDACTED] y [REDACTED]"
        );
        assert!(redactor.leaks("..abcd.."));
        assert!(!redactor.leaks("abc"));
    }

    #[test]
    fn escaped_forms_catch_a_value_quoted_in_json_or_debug_output() {
        let secret = Secret::new("pa\"ss\\word\n9f3e");
        let redactor = Redactor::new([&secret]).with_escaped_forms();
        let body = serde_json::json!({ "Env": [format!("DB_PASSWORD={}", secret.expose())] });
        assert_eq!(
            redactor.redact(&format!("request body {body}")),
            r#"request body {"Env":["DB_PASSWORD=[REDACTED]"]}"#
        );
        assert_eq!(
            redactor.redact(&format!("{:?}", vec![secret.expose()])),
            r#"["[REDACTED]"]"#
        );
        assert_eq!(redactor.redact(secret.expose()), "[REDACTED]");
    }

    #[test]
    fn redactor_skips_tiny_values() {
        let redactor = Redactor::new([&Secret::new("on")]);
        assert_eq!(redactor.redact("turn it on"), "turn it on");
    }
}
