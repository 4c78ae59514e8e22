//! Health checks: `GET http://<target>[:<port>]<path>` with `User-Agent: kamal-proxy`, healthy
//! on any 2xx answer within the check timeout, redirects followed as Go's HTTP client follows
//! them (plain HTTP only: the check client speaks no TLS).
//!
//! [`HealthChecker::wait_until_healthy`] is the deploy gate: every target is checked at once and
//! again every interval, until all have passed or the deploy timeout ends. Failures are logged as
//! "Healthcheck failed", as kamal-proxy logs them. The gate only reads targets; it never touches
//! the routing table, so a failed gate leaves the old target serving.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HOST, HeaderValue, LOCATION, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use thiserror::Error;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use crate::log;
use crate::state::HealthCheckConfig;
use crate::target::Target;

/// Why one health check failed.
#[derive(Debug, Error)]
pub enum HealthError {
    #[error("request timed out")]
    TimedOut,
    #[error("unexpected status ({0})")]
    UnexpectedStatus(u16),
    #[error("{0}")]
    Request(String),
}

/// Sends health checks; cheap to clone (one shared connection pool).
#[derive(Clone, Debug)]
pub struct HealthChecker {
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Default for HealthChecker {
    fn default() -> Self {
        HealthChecker {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl HealthChecker {
    /// One check of `address` (`host:port`) with `config`.
    pub async fn check(
        &self,
        address: &str,
        config: &HealthCheckConfig,
    ) -> Result<(), HealthError> {
        let url = health_check_url(address, config);
        let result = self.send(&url, config).await;
        if let Err(error) = &result {
            log::info(
                "Healthcheck failed",
                &[("url", json!(url)), ("error", json!(error.to_string()))],
            );
        }
        result
    }

    /// One check, following redirects as Go's default HTTP client does (up to 10, the `Host`
    /// header only for the first request), all within the check timeout.
    async fn send(&self, url: &str, config: &HealthCheckConfig) -> Result<(), HealthError> {
        let exchange = async {
            let mut uri: Uri = url.parse().map_err(|error: hyper::http::uri::InvalidUri| {
                HealthError::Request(error.to_string())
            })?;
            for redirects in 0.. {
                let host = (redirects == 0 && !config.host.is_empty()).then_some(&config.host);
                let response = self.get(&uri, host).await?;
                let status = response.status();
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_string);
                // read the body so the connection can be reused
                let _ = response.into_body().collect().await;
                let Some(location) = location.filter(|_| is_redirect(status)) else {
                    return Ok(status);
                };
                if redirects == MAX_REDIRECTS {
                    return Err(HealthError::Request("stopped after 10 redirects".into()));
                }
                uri = follow(&uri, &location)?;
            }
            unreachable!("the loop returns")
        };
        let status = tokio::time::timeout(config.timeout, exchange)
            .await
            .map_err(|_| HealthError::TimedOut)??;
        if status.is_success() {
            Ok(())
        } else {
            Err(HealthError::UnexpectedStatus(status.as_u16()))
        }
    }

    async fn get(
        &self,
        uri: &Uri,
        host: Option<&String>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, HealthError> {
        let mut request = Request::get(uri.clone())
            .header(USER_AGENT, "kamal-proxy")
            .body(Empty::new())
            .map_err(|error| HealthError::Request(error.to_string()))?;
        if let Some(host) = host {
            let host = HeaderValue::from_str(host)
                .map_err(|error| HealthError::Request(error.to_string()))?;
            request.headers_mut().insert(HOST, host);
        }
        self.client
            .request(request)
            .await
            .map_err(|error| HealthError::Request(error.to_string()))
    }

    /// Checks every target each `interval` until all are healthy; `false` if the deploy timeout
    /// ends first.
    pub async fn wait_until_healthy<'a>(
        &self,
        targets: impl Iterator<Item = &'a Arc<Target>>,
        config: &HealthCheckConfig,
        deploy_timeout: Duration,
    ) -> bool {
        let mut checks = JoinSet::new();
        for target in targets {
            let checker = self.clone();
            let address = target.address().to_string();
            let config = config.clone();
            checks.spawn(async move {
                let mut ticker =
                    tokio::time::interval(config.interval.max(Duration::from_millis(10)));
                // like Go's ticker: a slow check drops ticks instead of bursting afterwards
                ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
                loop {
                    ticker.tick().await;
                    if checker.check(&address, &config).await.is_ok() {
                        log::info(
                            "Target health updated",
                            &[
                                ("target", json!(address)),
                                ("state", json!("healthy")),
                                ("was", json!("adding")),
                            ],
                        );
                        return;
                    }
                }
            });
        }
        let all_healthy = async { while checks.join_next().await.is_some() {} };
        tokio::time::timeout(deploy_timeout, all_healthy)
            .await
            .is_ok()
    }
}

/// `http://<host>:<port><path>`, the port replaced by the configured health-check port if set.
pub fn health_check_url(address: &str, config: &HealthCheckConfig) -> String {
    let authority = if config.port > 0 {
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        format!("{host}:{}", config.port)
    } else {
        address.to_string()
    };
    let path = config.path.trim_start_matches('/');
    format!("http://{authority}/{path}")
}

/// Go's client gives up after this many redirects.
const MAX_REDIRECTS: usize = 10;

fn is_redirect(status: hyper::StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The URI a `Location` names, relative to `base` (absolute URLs, absolute paths and paths
/// relative to the base's directory).
fn follow(base: &Uri, location: &str) -> Result<Uri, HealthError> {
    let resolved = if location.starts_with("http://") || location.starts_with("https://") {
        location.to_string()
    } else {
        let authority = base.authority().map_or("", |authority| authority.as_str());
        let scheme = base.scheme_str().unwrap_or("http");
        if location.starts_with('/') {
            format!("{scheme}://{authority}{location}")
        } else {
            let directory = base.path().rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{scheme}://{authority}{directory}/{location}")
        }
    };
    resolved
        .parse()
        .map_err(|error: hyper::http::uri::InvalidUri| HealthError::Request(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(path: &str, port: u16) -> HealthCheckConfig {
        HealthCheckConfig {
            path: path.to_string(),
            port,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            host: String::new(),
        }
    }

    #[test]
    fn redirects_resolve_against_the_current_url() {
        let base: Uri = "http://web:3000/health/check".parse().unwrap();
        let follow = |location: &str| follow(&base, location).unwrap().to_string();
        assert_eq!(follow("/up"), "http://web:3000/up");
        assert_eq!(follow("ready"), "http://web:3000/health/ready");
        assert_eq!(follow("http://other:80/up"), "http://other:80/up");
        assert!(is_redirect(hyper::StatusCode::FOUND));
        assert!(is_redirect(hyper::StatusCode::PERMANENT_REDIRECT));
        assert!(!is_redirect(hyper::StatusCode::NOT_MODIFIED));
    }

    #[test]
    fn builds_the_url_from_target_path_and_port() {
        assert_eq!(
            health_check_url("0123456789ab:80", &config("/up", 0)),
            "http://0123456789ab:80/up"
        );
        assert_eq!(
            health_check_url("web:3000", &config("health", 0)),
            "http://web:3000/health"
        );
        assert_eq!(
            health_check_url("web:3000", &config("/up", 9000)),
            "http://web:9000/up"
        );
        assert_eq!(
            health_check_url("web", &config("/up", 9000)),
            "http://web:9000/up"
        );
    }
}
