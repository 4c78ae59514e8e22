//! Health checks: `GET http://<target>[:<port>]<path>` with `User-Agent: kamal-proxy`, healthy
//! on any 2xx answer within the check timeout.
//!
//! [`HealthChecker::wait_until_healthy`] is the deploy gate: every target is checked at once and
//! again every interval, until all have passed or the deploy timeout ends. Failures are logged as
//! "Healthcheck failed", as kamal-proxy logs them. The gate only reads targets; it never touches
//! the routing table, so a failed gate leaves the old target serving.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HOST, HeaderValue, USER_AGENT};
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

    async fn send(&self, url: &str, config: &HealthCheckConfig) -> Result<(), HealthError> {
        let uri: Uri = url.parse().map_err(|error: hyper::http::uri::InvalidUri| {
            HealthError::Request(error.to_string())
        })?;
        let mut request = Request::get(uri)
            .header(USER_AGENT, "kamal-proxy")
            .body(Empty::new())
            .map_err(|error| HealthError::Request(error.to_string()))?;
        if !config.host.is_empty() {
            let host = HeaderValue::from_str(&config.host)
                .map_err(|error| HealthError::Request(error.to_string()))?;
            request.headers_mut().insert(HOST, host);
        }
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| HealthError::Request(error.to_string()))?;
            let status = response.status();
            // read the body so the connection can be reused
            let _ = response.into_body().collect().await;
            Ok::<_, HealthError>(status)
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
