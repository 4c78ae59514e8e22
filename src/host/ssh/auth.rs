//! Logging in: which keys to offer, in OpenSSH's order, and why a login failed.
//!
//! Input: an open (key-checked) connection, the resolved [`Target`] and the run's settings.
//! Output: an authenticated connection, or [`HostError::AuthFailed`] that says which keys were
//! offered and which could not be used (missing, encrypted without an agent). Key material never
//! appears in an error: a `key_data` entry is named by its position only.

use std::path::PathBuf;
use std::sync::Arc;

use russh::client::{AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};

use crate::host::HostError;
use crate::host::ssh::connect::ClientHandler;
use crate::host::ssh::settings::{SshSettings, Target, home_dir};

/// Private keys to offer, and why others could not be used.
fn load_keys(target: &Target, settings: &SshSettings) -> (Vec<PrivateKey>, Vec<String>) {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for (index, data) in settings.key_data.iter().enumerate() {
        match russh::keys::decode_secret_key(data.expose(), None) {
            Ok(key) => keys.push(key),
            Err(russh::keys::Error::KeyIsEncrypted) => problems.push(format!(
                "ssh.key_data entry {} is encrypted; give gantry an unencrypted key or load it \
                 into ssh-agent",
                index + 1
            )),
            // The error text of a key parser could quote the key: say only which entry failed.
            Err(_) => problems.push(format!(
                "ssh.key_data entry {} is not a private key",
                index + 1
            )),
        }
    }
    let explicit = target.identity_files.clone();
    let defaults: Vec<PathBuf> = if settings.keys_only {
        Vec::new()
    } else {
        let ssh_dir = home_dir().join(".ssh");
        ["id_ed25519", "id_ecdsa", "id_rsa"]
            .map(|name| ssh_dir.join(name))
            .to_vec()
    };
    for (path, must_exist) in explicit
        .iter()
        .map(|path| (path, true))
        .chain(defaults.iter().map(|path| (path, false)))
    {
        if !path.exists() {
            if must_exist {
                problems.push(format!("{} does not exist", path.display()));
            }
            continue;
        }
        match russh::keys::load_secret_key(path, None) {
            Ok(key) => keys.push(key),
            Err(russh::keys::Error::KeyIsEncrypted) => problems.push(format!(
                "{} is encrypted; add it to ssh-agent (`ssh-add {}`)",
                path.display(),
                path.display()
            )),
            Err(error) => problems.push(format!("{}: {error}", path.display())),
        }
    }
    (keys, problems)
}

/// Offers key data and key files, then the agent's keys, as OpenSSH would.
pub async fn authenticate(
    handle: &mut Handle<ClientHandler>,
    host_name: &str,
    target: &Target,
    settings: &SshSettings,
) -> Result<(), HostError> {
    let user = target.user.as_str();
    let failed = |message: String| HostError::AuthFailed {
        host: host_name.to_string(),
        user: user.to_string(),
        message,
    };
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .ok()
        .flatten()
        .flatten();
    let (keys, mut problems) = load_keys(target, settings);
    let mut offered = 0usize;
    for key in keys {
        offered += 1;
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash);
        match handle.authenticate_publickey(user, key).await {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure { .. }) => {}
            Err(error) => return Err(failed(error.to_string())),
        }
    }
    if let Some(socket) = settings.agent.as_ref().filter(|_| !settings.keys_only) {
        match AgentClient::connect_uds(socket).await {
            Ok(mut agent) => {
                let identities = agent.request_identities().await.unwrap_or_default();
                for identity in identities {
                    let AgentIdentity::PublicKey { key, .. } = identity else {
                        continue;
                    };
                    offered += 1;
                    if let Ok(AuthResult::Success) = handle
                        .authenticate_publickey_with(user, key, rsa_hash, &mut agent)
                        .await
                    {
                        return Ok(());
                    }
                }
            }
            Err(error) => problems.push(format!("the SSH agent at {}: {error}", socket.display())),
        }
    } else if !settings.keys_only {
        problems.push("no SSH agent (SSH_AUTH_SOCK is not set)".into());
    }
    let mut message = match offered {
        0 => "no key to offer".to_string(),
        1 => "the server refused the one key offered".to_string(),
        count => format!("the server refused all {count} keys offered"),
    };
    if !problems.is_empty() {
        message.push_str(&format!("; {}", problems.join("; ")));
    }
    Err(failed(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            user: "deploy".into(),
            hostname: "10.0.0.5".into(),
            port: 2222,
            identity_files: Vec::new(),
            jumps: Vec::new(),
            proxy_command: None,
            host_keys: crate::host::ssh::known_hosts::HostKeys::file("/dev/null"),
        }
    }

    #[test]
    fn encrypted_and_missing_keys_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let encrypted = dir.path().join("id_encrypted");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "passphrase", "-f"])
            .arg(&encrypted)
            .status();
        let mut target = target();
        target.identity_files = vec![encrypted.clone(), dir.path().join("absent")];
        let settings = SshSettings {
            keys_only: true,
            key_data: vec![crate::secret::Secret::new("not a key")],
            ..SshSettings::from_config(
                &crate::config::Ssh::default(),
                &crate::config::GantrySettings::default(),
                Vec::new(),
            )
        };
        let (keys, problems) = load_keys(&target, &settings);
        assert!(keys.is_empty());
        assert_eq!(problems[0], "ssh.key_data entry 1 is not a private key");
        if status.is_ok_and(|status| status.success()) {
            assert!(
                problems[1].contains("is encrypted; add it to ssh-agent"),
                "{problems:?}"
            );
        }
        assert!(problems.last().unwrap().ends_with("absent does not exist"));
    }
}
