//! The `proxy:` section as the rest of gantry reads it: the app's routes' settings and how
//! kamal-proxy's own container boots (`proxy.run`).

use serde::Serialize;

use crate::model::DockerOptions;

/// App-side proxy settings (`proxy:`), sent with every `kamal-proxy deploy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Proxy {
    /// Empty: every host name (the wildcard route).
    pub hosts: Vec<String>,
    pub app_port: u16,
    pub ssl: Ssl,
    pub ssl_redirect: Option<bool>,
    pub forward_headers: Option<bool>,
    /// Seconds (`--target-timeout`).
    pub response_timeout: Option<u64>,
    pub path_prefixes: Vec<String>,
    pub strip_path_prefix: Option<bool>,
    pub healthcheck: ProxyHealthcheck,
    pub buffering: Buffering,
    pub logging: ProxyLogging,
}

impl Default for Proxy {
    /// `proxy: true` with nothing set: Kamal's defaults (app port 80, every host name, no TLS).
    fn default() -> Self {
        Proxy {
            hosts: Vec::new(),
            app_port: 80,
            ssl: Ssl::Off,
            ssl_redirect: None,
            forward_headers: None,
            response_timeout: None,
            path_prefixes: Vec::new(),
            strip_path_prefix: None,
            healthcheck: ProxyHealthcheck::default(),
            buffering: Buffering::default(),
            logging: ProxyLogging::default(),
        }
    }
}

/// `proxy.ssl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ssl {
    Off,
    /// Let's Encrypt, through kamal-proxy.
    Automatic,
    /// Certificates taken from two secrets.
    Custom {
        certificate_pem: String,
        private_key_pem: String,
    },
}

/// `proxy.healthcheck`: sent only when set; kamal-proxy's defaults are `/up`, 1 s, 5 s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProxyHealthcheck {
    pub path: Option<String>,
    /// Seconds.
    pub interval: Option<u64>,
    /// Seconds.
    pub timeout: Option<u64>,
}

/// `proxy.buffering`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Buffering {
    pub requests: bool,
    pub responses: bool,
    pub max_request_body: Option<u64>,
    pub max_response_body: Option<u64>,
    pub memory: Option<u64>,
}

impl Default for Buffering {
    fn default() -> Self {
        Buffering {
            requests: true,
            responses: true,
            max_request_body: None,
            max_response_body: None,
            memory: None,
        }
    }
}

/// `proxy.logging`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyLogging {
    pub request_headers: Vec<String>,
    pub response_headers: Vec<String>,
}

impl Default for ProxyLogging {
    fn default() -> Self {
        ProxyLogging {
            request_headers: vec![
                "Cache-Control".into(),
                "Last-Modified".into(),
                "User-Agent".into(),
            ],
            response_headers: Vec::new(),
        }
    }
}

/// `proxy.run`: how the kamal-proxy container itself is booted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyRun {
    /// Whether deploy.yml has a `proxy.run` section (Kamal 2.10+) or relies on the legacy
    /// `.kamal/proxy/*` boot files.
    pub configured: bool,
    pub http_port: u16,
    pub https_port: u16,
    pub metrics_port: Option<u16>,
    pub debug: bool,
    pub log_max_size: String,
    pub publish: bool,
    pub bind_ips: Vec<String>,
    pub registry: Option<String>,
    pub repository: String,
    pub version: String,
    pub options: DockerOptions,
}

impl Default for ProxyRun {
    fn default() -> Self {
        ProxyRun {
            configured: false,
            http_port: 80,
            https_port: 443,
            metrics_port: None,
            debug: false,
            log_max_size: "10m".into(),
            publish: true,
            bind_ips: Vec::new(),
            registry: None,
            repository: "basecamp/kamal-proxy".into(),
            version: "v0.9.2".into(),
            options: DockerOptions::default(),
        }
    }
}
