//! The control channel between `kamal-proxy <command>` and the running `kamal-proxy run`.
//!
//! kamal-proxy speaks Go's `net/rpc` here; the stand-in speaks one JSON line each way over the
//! same unix socket path (`$XDG_RUNTIME_DIR/kamal-proxy.sock`, else the temporary directory). The
//! client sends a [`Command`] and waits without a time limit for the [`Reply`]: a deploy answers
//! only after its health gate and the old target's drain, exactly like kamal-proxy's RPC.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;

use crate::log;
use crate::router::Router;
use crate::state::{ServiceOptions, TargetOptions, nanos};

/// The largest request line the server reads.
const MAX_LINE: u64 = 1 << 20;

/// A deploy, as `kamal-proxy deploy` parsed it from its flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeployRequest {
    pub service: String,
    pub targets: Vec<String>,
    pub readers: Vec<String>,
    pub service_options: ServiceOptions,
    pub target_options: TargetOptions,
    #[serde(with = "nanos")]
    pub deploy_timeout: Duration,
    #[serde(with = "nanos")]
    pub drain_timeout: Duration,
    pub force: bool,
}

/// What a client asks the server to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Deploy(Box<DeployRequest>),
    Remove {
        service: String,
    },
    List,
    Pause {
        service: String,
        #[serde(with = "nanos")]
        drain_timeout: Duration,
        #[serde(with = "nanos")]
        max_pause: Duration,
    },
    Stop {
        service: String,
        #[serde(with = "nanos")]
        drain_timeout: Duration,
        message: String,
    },
    Resume {
        service: String,
    },
    /// `rollout deploy`: health-gated targets for the service's rollout group.
    RolloutDeploy {
        service: String,
        targets: Vec<String>,
        readers: Vec<String>,
        #[serde(with = "nanos")]
        deploy_timeout: Duration,
        #[serde(with = "nanos")]
        drain_timeout: Duration,
    },
    /// `rollout set`: which requests go to the rollout group.
    RolloutSet {
        service: String,
        percent: u8,
        allowlist: Vec<String>,
    },
    /// `rollout stop`: every request to the active targets again.
    RolloutStop {
        service: String,
    },
}

/// One row of `kamal-proxy list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSummary {
    pub name: String,
    pub host: String,
    pub path: String,
    pub target: String,
    pub state: String,
    pub tls: bool,
}

/// The server's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    Done,
    List { services: Vec<ServiceSummary> },
    Error { message: String },
}

/// The client could not talk to the server.
#[derive(Debug, Error)]
pub enum ControlError {
    #[error("dial unix {path}: connect: {source}")]
    Connect { path: PathBuf, source: io::Error },
    #[error("talking to kamal-proxy at {path}: {source}")]
    Exchange { path: PathBuf, source: io::Error },
    #[error("unreadable reply from kamal-proxy at {path}: {source}")]
    Reply {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// kamal-proxy's socket path: `$XDG_RUNTIME_DIR/kamal-proxy.sock`, else
/// `$TMPDIR/kamal-proxy.sock`, else `/tmp/kamal-proxy.sock`.
pub fn socket_path() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("kamal-proxy.sock")
}

/// Sends one command and waits for its reply.
pub fn call(path: &Path, command: &Command) -> Result<Reply, ControlError> {
    let exchange_error = |source| ControlError::Exchange {
        path: path.to_path_buf(),
        source,
    };
    let mut stream = UnixStream::connect(path).map_err(|source| ControlError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    let mut line = serde_json::to_string(command).map_err(|source| ControlError::Reply {
        path: path.to_path_buf(),
        source,
    })?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(exchange_error)?;
    let mut reply = String::new();
    BufReader::new(stream)
        .read_line(&mut reply)
        .map_err(exchange_error)?;
    serde_json::from_str(&reply).map_err(|source| ControlError::Reply {
        path: path.to_path_buf(),
        source,
    })
}

/// Binds the socket, replacing a stale one left by a process that was killed.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    UnixListener::bind(path)
}

/// Serves commands until `shutdown`; each connection carries one command.
pub async fn serve(listener: UnixListener, router: Arc<Router>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let router = Arc::clone(&router);
                tokio::spawn(async move { handle(stream, &router).await });
            }
            Err(error) => log::error(
                "Error accepting RPC connection",
                &[("error", json!(error.to_string()))],
            ),
        }
    }
}

async fn handle(stream: tokio::net::UnixStream, router: &Router) {
    let (reader, mut writer) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(reader, MAX_LINE));
    if let Err(error) = reader.read_line(&mut line).await {
        log::error(
            "Error reading RPC request",
            &[("error", json!(error.to_string()))],
        );
        return;
    }
    let reply = match serde_json::from_str::<Command>(&line) {
        Ok(command) => router.execute(command).await,
        Err(error) => Reply::Error {
            message: format!("malformed request: {error}"),
        },
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_else(|error| {
        format!(
            r#"{{"result":"error","message":"{}"}}"#,
            error.to_string().replace('"', "'")
        )
    });
    text.push('\n');
    if let Err(error) = writer.write_all(text.as_bytes()).await {
        log::debug(
            "Client went away before the reply",
            &[("error", json!(error.to_string()))],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_travel_as_one_json_line() {
        let command = Command::Stop {
            service: "app-web".into(),
            drain_timeout: Duration::from_secs(10),
            message: "back soon".into(),
        };
        let line = serde_json::to_string(&command).unwrap();
        assert_eq!(
            line,
            r#"{"command":"stop","service":"app-web","drain_timeout":10000000000,"message":"back soon"}"#
        );
        assert_eq!(serde_json::from_str::<Command>(&line).unwrap(), command);
        let reply = Reply::Error {
            message: "service not found".into(),
        };
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(line, r#"{"result":"error","message":"service not found"}"#);
    }
}
