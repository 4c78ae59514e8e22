//! The HTTP side: one request in, routed to a service, forwarded to a target, answer out.
//!
//! Order of decisions, as in kamal-proxy: no route → 404; a canonical-host mismatch → 301; a
//! paused or stopped service answers its health-check path with 200 (so an upstream balancer
//! keeps the host), then holds (pause; 504 after `--max-pause`) or refuses (stop; 503 page with
//! the message); no healthy target → 503; the target's answer, or 502 when it cannot be reached
//! and 504 after `--target-timeout` or when a drain cancels the request.
//!
//! Forwarding keeps the client's `Host`, strips the matched path prefix when the service asks
//! for it, drops hop-by-hop headers, sets `X-Forwarded-For/-Host/-Proto` (keeping incoming values
//! only with `--forward-headers`), `X-Kamal-Target`, and `X-Request-ID`/`X-Request-Start` when
//! the client sent none. `--buffer-requests`/`--buffer-responses` read whole bodies first, with
//! `--max-request-body` (413) and `--max-response-body` (500) as limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use http_body_util::BodyExt;

use crate::body::{BoxError, ProxyBody, TrackedBody, full};
use crate::log;
use crate::pause::PauseOutcome;
use crate::rollout::rollout_cookie;
use crate::router::{Router, Service};
use crate::state::PauseState;

/// Headers that belong to one connection and are never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What the target is sent: `Sync`, as the client's pool wants.
type RequestBody = http_body_util::combinators::BoxBody<bytes::Bytes, BoxError>;

const X_KAMAL_TARGET: &str = "x-kamal-target";
const X_REQUEST_ID: &str = "x-request-id";
const X_REQUEST_START: &str = "x-request-start";

/// A random (version 4) UUID, as kamal-proxy's request ids are.
fn request_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The system's random source failing leaves zeros: still a well-formed id.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Routes and forwards requests; one per server, shared by all connections.
#[derive(Debug)]
pub struct Proxy {
    router: Arc<Router>,
    client: Client<HttpConnector, RequestBody>,
}

impl Proxy {
    /// A proxy over `router`'s services.
    pub fn new(router: Arc<Router>) -> Proxy {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Proxy {
            router,
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Answers one request from `client_address`, which came over TLS when `tls` is set.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        client_address: SocketAddr,
        tls: bool,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let host = request_host(&request);
        let path = request.uri().path().to_string();
        let method = request.method().clone();
        let routed = self.router.route(&host, &path);
        let (response, service_name, target) = match routed {
            None => (
                error_page(StatusCode::NOT_FOUND, None),
                String::new(),
                String::new(),
            ),
            Some((service, prefix)) => {
                let (response, target) = self
                    .serve(request, &service, &prefix, &host, client_address, tls)
                    .await;
                (response, service.name.clone(), target)
            }
        };
        log::info(
            "Request",
            &[
                ("host", json!(host)),
                ("path", json!(path)),
                ("method", json!(method.as_str())),
                ("status", json!(response.status().as_u16())),
                ("service", json!(service_name)),
                ("target", json!(target)),
                (
                    "duration",
                    json!(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)),
                ),
                ("client_addr", json!(client_address.ip().to_string())),
            ],
        );
        response
    }

    async fn serve(
        &self,
        request: Request<Incoming>,
        service: &Service,
        prefix: &str,
        host: &str,
        client_address: SocketAddr,
        tls: bool,
    ) -> (Response<ProxyBody>, String) {
        if tls && !service.options.tls_enabled {
            return (
                error_page(StatusCode::SERVICE_UNAVAILABLE, None),
                String::new(),
            );
        }
        if let Some(response) = redirect(service, host, request.uri(), tls) {
            return (response, String::new());
        }
        let health_path = &service.target_options.health_check_config.path;
        let is_health_check = matches!(*request.method(), Method::GET | Method::HEAD)
            && request.uri().path() == health_path;
        if is_health_check && service.pause.snapshot().state != PauseState::Running {
            return (status_only(StatusCode::OK), String::new());
        }
        match service.pause.wait().await {
            PauseOutcome::Proceed => {}
            PauseOutcome::Stopped { message } => {
                return (
                    service_error_page(service, StatusCode::SERVICE_UNAVAILABLE, Some(&message)),
                    String::new(),
                );
            }
            PauseOutcome::TimedOut => {
                log::warn(
                    "Rejecting request due to expired pause",
                    &[
                        ("service", json!(service.name)),
                        ("path", json!(request.uri().path())),
                    ],
                );
                return (
                    service_error_page(service, StatusCode::GATEWAY_TIMEOUT, None),
                    String::new(),
                );
            }
        }
        let cookie = rollout_cookie(
            request
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok()),
        );
        let Some(target) = service.balancer_for(cookie).pick() else {
            return (
                service_error_page(service, StatusCode::SERVICE_UNAVAILABLE, None),
                String::new(),
            );
        };
        let address = target.address().to_string();
        let Some(inflight) = target.begin_request() else {
            return (
                service_error_page(service, StatusCode::SERVICE_UNAVAILABLE, None),
                address,
            );
        };
        let options = &service.target_options;
        let request_limit = options
            .buffer_requests
            .then_some(options.max_request_body_size);
        let request = match read_request_body(request, request_limit).await {
            Ok(request) => request,
            Err(response) => return (response, address),
        };
        let strip = service.options.strip_prefix && prefix != "/";
        let outbound = match outbound_request(
            request,
            &address,
            strip.then_some(prefix),
            service.target_options.forward_headers,
            client_address,
            tls,
        ) {
            Ok(outbound) => outbound,
            Err(error) => {
                log::error(
                    "Error while proxying",
                    &[("target", json!(address)), ("error", json!(error))],
                );
                return (
                    service_error_page(service, StatusCode::BAD_GATEWAY, None),
                    address,
                );
            }
        };
        let cancellation = inflight.cancellation();
        let exchange = with_optional_timeout(
            service.target_options.response_timeout,
            self.client.request(outbound),
        );
        let answer = tokio::select! {
            answer = exchange => answer,
            () = cancellation.cancelled() => {
                log::info("Request cancelled due to draining", &[("target", json!(address))]);
                return (service_error_page(service, StatusCode::GATEWAY_TIMEOUT, None), address);
            }
        };
        let response = match answer {
            None => service_error_page(service, StatusCode::GATEWAY_TIMEOUT, None),
            Some(Err(error)) => {
                log::error(
                    "Error while proxying",
                    &[
                        ("target", json!(address)),
                        ("error", json!(error.to_string())),
                    ],
                );
                service_error_page(service, StatusCode::BAD_GATEWAY, None)
            }
            Some(Ok(response)) => {
                let (mut parts, body) = response.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                let body = TrackedBody::boxed(body, inflight);
                let response_limit = (service.target_options.buffer_responses
                    && !is_event_stream(&parts.headers))
                .then_some(service.target_options.max_response_body_size);
                match buffered_response_body(body, response_limit).await {
                    Ok(body) => Response::from_parts(parts, body),
                    Err(response) => response,
                }
            }
        };
        (response, address)
    }
}

/// With `--buffer-requests` (`buffer_limit` is then `--max-request-body`, 0 for none), the whole
/// request body is read before the target is asked (over the limit: 413 "Request too large");
/// otherwise it streams.
async fn read_request_body(
    request: Request<Incoming>,
    buffer_limit: Option<i64>,
) -> Result<Request<RequestBody>, Response<ProxyBody>> {
    let (parts, body) = request.into_parts();
    let body = body
        .map_err(|error| -> BoxError { Box::new(error) })
        .boxed();
    let Some(limit) = buffer_limit else {
        return Ok(Request::from_parts(parts, body));
    };
    match collect_limited(body, limit).await {
        Ok(bytes) => Ok(Request::from_parts(
            parts,
            http_body_util::Full::new(bytes)
                .map_err(|never| match never {})
                .boxed(),
        )),
        Err(BufferError::TooLarge) => Err(plain_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request too large",
        )),
        Err(BufferError::Read(error)) => {
            log::error(
                "Error buffering request",
                &[("error", json!(error.to_string()))],
            );
            Err(plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ))
        }
    }
}

/// An event stream is never buffered.
fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim() == "text/event-stream")
}

/// With `--buffer-responses` (`buffer_limit` is then `--max-response-body`, 0 for none), the
/// whole response is read before it is sent (over the limit: 500).
async fn buffered_response_body(
    body: ProxyBody,
    buffer_limit: Option<i64>,
) -> Result<ProxyBody, Response<ProxyBody>> {
    let Some(limit) = buffer_limit else {
        return Ok(body);
    };
    match collect_limited(body, limit).await {
        Ok(bytes) => Ok(full(bytes)),
        Err(BufferError::TooLarge) => {
            log::info("Response exceeded max response limit", &[]);
            Err(plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ))
        }
        Err(BufferError::Read(error)) => {
            log::error(
                "Error sending response",
                &[("error", json!(error.to_string()))],
            );
            Err(plain_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ))
        }
    }
}

enum BufferError {
    TooLarge,
    Read(BoxError),
}

/// Reads a whole body; `max_bytes` above zero is a limit (exceeded as soon as the bytes read
/// pass it, as kamal-proxy's buffer counts them).
async fn collect_limited<B>(mut body: B, max_bytes: i64) -> Result<bytes::Bytes, BufferError>
where
    B: hyper::body::Body<Data = bytes::Bytes, Error = BoxError> + Unpin,
{
    let limit = usize::try_from(max_bytes).ok().filter(|&limit| limit > 0);
    let mut collected = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BufferError::Read)?;
        if let Ok(data) = frame.into_data() {
            collected.extend_from_slice(&data);
            if limit.is_some_and(|limit| collected.len() > limit) {
                return Err(BufferError::TooLarge);
            }
        }
    }
    Ok(collected.freeze())
}

/// Go's `http.Error`: the message and a newline as plain text.
fn plain_error(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(full(format!("{message}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    response
}

async fn with_optional_timeout<F: Future>(timeout: Duration, future: F) -> Option<F::Output> {
    if timeout.is_zero() {
        Some(future.await)
    } else {
        tokio::time::timeout(timeout, future).await.ok()
    }
}

/// The request's host: the `Host` header, else the URI's authority, else empty.
fn request_host<B>(request: &Request<B>) -> String {
    request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.to_string())
        })
        .unwrap_or_default()
}

/// kamal-proxy's `redirectURLIfNeeded`: to HTTPS when the service has TLS with redirection
/// and the request came over plain HTTP, and to the canonical host when one is set and the
/// request named another; the port of the `Host` header is dropped.
fn redirect(service: &Service, host: &str, uri: &Uri, tls: bool) -> Option<Response<ProxyBody>> {
    let bare_host = split_host_port(host);
    let scheme = if tls { "https" } else { "http" };
    let wanted_scheme = if service.options.tls_enabled && service.options.tls_redirect && !tls {
        "https"
    } else {
        scheme
    };
    let canonical = &service.options.canonical_host;
    let wanted_host = if !canonical.is_empty() && bare_host != canonical {
        canonical.as_str()
    } else {
        bare_host
    };
    if wanted_scheme == scheme && wanted_host == bare_host {
        return None;
    }
    let target = format!(
        "{wanted_scheme}://{wanted_host}{}",
        uri.path_and_query().map_or("/", |pq| pq.as_str())
    );
    let mut response = status_only(StatusCode::MOVED_PERMANENTLY);
    let location = HeaderValue::from_str(&target).ok()?;
    response.headers_mut().insert(header::LOCATION, location);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}

/// Go's `net.SplitHostPort` host, or the whole value when it has no port.
fn split_host_port(host: &str) -> &str {
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed
            .split_once("]:")
            .map_or(host, |(address, _)| address);
    }
    match host.rsplit_once(':') {
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

/// The request as the target receives it.
fn outbound_request<B>(
    request: Request<B>,
    address: &str,
    strip_prefix: Option<&str>,
    forward_headers: bool,
    client_address: SocketAddr,
    tls: bool,
) -> Result<Request<B>, String> {
    let (mut parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .map(str::to_string)
        .unwrap_or_default();
    let original_path = parts.uri.path();
    let path = match strip_prefix {
        Some(prefix) => original_path.strip_prefix(prefix).unwrap_or(original_path),
        None => original_path,
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let query = parts
        .uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    parts.uri = format!("http://{address}{path}{query}")
        .parse()
        .map_err(|error: hyper::http::uri::InvalidUri| error.to_string())?;
    parts.version = hyper::Version::HTTP_11;

    remove_hop_by_hop(&mut parts.headers);
    let client_ip = client_address.ip().to_string();
    let forwarded_for = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
    {
        Some(prior) if forward_headers => format!("{prior}, {client_ip}"),
        _ => client_ip,
    };
    set_header(&mut parts.headers, "x-forwarded-for", &forwarded_for);
    let keep = |name: &str, headers: &HeaderMap| forward_headers && headers.contains_key(name);
    if !keep("x-forwarded-host", &parts.headers) {
        set_header(&mut parts.headers, "x-forwarded-host", &host);
    }
    if !keep("x-forwarded-proto", &parts.headers) {
        let proto = if tls { "https" } else { "http" };
        set_header(&mut parts.headers, "x-forwarded-proto", proto);
    }
    let kamal_target = match parts
        .headers
        .get(X_KAMAL_TARGET)
        .and_then(|value| value.to_str().ok())
    {
        Some(prior) if forward_headers => format!("{prior}, {address}"),
        _ => address.to_string(),
    };
    set_header(&mut parts.headers, X_KAMAL_TARGET, &kamal_target);
    // Set at the top of kamal-proxy's handler chain, when the client sent none.
    if !parts.headers.contains_key(X_REQUEST_ID) {
        set_header(&mut parts.headers, X_REQUEST_ID, &request_id());
    }
    if !parts.headers.contains_key(X_REQUEST_START) {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        set_header(&mut parts.headers, X_REQUEST_START, &format!("t={millis}"));
    }
    Ok(Request::from_parts(parts, body))
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), value);
    }
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

fn status_only(status: StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(full(""));
    *response.status_mut() = status;
    response
}

/// The service's own page for `status` when it was deployed with `--error-pages` and has one,
/// else the built-in page.
fn service_error_page(
    service: &Service,
    status: StatusCode,
    message: Option<&str>,
) -> Response<ProxyBody> {
    let Some(page) = service
        .error_pages
        .as_ref()
        .and_then(|pages| pages.page(status.as_u16()))
    else {
        return error_page(status, message);
    };
    let mut response = Response::new(full(page.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A small HTML error page; a stopped service's page carries its message.
fn error_page(status: StatusCode, message: Option<&str>) -> Response<ProxyBody> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let detail = message
        .filter(|message| !message.is_empty())
        .map(|message| format!("<p>{}</p>", escape_html(message)))
        .unwrap_or_default();
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} {reason}</title></head>\
         <body><main><h1>{reason}</h1>{detail}</main></body></html>\n",
        status.as_u16()
    );
    let mut response = Response::new(full(page));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(uri: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::get(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn client() -> SocketAddr {
        "10.0.0.9:55555".parse().unwrap()
    }

    #[test]
    fn forwards_to_the_target_keeping_host_path_and_query() {
        let request = inbound(
            "/api/users?id=1;x",
            &[
                ("host", "app.example.com"),
                ("connection", "keep-alive, x-secret-hop"),
                ("x-secret-hop", "1"),
            ],
        );
        let outbound =
            outbound_request(request, "0123456789ab:80", None, true, client(), false).unwrap();
        assert_eq!(outbound.uri(), "http://0123456789ab:80/api/users?id=1;x");
        let headers = outbound.headers();
        assert_eq!(headers["host"], "app.example.com");
        assert_eq!(headers["x-forwarded-for"], "10.0.0.9");
        assert_eq!(headers["x-forwarded-host"], "app.example.com");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-kamal-target"], "0123456789ab:80");
        assert!(!headers.contains_key("connection"));
        assert!(!headers.contains_key("x-secret-hop"));
    }

    #[test]
    fn strips_the_matched_prefix() {
        let outbound = outbound_request(
            inbound("/api/users", &[]),
            "web:80",
            Some("/api"),
            true,
            client(),
            false,
        )
        .unwrap();
        assert_eq!(outbound.uri().path(), "/users");
        let outbound = outbound_request(
            inbound("/api", &[]),
            "web:80",
            Some("/api"),
            true,
            client(),
            false,
        )
        .unwrap();
        assert_eq!(outbound.uri().path(), "/");
    }

    #[test]
    fn incoming_forwarded_headers_are_kept_only_when_trusted() {
        let headers = [
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("x-kamal-target", "lb:80"),
        ];
        let trusted = outbound_request(
            inbound("/", &headers),
            "web:80",
            None,
            true,
            client(),
            false,
        )
        .unwrap();
        assert_eq!(trusted.headers()["x-forwarded-for"], "1.2.3.4, 10.0.0.9");
        assert_eq!(trusted.headers()["x-forwarded-proto"], "https");
        assert_eq!(trusted.headers()["x-kamal-target"], "lb:80, web:80");
        let untrusted = outbound_request(
            inbound("/", &headers),
            "web:80",
            None,
            false,
            client(),
            false,
        )
        .unwrap();
        assert_eq!(untrusted.headers()["x-forwarded-for"], "10.0.0.9");
        assert_eq!(untrusted.headers()["x-forwarded-proto"], "http");
        assert_eq!(untrusted.headers()["x-kamal-target"], "web:80");
    }

    #[test]
    fn request_id_and_start_are_added_unless_the_client_sent_them() {
        let outbound =
            outbound_request(inbound("/", &[]), "web:80", None, false, client(), false).unwrap();
        let id = outbound.headers()[X_REQUEST_ID].to_str().unwrap();
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        assert_eq!(&id[14..15], "4", "version 4: {id}");
        let start = outbound.headers()[X_REQUEST_START].to_str().unwrap();
        assert!(start.starts_with("t=1"), "{start}");
        assert_eq!(start.len(), "t=".len() + 13, "milliseconds: {start}");

        let headers = [("X-Request-ID", "mine"), ("X-Request-Start", "t=1")];
        let outbound = outbound_request(
            inbound("/", &headers),
            "web:80",
            None,
            false,
            client(),
            false,
        )
        .unwrap();
        assert_eq!(outbound.headers()[X_REQUEST_ID], "mine");
        assert_eq!(outbound.headers()[X_REQUEST_START], "t=1");
    }

    #[tokio::test]
    async fn buffered_bodies_stop_at_their_limit() {
        let body = || full(vec![b'x'; 10]);
        assert_eq!(
            collect_limited(body(), 0).await.ok().map(|b| b.len()),
            Some(10)
        );
        assert_eq!(
            collect_limited(body(), 10).await.ok().map(|b| b.len()),
            Some(10)
        );
        assert!(matches!(
            collect_limited(body(), 9).await,
            Err(BufferError::TooLarge)
        ));
        let response = buffered_response_body(body(), Some(5)).await.unwrap_err();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(buffered_response_body(body(), None).await.is_ok());
    }

    #[test]
    fn the_redirect_drops_the_port_as_go_split_host_port_does() {
        assert_eq!(split_host_port("app.test:8080"), "app.test");
        assert_eq!(split_host_port("[::1]:80"), "::1");
        assert_eq!(split_host_port("app.test"), "app.test");
        assert_eq!(split_host_port("::1"), "::1");
    }

    #[tokio::test]
    async fn error_pages_carry_the_escaped_stop_message() {
        use http_body_util::BodyExt;
        let response = error_page(StatusCode::SERVICE_UNAVAILABLE, Some("<b>back</b> soon"));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let page = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            page.contains("<title>503 Service Unavailable</title>"),
            "{page}"
        );
        assert!(
            page.contains("<p>&lt;b&gt;back&lt;/b&gt; soon</p>"),
            "{page}"
        );
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape_html("<b>\"a\" & 'b'</b>"),
            "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;"
        );
    }
}
