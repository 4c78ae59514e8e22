//! Opening one authenticated SSH connection: direct, through a jump host, or through a
//! `ProxyCommand`; host key checked before anything is sent.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle};
use russh::keys::agent::AgentIdentity;
use russh::keys::agent::client::AgentClient;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use tokio::process::{Child, Command};

use crate::host::HostError;
use crate::host::ssh::known_hosts::{self, Verdict};
use crate::host::ssh::settings::{SshSettings, Target, home_dir, resolve};

/// An SSH client handler that verifies host keys against known_hosts (accept-new).
pub struct ClientHandler {
    known_hosts: PathBuf,
    name: String,
    port: u16,
    /// Why the key was refused, for the error the connect call returns.
    refusal: Arc<Mutex<Option<Verdict>>>,
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(Verdict::Failed(
                "the host presented a certificate; certificate host keys are not supported".into(),
            ));
            return Ok(false);
        };
        match known_hosts::verify(&self.known_hosts, &self.name, self.port, key) {
            Verdict::Trusted | Verdict::Learned => Ok(true),
            refused => {
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(refused);
                Ok(false)
            }
        }
    }
}

/// A live connection and what keeps it alive.
pub struct Connection {
    pub handle: Handle<ClientHandler>,
    pub keepalive: KeepAlive,
}

/// What a connection needs to stay up besides itself: a `ProxyCommand` child, a jump connection.
pub struct KeepAlive {
    _proxy_child: Option<Child>,
    _jump: Option<Box<Connection>>,
}

fn client_config() -> Arc<client::Config> {
    Arc::new(client::Config {
        // Kamal keeps connections alive with a 30 s keepalive.
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 3,
        nodelay: true,
        ..client::Config::default()
    })
}

/// Connects and authenticates to the host written `entry` in deploy.yml.
pub fn connect<'a>(
    host_name: &'a str,
    entry: &'a str,
    settings: &'a SshSettings,
) -> Pin<Box<dyn Future<Output = Result<Connection, HostError>> + Send + 'a>> {
    Box::pin(async move {
        let target = resolve(entry, settings);
        let refusal = Arc::new(Mutex::new(None));
        let handler = ClientHandler {
            known_hosts: target.known_hosts.clone(),
            name: target.hostname.clone(),
            port: target.port,
            refusal: refusal.clone(),
        };
        let unreachable = |message: String| HostError::Unreachable {
            host: host_name.to_string(),
            message,
        };
        let config = client_config();
        let (connected, proxy_child, jump) = if let Some(command) = &target.proxy_command {
            let (stream, child) = spawn_proxy_command(command, &target).map_err(unreachable)?;
            (
                client::connect_stream(config, stream, handler).await,
                Some(child),
                None,
            )
        } else if let Some(jump_entry) = &target.jump {
            let jump_entry = if jump_entry.contains('@') {
                jump_entry.clone()
            } else {
                format!("root@{jump_entry}")
            };
            let jump = connect(host_name, &jump_entry, settings).await?;
            let channel = jump
                .handle
                .channel_open_direct_tcpip(
                    target.hostname.clone(),
                    u32::from(target.port),
                    "127.0.0.1",
                    0,
                )
                .await
                .map_err(|error| {
                    unreachable(format!(
                        "jump host {jump_entry} could not reach {}: {error}",
                        target.hostname
                    ))
                })?;
            (
                client::connect_stream(config, channel.into_stream(), handler).await,
                None,
                Some(Box::new(jump)),
            )
        } else {
            (
                client::connect(config, (target.hostname.as_str(), target.port), handler).await,
                None,
                None,
            )
        };
        let mut handle = match connected {
            Ok(handle) => handle,
            Err(error) => {
                let refused = refusal.lock().unwrap_or_else(|p| p.into_inner()).take();
                return Err(match refused {
                    Some(Verdict::Changed { fingerprint, line }) => HostError::HostKeyChanged {
                        host: host_name.to_string(),
                        fingerprint,
                        line,
                    },
                    Some(Verdict::Failed(message)) => unreachable(message),
                    _ => unreachable(format!(
                        "cannot connect to {}:{}: {error}",
                        target.hostname, target.port
                    )),
                });
            }
        };
        authenticate(&mut handle, host_name, &target, settings).await?;
        Ok(Connection {
            handle,
            keepalive: KeepAlive {
                _proxy_child: proxy_child,
                _jump: jump,
            },
        })
    })
}

/// Runs `ProxyCommand` (`%h`, `%p`, `%r` substituted) and speaks SSH over its stdio.
fn spawn_proxy_command(
    command: &str,
    target: &Target,
) -> Result<
    (
        tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>,
        Child,
    ),
    String,
> {
    let command = command
        .replace("%h", &target.hostname)
        .replace("%p", &target.port.to_string())
        .replace("%r", &target.user);
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("ProxyCommand `{command}` could not start: {error}"))?;
    let stdout = child.stdout.take().ok_or("ProxyCommand has no stdout")?;
    let stdin = child.stdin.take().ok_or("ProxyCommand has no stdin")?;
    Ok((tokio::io::join(stdout, stdin), child))
}

/// Tries key data, key files, the agent, then the default identities, as OpenSSH would.
async fn authenticate(
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
    let mut skipped: Vec<String> = Vec::new();

    let mut keys: Vec<PrivateKey> = Vec::new();
    for data in &settings.key_data {
        match russh::keys::decode_secret_key(data.expose(), None) {
            Ok(key) => keys.push(key),
            Err(error) => skipped.push(format!("a key from ssh.key_data: {error}")),
        }
    }
    let mut files: Vec<PathBuf> = target.identity_files.clone();
    if !settings.keys_only {
        let ssh_dir = home_dir().join(".ssh");
        files.extend(["id_ed25519", "id_ecdsa", "id_rsa"].map(|name| ssh_dir.join(name)));
    }
    for path in files {
        if !path.exists() {
            continue;
        }
        match russh::keys::load_secret_key(&path, None) {
            Ok(key) => keys.push(key),
            Err(error) => skipped.push(format!("{}: {error}", path.display())),
        }
    }
    for key in keys {
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), rsa_hash);
        match handle.authenticate_publickey(user, key).await {
            Ok(AuthResult::Success) => return Ok(()),
            Ok(AuthResult::Failure { .. }) => {}
            Err(error) => return Err(failed(error.to_string())),
        }
    }
    if !settings.keys_only && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match AgentClient::connect_env().await {
            Ok(mut agent) => {
                let identities = agent.request_identities().await.unwrap_or_default();
                for identity in identities {
                    let AgentIdentity::PublicKey { key, .. } = identity else {
                        continue;
                    };
                    if let Ok(AuthResult::Success) = handle
                        .authenticate_publickey_with(user, key, rsa_hash, &mut agent)
                        .await
                    {
                        return Ok(());
                    }
                }
            }
            Err(error) => skipped.push(format!("the SSH agent: {error}")),
        }
    }
    let mut message = "no key was accepted".to_string();
    if !skipped.is_empty() {
        message.push_str(&format!(" (could not use {})", skipped.join("; ")));
    }
    Err(failed(message))
}
