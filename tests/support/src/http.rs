//! A small blocking HTTP/1.1 client and request loops for end-to-end tests.
//!
//! Every request sends `Connection: close` and reads the answer to the end, so there is no
//! connection reuse to hide a proxy switching targets. [`RequestLoop`] sends requests to several
//! addresses (a thread each) until stopped or until its limits (a request count and a duration)
//! are reached, and records every answer: status, the test app's version (its
//! `X-Testapp-Version` header) or the error. Traffic goes only where the caller points it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use thiserror::Error;

/// The header in which the test app names its version.
pub const VERSION_HEADER: &str = "x-testapp-version";

/// A request that got no HTTP answer.
#[derive(Debug, Error)]
pub enum HttpError {
    /// No connection (refused, timed out, unresolvable).
    #[error("connecting to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    /// The connection broke or timed out mid-exchange.
    #[error("exchanging with {address}: {source}")]
    Exchange {
        address: String,
        source: std::io::Error,
    },
    /// Bytes came back, but not an HTTP answer.
    #[error("malformed answer from {address}: {reason}")]
    Malformed { address: String, reason: String },
}

/// An HTTP answer.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }
}

/// The version the test app behind the proxy on `host` (port 80) reports; `None` unless it
/// answers 200.
pub fn serving(host: &str) -> Option<String> {
    let response = get(&format!("{host}:80"), "/", None, Duration::from_secs(5)).ok()?;
    (response.status == 200).then(|| response.json()["version"].as_str().map(str::to_string))?
}

/// `GET path` from `address` (`host:port`), with `Host` set to `host` or to the address.
pub fn get(
    address: &str,
    path: &str,
    host: Option<&str>,
    timeout: Duration,
) -> Result<HttpResponse, HttpError> {
    let connect_error = |source| HttpError::Connect {
        address: address.to_string(),
        source,
    };
    let socket: SocketAddr = address
        .to_socket_addrs()
        .map_err(connect_error)?
        .next()
        .ok_or_else(|| connect_error(std::io::Error::other("no address")))?;
    let stream = TcpStream::connect_timeout(&socket, timeout).map_err(connect_error)?;
    let exchange_error = |source| HttpError::Exchange {
        address: address.to_string(),
        source,
    };
    stream
        .set_read_timeout(Some(timeout))
        .map_err(exchange_error)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(exchange_error)?;
    exchange(stream, address, path, host.unwrap_or(address), &[])
}

/// Sends `GET path` with `extra_headers` over an open stream (TCP, or a unix socket) and
/// reads the answer to the end.
pub fn exchange(
    mut stream: impl Read + Write,
    address: &str,
    path: &str,
    host: &str,
    extra_headers: &[(&str, &str)],
) -> Result<HttpResponse, HttpError> {
    let exchange_error = |source| HttpError::Exchange {
        address: address.to_string(),
        source,
    };
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: gantry-e2e\r\nConnection: close\r\n"
    );
    for (name, value) in extra_headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(exchange_error)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(exchange_error)?;
    parse_response(&raw).map_err(|reason| HttpError::Malformed {
        address: address.to_string(),
        reason,
    })
}

/// Parses a complete HTTP/1.1 answer (status line, headers, body by length or chunks).
pub fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {} bytes", raw.len()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[split + 4..];
    response.body = if response
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
    {
        decode_chunked(rest)?
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| format!("bad content-length {length:?}"))?;
        rest.get(..length)
            .ok_or_else(|| format!("body shorter than its content-length {length}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

fn decode_chunked(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|window| window == b"\r\n")
            .ok_or("unterminated chunk size")?;
        let size_text = String::from_utf8_lossy(&rest[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(rest.get(..size).ok_or("truncated chunk")?);
        rest = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

/// When a request loop stops by itself.
#[derive(Clone, Copy, Debug)]
pub struct LoopLimits {
    /// Requests over all addresses.
    pub max_requests: usize,
    /// Time from the start of the loop.
    pub max_duration: Duration,
    /// Pause between requests.
    pub pause: Duration,
    /// Timeout of each request.
    pub request_timeout: Duration,
}

impl Default for LoopLimits {
    fn default() -> Self {
        LoopLimits {
            max_requests: 20_000,
            max_duration: Duration::from_secs(180),
            pause: Duration::from_millis(10),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// One request of a loop and what came of it.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Where it went (`host:port`).
    pub address: String,
    /// When it was sent, from the start of the loop.
    pub sent_at: Duration,
    /// Status and the test app's version, or why there was no answer.
    pub outcome: Result<(u16, Option<String>), String>,
}

impl Answer {
    /// A 200 answer.
    pub fn is_success(&self) -> bool {
        matches!(self.outcome, Ok((200, _)))
    }

    /// The version that answered, if the test app did.
    pub fn version(&self) -> Option<&str> {
        self.outcome
            .as_ref()
            .ok()
            .and_then(|(_, version)| version.as_deref())
    }
}

/// Every answer a loop got, in order.
#[derive(Clone, Debug, Default)]
pub struct LoopReport {
    /// In the order they were recorded; per address, in the order they were sent.
    pub answers: Vec<Answer>,
    /// How long the loop ran.
    pub duration: Duration,
}

impl LoopReport {
    /// Answers that were not 200.
    pub fn failures(&self) -> Vec<&Answer> {
        self.answers
            .iter()
            .filter(|answer| !answer.is_success())
            .collect()
    }

    /// The versions `address` answered with, each change once, in order (`["v1", "v2"]`).
    pub fn versions(&self, address: &str) -> Vec<String> {
        let mut versions: Vec<String> = Vec::new();
        for version in self
            .answers
            .iter()
            .filter(|answer| answer.address == address)
            .filter_map(Answer::version)
        {
            if versions.last().map(String::as_str) != Some(version) {
                versions.push(version.to_string());
            }
        }
        versions
    }
}

/// Requests sent until stopped or limited: one thread per address, each sending one request
/// after another.
#[derive(Debug)]
pub struct RequestLoop {
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Answer>>>,
    threads: Vec<JoinHandle<()>>,
    started: Instant,
}

impl RequestLoop {
    /// Starts `GET path` to every address, `limits.max_requests` in all.
    pub fn start(addresses: Vec<String>, path: &str, limits: LoopLimits) -> RequestLoop {
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let threads = addresses
            .into_iter()
            .map(|address| {
                let (stop, answers, sent, path) = (
                    Arc::clone(&stop),
                    Arc::clone(&answers),
                    Arc::clone(&sent),
                    path.to_string(),
                );
                thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst)
                        && started.elapsed() < limits.max_duration
                        && sent.fetch_add(1, Ordering::SeqCst) < limits.max_requests
                    {
                        let sent_at = started.elapsed();
                        let outcome = get(&address, &path, None, limits.request_timeout)
                            .map(|response| {
                                (
                                    response.status,
                                    response.header(VERSION_HEADER).map(str::to_string),
                                )
                            })
                            .map_err(|error| error.to_string());
                        answers
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(Answer {
                                address: address.clone(),
                                sent_at,
                                outcome,
                            });
                        thread::sleep(limits.pause);
                    }
                })
            })
            .collect();
        RequestLoop {
            stop,
            answers,
            threads,
            started,
        }
    }

    /// The answers so far.
    pub fn snapshot(&self) -> LoopReport {
        LoopReport {
            answers: self
                .answers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            duration: self.started.elapsed(),
        }
    }

    /// Stops the loop, waits for the requests in flight, and returns every answer.
    pub fn stop(self) -> LoopReport {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread
                .join()
                .unwrap_or_else(|_| panic!("a request loop thread panicked"));
        }
        let answers =
            std::mem::take(&mut *self.answers.lock().unwrap_or_else(PoisonError::into_inner));
        LoopReport {
            answers,
            duration: self.started.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies() {
        let plain = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Testapp-Version: v1\r\n\r\nokEXTRA",
        )
        .unwrap();
        assert_eq!((plain.status, plain.text().as_str()), (200, "ok"));
        assert_eq!(plain.header("X-TESTAPP-VERSION"), Some("v1"));
        let chunked = parse_response(b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!((chunked.status, chunked.text().as_str()), (503, "abcde"));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"nonsense\r\n\r\n").is_err());
    }

    #[test]
    fn reports_version_changes_per_address() {
        let answer = |address: &str, version: &str| Answer {
            address: address.into(),
            sent_at: Duration::ZERO,
            outcome: Ok((200, Some(version.into()))),
        };
        let report = LoopReport {
            answers: vec![
                answer("h1", "v1"),
                answer("h2", "v1"),
                answer("h1", "v1"),
                answer("h1", "v2"),
                Answer {
                    address: "h2".into(),
                    sent_at: Duration::ZERO,
                    outcome: Err("refused".into()),
                },
            ],
            duration: Duration::ZERO,
        };
        assert_eq!(report.versions("h1"), ["v1", "v2"]);
        assert_eq!(report.versions("h2"), ["v1"]);
        assert_eq!(report.failures().len(), 1);
    }

    #[test]
    fn a_loop_counts_answers_from_a_local_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = thread::spawn(move || {
            for _ in 0..5 {
                let (mut stream, _) = listener.accept().unwrap();
                let mut buffer = [0u8; 1024];
                let _ = stream.read(&mut buffer).unwrap();
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Testapp-Version: v9\r\nConnection: close\r\n\r\nok")
                    .unwrap();
            }
        });
        let limits = LoopLimits {
            max_requests: 5,
            pause: Duration::ZERO,
            ..LoopLimits::default()
        };
        let requests = RequestLoop::start(vec![address.clone()], "/", limits);
        server.join().unwrap();
        let report = requests.stop();
        assert_eq!(report.answers.len(), 5);
        assert!(report.failures().is_empty());
        assert_eq!(report.versions(&address), ["v9"]);
    }
}
