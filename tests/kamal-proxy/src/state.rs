//! The state file, `$HOME/.config/kamal-proxy/kamal-proxy.state`, in kamal-proxy v0.9.2's JSON.
//!
//! Input and output: a JSON array with one object per service (`name`, `options`,
//! `target_options`, `active_targets`, `active_readers`, `rollout_targets`, `rollout_readers`,
//! `pause_controller`, `rollout_controller`). Durations are integer nanoseconds, as Go encodes
//! `time.Duration`. gantry reads this file back from hosts, so the field names, the nesting and
//! the `null`-versus-`[]` choices follow what kamal-proxy writes. The legacy top-level keys
//! (`active_target`, `rollout_target`, `hosts`, `path_prefixes`) are read and never written.
//!
//! The same option types travel in deploy requests (see `control`), so a deploy stores exactly
//! what it was given. Nothing here touches the network.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::rollout::RolloutController;

/// The file could not be read, parsed or written.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("reading state file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("decoding state file {path}: {source}")]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("encoding state for {path}: {source}")]
    Encode {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("writing state file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Where a service is served: hosts, path prefixes and the settings that go with them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceOptions {
    #[serde(deserialize_with = "null_as_empty")]
    pub hosts: Vec<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub path_prefixes: Vec<String>,
    pub tls_enabled: bool,
    pub tls_certificate_path: String,
    pub tls_private_key_path: String,
    pub tls_redirect: bool,
    pub canonical_host: String,
    pub acme_directory: String,
    pub acme_cache_path: String,
    pub error_page_path: String,
    pub strip_prefix: bool,
    #[serde(with = "nanos")]
    pub writer_affinity_timeout: Duration,
    pub read_targets_accept_websockets: bool,
}

impl ServiceOptions {
    /// kamal-proxy's normal form: no hosts means the wildcard host `""`; prefixes are
    /// `"/" + trimmed`, and no prefix means `/`.
    pub fn normalize(&mut self) {
        self.hosts.retain(|host| !host.is_empty());
        if self.hosts.is_empty() {
            self.hosts.push(String::new());
        }
        self.path_prefixes = self
            .path_prefixes
            .iter()
            .map(|prefix| format!("/{}", prefix.trim_matches('/')))
            .collect();
        if self.path_prefixes.is_empty() {
            self.path_prefixes.push("/".to_string());
        }
    }
}

/// How targets are checked and how requests to them are handled.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetOptions {
    pub health_check_config: HealthCheckConfig,
    #[serde(with = "nanos")]
    pub response_timeout: Duration,
    pub buffer_requests: bool,
    pub buffer_responses: bool,
    pub max_memory_buffer_size: i64,
    pub max_request_body_size: i64,
    pub max_response_body_size: i64,
    #[serde(serialize_with = "empty_as_null", deserialize_with = "null_as_empty")]
    pub log_request_headers: Vec<String>,
    #[serde(serialize_with = "empty_as_null", deserialize_with = "null_as_empty")]
    pub log_response_headers: Vec<String>,
    pub forward_headers: bool,
    pub scope_cookie_paths: bool,
}

/// The health check a new target must pass before it gets traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthCheckConfig {
    pub path: String,
    pub port: u16,
    #[serde(with = "nanos")]
    pub interval: Duration,
    #[serde(with = "nanos")]
    pub timeout: Duration,
    pub host: String,
}

/// Whether a service answers, queues (paused) or refuses (stopped) requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PauseState {
    #[default]
    Running,
    Paused,
    Stopped,
}

impl PauseState {
    /// The word `kamal-proxy list` prints in its State column.
    pub fn as_str(self) -> &'static str {
        match self {
            PauseState::Running => "running",
            PauseState::Paused => "paused",
            PauseState::Stopped => "stopped",
        }
    }
}

impl Serialize for PauseState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(match self {
            PauseState::Running => 0,
            PauseState::Paused => 1,
            PauseState::Stopped => 2,
        })
    }
}

impl<'de> Deserialize<'de> for PauseState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u8::deserialize(deserializer)? {
            0 => Ok(PauseState::Running),
            1 => Ok(PauseState::Paused),
            2 => Ok(PauseState::Stopped),
            other => Err(serde::de::Error::custom(format!(
                "unknown pause state {other}"
            ))),
        }
    }
}

/// The pause controller as saved: its state, the stop message and the pause limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedPause {
    pub state: PauseState,
    pub stop_message: String,
    #[serde(with = "nanos")]
    pub fail_after: Duration,
}

/// One service as the state file holds it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedService {
    pub name: String,
    pub options: ServiceOptions,
    pub target_options: TargetOptions,
    #[serde(deserialize_with = "null_as_empty")]
    pub active_targets: Vec<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub active_readers: Vec<String>,
    #[serde(serialize_with = "empty_as_null", deserialize_with = "null_as_empty")]
    pub rollout_targets: Vec<String>,
    #[serde(serialize_with = "empty_as_null", deserialize_with = "null_as_empty")]
    pub rollout_readers: Vec<String>,
    pub pause_controller: SavedPause,
    pub rollout_controller: Option<RolloutController>,
    #[serde(rename = "active_target", skip_serializing_if = "String::is_empty")]
    pub legacy_active_target: String,
    #[serde(rename = "rollout_target", skip_serializing_if = "String::is_empty")]
    pub legacy_rollout_target: String,
    #[serde(
        rename = "hosts",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub legacy_hosts: Vec<String>,
    #[serde(
        rename = "path_prefixes",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub legacy_path_prefixes: Vec<String>,
}

impl SavedService {
    /// Moves legacy keys into their current places and normalizes the options, as kamal-proxy
    /// does when it reads a state file.
    fn upgrade(mut self) -> Self {
        if self.active_targets.is_empty() && !self.legacy_active_target.is_empty() {
            self.active_targets = vec![std::mem::take(&mut self.legacy_active_target)];
        }
        if self.rollout_targets.is_empty() && !self.legacy_rollout_target.is_empty() {
            self.rollout_targets = vec![std::mem::take(&mut self.legacy_rollout_target)];
        }
        if self.options.hosts.is_empty() && !self.legacy_hosts.is_empty() {
            self.options.hosts = std::mem::take(&mut self.legacy_hosts);
        }
        if self.options.path_prefixes.is_empty() && !self.legacy_path_prefixes.is_empty() {
            self.options.path_prefixes = std::mem::take(&mut self.legacy_path_prefixes);
        }
        self.legacy_active_target.clear();
        self.legacy_rollout_target.clear();
        self.legacy_hosts.clear();
        self.legacy_path_prefixes.clear();
        self.options.normalize();
        self
    }
}

/// kamal-proxy's data directory: `$HOME/.config/kamal-proxy`, created if missing, or the
/// temporary directory when it cannot be created.
pub fn data_directory() -> PathBuf {
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let directory = home.join(".config").join("kamal-proxy");
    match create_private_dir(&directory) {
        Ok(()) => directory,
        Err(_) => std::env::temp_dir(),
    }
}

fn create_private_dir(directory: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(directory)
}

/// The state file's path.
pub fn state_path() -> PathBuf {
    data_directory().join("kamal-proxy.state")
}

/// Reads the state file; a missing file is an empty state.
pub fn load(path: &Path) -> Result<Option<Vec<SavedService>>, StateError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    decode(&text)
        .map(Some)
        .map_err(|source| StateError::Decode {
            path: path.to_path_buf(),
            source,
        })
}

/// Parses state file text.
pub fn decode(text: &str) -> Result<Vec<SavedService>, serde_json::Error> {
    let services: Vec<SavedService> = serde_json::from_str(text)?;
    Ok(services.into_iter().map(SavedService::upgrade).collect())
}

/// Encodes services as kamal-proxy does: one line of JSON and a newline.
pub fn encode(services: &[SavedService]) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string(services)?;
    text.push('\n');
    Ok(text)
}

/// Writes the whole file as kamal-proxy does: truncate, then write in place (`os.Create` and a
/// JSON encoder), so a reader during a save can see an empty or cut-off file, as with the real
/// proxy; gantry has to cope with that.
pub fn save(path: &Path, services: &[SavedService]) -> Result<(), StateError> {
    let text = encode(services).map_err(|source| StateError::Encode {
        path: path.to_path_buf(),
        source,
    })?;
    fs::write(path, text).map_err(|source| StateError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Go encodes a nil slice as `null`; kamal-proxy's empty header and rollout lists are nil.
fn empty_as_null<S: Serializer>(values: &[String], serializer: S) -> Result<S::Ok, S::Error> {
    if values.is_empty() {
        serializer.serialize_none()
    } else {
        values.serialize(serializer)
    }
}

/// `time.Duration` in JSON: integer nanoseconds.
pub mod nanos {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let nanos = i64::deserialize(deserializer)?;
        Ok(Duration::from_nanos(u64::try_from(nanos).unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kamal_service() -> SavedService {
        SavedService {
            name: "app-web".into(),
            options: ServiceOptions {
                hosts: vec![String::new()],
                path_prefixes: vec!["/".into()],
                tls_redirect: true,
                acme_cache_path: "/home/kamal-proxy/.config/kamal-proxy/certs".into(),
                strip_prefix: true,
                writer_affinity_timeout: Duration::from_secs(1),
                ..ServiceOptions::default()
            },
            target_options: TargetOptions {
                health_check_config: HealthCheckConfig {
                    path: "/up".into(),
                    port: 0,
                    interval: Duration::from_secs(1),
                    timeout: Duration::from_secs(5),
                    host: String::new(),
                },
                response_timeout: Duration::from_secs(30),
                buffer_requests: true,
                buffer_responses: true,
                max_memory_buffer_size: 1_048_576,
                log_request_headers: vec![
                    "Cache-Control".into(),
                    "Last-Modified".into(),
                    "User-Agent".into(),
                ],
                forward_headers: true,
                ..TargetOptions::default()
            },
            active_targets: vec!["0123456789ab:80".into()],
            ..SavedService::default()
        }
    }

    #[test]
    fn encodes_the_shape_kamal_proxy_writes() {
        let expected = concat!(
            r#"[{"name":"app-web","options":{"hosts":[""],"path_prefixes":["/"],"tls_enabled":false,"#,
            r#""tls_certificate_path":"","tls_private_key_path":"","tls_redirect":true,"canonical_host":"","#,
            r#""acme_directory":"","acme_cache_path":"/home/kamal-proxy/.config/kamal-proxy/certs","#,
            r#""error_page_path":"","strip_prefix":true,"writer_affinity_timeout":1000000000,"#,
            r#""read_targets_accept_websockets":false},"target_options":{"health_check_config":"#,
            r#"{"path":"/up","port":0,"interval":1000000000,"timeout":5000000000,"host":""},"#,
            r#""response_timeout":30000000000,"buffer_requests":true,"buffer_responses":true,"#,
            r#""max_memory_buffer_size":1048576,"max_request_body_size":0,"max_response_body_size":0,"#,
            r#""log_request_headers":["Cache-Control","Last-Modified","User-Agent"],"#,
            r#""log_response_headers":null,"forward_headers":true,"scope_cookie_paths":false},"#,
            r#""active_targets":["0123456789ab:80"],"active_readers":[],"rollout_targets":null,"#,
            r#""rollout_readers":null,"pause_controller":{"state":0,"stop_message":"","fail_after":0},"#,
            r#""rollout_controller":null}]"#,
            "\n"
        );
        assert_eq!(encode(&[kamal_service()]).unwrap(), expected);
    }

    #[test]
    fn round_trips_through_the_file() {
        let directory = std::env::temp_dir().join(format!("standin-state-{}", std::process::id()));
        fs::create_dir_all(&directory).unwrap();
        let path = directory.join("kamal-proxy.state");
        let mut stopped = kamal_service();
        stopped.name = "app-api".into();
        stopped.pause_controller = SavedPause {
            state: PauseState::Stopped,
            stop_message: "back soon".into(),
            fail_after: Duration::ZERO,
        };
        let services = vec![kamal_service(), stopped];
        save(&path, &services).unwrap();
        assert_eq!(load(&path).unwrap(), Some(services));
        fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn a_missing_file_is_no_state() {
        assert_eq!(
            load(Path::new("/nonexistent/kamal-proxy.state")).unwrap(),
            None
        );
    }

    #[test]
    fn reads_the_legacy_format() {
        let legacy = r#"[{"name":"my-app","hosts":["app.example.com"],"active_target":"localhost:3000",
            "rollout_target":"","options":{"tls_enabled":false},
            "target_options":{"health_check_config":{"path":"/up","interval":1000000000,"timeout":5000000000},
            "response_timeout":3000000000,"log_request_headers":null,"log_response_headers":null},
            "pause_controller":{"state":0,"stop_message":"","fail_after":0},"rollout_controller":null}]"#;
        let services = decode(legacy).unwrap();
        assert_eq!(services.len(), 1);
        let service = &services[0];
        assert_eq!(service.active_targets, ["localhost:3000"]);
        assert_eq!(service.options.hosts, ["app.example.com"]);
        assert_eq!(service.options.path_prefixes, ["/"]);
        assert_eq!(
            service.target_options.response_timeout,
            Duration::from_secs(3)
        );
        assert!(!encode(&services).unwrap().contains("active_target\""));
    }

    #[test]
    fn normalizes_hosts_and_prefixes() {
        let mut options = ServiceOptions {
            hosts: vec![],
            path_prefixes: vec!["api/".into(), "/admin".into()],
            ..ServiceOptions::default()
        };
        options.normalize();
        assert_eq!(options.hosts, [""]);
        assert_eq!(options.path_prefixes, ["/api", "/admin"]);
    }
}
