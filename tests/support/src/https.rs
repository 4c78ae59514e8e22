//! HTTPS requests through `curl`, trusting the test bed's CA (`TESTBED_CA_CERT`), with the
//! name resolved to a chosen address, so a test can speak TLS with SNI to any host's proxy.

use std::process::Command;

/// The contents of the TLS file the test bed names in `variable` (`TESTBED_TLS_CERT`,
/// `TESTBED_TLS_KEY`, `TESTBED_CA_CERT`).
pub fn testbed_tls_file(variable: &str) -> String {
    let path = std::env::var(variable)
        .unwrap_or_else(|_| panic!("{variable} is not set: run `eval \"$(testbed.sh env)\"`"));
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {path}: {error}"))
}

/// What `curl` saw: its exit code (35 and 60 are failed handshakes), the status, the headers
/// and the body.
#[derive(Debug)]
pub struct CurlAnswer {
    pub exit: Option<i32>,
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl CurlAnswer {
    /// A header's value (the name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// `GET https://<name>:<port><path>` with `name` resolved to `address`; `host_header` replaces
/// the `Host` header (the SNI stays `name`).
pub fn get(
    address: &str,
    port: u16,
    name: &str,
    path: &str,
    host_header: Option<&str>,
) -> CurlAnswer {
    let ca = std::env::var("TESTBED_CA_CERT")
        .unwrap_or_else(|_| panic!("TESTBED_CA_CERT is not set: run `eval \"$(testbed.sh env)\"`"));
    let mut command = Command::new("curl");
    command.args([
        "-sS",
        "--max-time",
        "10",
        "--cacert",
        &ca,
        "--resolve",
        &format!("{name}:{port}:{address}"),
        "-D",
        "/dev/stderr",
        &format!("https://{name}:{port}{path}"),
    ]);
    if let Some(host) = host_header {
        command.args(["-H", &format!("Host: {host}")]);
    }
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("running curl: {error}"));
    let head = String::from_utf8_lossy(&output.stderr).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .filter(|line| line.starts_with("HTTP/"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok());
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    CurlAnswer {
        exit: output.status.code(),
        status,
        headers,
        body: String::from_utf8_lossy(&output.stdout).to_string(),
    }
}
