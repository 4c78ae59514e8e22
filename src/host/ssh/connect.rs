//! Opening one authenticated SSH connection: direct, through jump hosts, or through a
//! `ProxyCommand`.
//!
//! Input: a resolved [`Target`] and the run's [`SshSettings`]. Output: a live russh handle plus
//! whatever must outlive it (the jump connections it rides on, the proxy command's process).
//! Invariant: the host key is checked during the key exchange, so a changed key fails the
//! connection before a single byte of authentication or command is sent. This module does not
//! bound its own duration; the caller wraps it in the connect timeout.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, ChannelOpenHandle, Handle, Msg, Session};
use russh::keys::PublicKeyOrCertificate;
use russh::{Channel, ChannelOpenFailure};
use tokio::process::{Child, Command};

use crate::host::HostError;
use crate::host::ssh::auth::authenticate;
use crate::host::ssh::known_hosts::{self, Verdict};
use crate::host::ssh::settings::{SshSettings, Target, resolve, resolve_jump};

/// An SSH client handler that verifies host keys against known_hosts (accept-new), and serves
/// the connection's reverse forwards.
pub struct ClientHandler {
    host_keys: known_hosts::HostKeys,
    hostname: String,
    port: u16,
    /// Why the key was refused, for the error the connect call returns.
    refusal: Arc<Mutex<Option<Verdict>>>,
    reverse: ReverseForwards,
}

/// The ports this connection asked the host to forward back to this machine (`ssh -R
/// 127.0.0.1:PORT:localhost:PORT`, as Kamal forwards its local registry while hosts pull). A
/// connection the host opens for one of them is piped to the same port on this machine's
/// loopback; any other is refused, whatever the host sends.
#[derive(Clone, Debug, Default)]
pub struct ReverseForwards(Arc<Mutex<BTreeSet<u32>>>);

impl ReverseForwards {
    /// From now on, connections to `port` on the host reach `port` here.
    pub fn allow(&self, port: u32) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(port);
    }

    fn allows(&self, port: u32) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&port)
    }
}

/// Pipes one forwarded connection to `port` on this machine's loopback until either side ends.
async fn pipe_to_loopback(channel: Channel<Msg>, port: u32) {
    let Ok(local_port) = u16::try_from(port) else {
        return;
    };
    match tokio::net::TcpStream::connect(("127.0.0.1", local_port)).await {
        Ok(mut local) => {
            let mut remote = channel.into_stream();
            if let Err(error) = tokio::io::copy_bidirectional(&mut remote, &mut local).await {
                tracing::debug!(port, %error, "reverse forward ended");
            }
        }
        Err(error) => {
            tracing::warn!(port, %error, "reverse forward: nothing listens on this machine");
            let _ = channel.close().await;
        }
    }
}

impl client::Handler for ClientHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                known_hosts::verify(&self.host_keys, &self.hostname, self.port, key)
            }
            _ => Verdict::Failed(
                "the host presented a certificate; certificate host keys are not supported".into(),
            ),
        };
        match verdict {
            Verdict::Trusted => Ok(true),
            Verdict::Learned => {
                tracing::info!(
                    host = %self.hostname,
                    known_hosts = %self.host_keys.recorded_in().display(),
                    "recorded a new host key"
                );
                Ok(true)
            }
            refused => {
                *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) = Some(refused);
                Ok(false)
            }
        }
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: Channel<Msg>,
        _connected_address: &str,
        connected_port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if !self.reverse.allows(connected_port) {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        reply.accept().await;
        tokio::spawn(pipe_to_loopback(channel, connected_port));
        Ok(())
    }
}

/// A live connection and what keeps it alive.
pub struct Connection {
    /// The authenticated session: channels are opened on it from many tasks at once.
    pub handle: Handle<ClientHandler>,
    /// Dropped together with the handle, never before it.
    pub keepalive: KeepAlive,
    /// The reverse forwards the handle's handler serves.
    pub reverse: ReverseForwards,
}

/// What a connection needs to stay up besides itself: a `ProxyCommand` child (killed when
/// dropped), the jump connection it is tunnelled through.
pub struct KeepAlive {
    _proxy_child: Option<Child>,
    _jump: Option<Box<Connection>>,
}

/// How often an idle connection asks the host for a sign of life, and how many unanswered asks
/// declare it lost. Kamal asks every 30 s, which lets a host whose network was cut hold a run
/// (and its lock) for minutes; 3 × 5 s tells a dead host from a busy one (sshd answers
/// keepalives from its own process, whatever the containers do) and costs a few bytes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_MAX: usize = 3;

/// The keepalive above, and the recorded host key types asked for first.
fn client_config(target: &Target) -> Arc<client::Config> {
    let preferred = russh::Preferred {
        key: known_hosts::preferred_algorithms(&target.host_keys, &target.hostname, target.port)
            .into(),
        ..russh::Preferred::default()
    };
    Arc::new(client::Config {
        keepalive_interval: Some(KEEPALIVE_INTERVAL),
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        preferred,
        ..client::Config::default()
    })
}

/// Connects and authenticates to the host written `entry` in deploy.yml.
pub async fn connect(
    host_name: &str,
    entry: &str,
    settings: &SshSettings,
) -> Result<Connection, HostError> {
    let target = resolve(entry, settings);
    tracing::debug!(
        user = %target.user,
        hostname = %target.hostname,
        port = target.port,
        jumps = ?target.jumps,
        proxy_command = target.proxy_command.is_some(),
        "connecting"
    );
    connect_target(host_name, &target, settings).await
}

/// Connects to `target`, first through its jump hosts (the last one recursively through the
/// ones before it).
fn connect_target<'a>(
    host_name: &'a str,
    target: &'a Target,
    settings: &'a SshSettings,
) -> Pin<Box<dyn Future<Output = Result<Connection, HostError>> + Send + 'a>> {
    Box::pin(async move {
        let refusal = Arc::new(Mutex::new(None));
        let reverse = ReverseForwards::default();
        let handler = ClientHandler {
            host_keys: target.host_keys.clone(),
            hostname: target.hostname.clone(),
            port: target.port,
            refusal: refusal.clone(),
            reverse: reverse.clone(),
        };
        let unreachable = |message: String| HostError::Unreachable {
            host: host_name.to_string(),
            message,
        };
        let config = client_config(target);
        let (connected, proxy_child, jump) = if let Some(command) = &target.proxy_command {
            let (stream, child) = spawn_proxy_command(command, target, host_name)?;
            (
                client::connect_stream(config, stream, handler).await,
                Some(child),
                None,
            )
        } else if let Some((last, earlier)) = target.jumps.split_last() {
            let mut jump_target = resolve_jump(last, settings);
            jump_target.jumps = earlier.to_vec();
            let jump = connect_target(host_name, &jump_target, settings)
                .await
                .map_err(|error| through_jump(error, last))?;
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
                        "jump host {last} could not reach {}:{}: {error}",
                        target.hostname, target.port
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
                    Some(Verdict::Revoked { fingerprint, line }) => unreachable(format!(
                        "the host key {fingerprint} is marked @revoked in known_hosts line {line}"
                    )),
                    Some(Verdict::Unknown { fingerprint }) => unreachable(format!(
                        "the host key {fingerprint} is not in known_hosts, and \
                         StrictHostKeyChecking forbids recording it (add it with ssh-keyscan, \
                         after checking it)"
                    )),
                    Some(Verdict::CertificateRequired { file, line }) => unreachable(format!(
                        "{} line {line} pins this host by a @cert-authority, and gantry does not \
                         check host certificates: add the host's plain key to known_hosts",
                        file.display()
                    )),
                    Some(Verdict::Failed(message)) => unreachable(message),
                    _ => unreachable(format!(
                        "cannot connect to {}:{}: {error}",
                        target.hostname, target.port
                    )),
                });
            }
        };
        authenticate(&mut handle, host_name, target, settings).await?;
        Ok(Connection {
            handle,
            keepalive: KeepAlive {
                _proxy_child: proxy_child,
                _jump: jump,
            },
            reverse,
        })
    })
}

/// A jump host's failure, told as the deploy host's: that host is what cannot be reached.
fn through_jump(error: HostError, hop: &str) -> HostError {
    let host = error.host().to_string();
    let message = match error {
        HostError::HostKeyChanged {
            fingerprint, line, ..
        } => format!(
            "the host key changed (now {fingerprint}; known_hosts line {line} records another key)"
        ),
        other => other.to_string(),
    };
    let message = message
        .strip_prefix(&format!("{host}: "))
        .map(str::to_string)
        .unwrap_or(message);
    HostError::Unreachable {
        host,
        message: format!("jump host {hop}: {message}"),
    }
}

/// `ProxyCommand`'s tokens: `%h` host, `%p` port, `%r` user, `%n` the name as written, `%%`.
///
/// The command runs through `sh -c`, so a substituted value that is not plain (letters, digits,
/// `.`, `-`, `_`, `:`, `@`) is single-quoted: host and user names are checked where
/// they are read, and quoting keeps one that slipped through a single word rather than code.
fn expand_proxy_command(command: &str, target: &Target, host_name: &str) -> String {
    let mut expanded = String::with_capacity(command.len());
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            expanded.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => expanded.push_str(&shell_word(&target.hostname)),
            Some('p') => expanded.push_str(&target.port.to_string()),
            Some('r') => expanded.push_str(&shell_word(&target.user)),
            Some('n') => expanded.push_str(&shell_word(host_name)),
            Some('%') => expanded.push('%'),
            Some(other) => {
                expanded.push('%');
                expanded.push(other);
            }
            None => expanded.push('%'),
        }
    }
    expanded
}

/// `value` as one `sh` word: unchanged when plain, else single-quoted (`'` written `'\\''`).
fn shell_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:@".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', "'\\''"))
    }
}

type ProxyStream = tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>;

/// Runs `ProxyCommand` through `sh -c` and speaks SSH over its stdin and stdout.
fn spawn_proxy_command(
    command: &str,
    target: &Target,
    host_name: &str,
) -> Result<(ProxyStream, Child), HostError> {
    let command = expand_proxy_command(command, target, host_name);
    let failed = |message: String| HostError::Unreachable {
        host: host_name.to_string(),
        message,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&command)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| failed(format!("ProxyCommand `{command}` could not start: {error}")))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| failed("ProxyCommand has no stdout".into()))?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| failed("ProxyCommand has no stdin".into()))?;
    Ok((tokio::io::join(stdout, stdin), child))
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
            host_keys: known_hosts::HostKeys::file("/dev/null"),
        }
    }

    #[test]
    fn proxy_command_tokens_expand() {
        assert_eq!(
            expand_proxy_command("ssh -W %h:%p %r@bastion # %n 100%% %x", &target(), "web-1"),
            "ssh -W 10.0.0.5:2222 deploy@bastion # web-1 100% %x"
        );
    }

    /// A name that carries shell code stays one quoted word in `sh -c` (#15).
    #[test]
    fn proxy_command_substitutions_are_quoted_for_the_shell() {
        let mut target = target();
        target.hostname = "x;touch /tmp/pwned".into();
        target.user = "a'b".into();
        assert_eq!(
            expand_proxy_command("nc %h %p # %r %n", &target, "$(id)"),
            "nc 'x;touch /tmp/pwned' 2222 # 'a'\\''b' '$(id)'"
        );
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(expand_proxy_command(
                "printf '%s|' %h %r %n",
                &target,
                "$(id)",
            ))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "x;touch /tmp/pwned|a'b|$(id)|"
        );
    }

    #[test]
    fn jump_failures_name_the_jump_host_and_stay_connection_errors() {
        let error = through_jump(
            HostError::HostKeyChanged {
                host: "web-1".into(),
                fingerprint: "SHA256:abc".into(),
                line: 7,
            },
            "root@bastion",
        );
        assert!(error.is_connection());
        assert_eq!(
            error.to_string(),
            "web-1: jump host root@bastion: the host key changed (now SHA256:abc; known_hosts line 7 records another key)"
        );
    }
}
