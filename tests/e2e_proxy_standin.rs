//! End-to-end tests of the kamal-proxy stand-in (`basecamp/kamal-proxy:v0.9.2` on the test bed),
//! driven the way Kamal drives it: `docker exec <proxy> kamal-proxy deploy ...` with test app
//! containers as targets, named by container id.
//!
//! Each test starts its own proxy container (`gantry-e2e-proxy`, ports 8080 and 8443, network
//! `gantry-e2e`, state volume `gantry-e2e-proxy-config`, the test bed's certificate mounted at
//! `/home/kamal-proxy/tls`) on host 1, so it never touches a `kamal-proxy` that Kamal booted, and
//! removes everything on the way out. HTTPS requests go through `curl`, trusting the test bed's
//! CA (`TESTBED_CA_CERT`).

use std::thread;
use std::time::{Duration, Instant};

use gantry_testsupport::http::{self, HttpResponse, LoopLimits, RequestLoop, VERSION_HEADER};
use gantry_testsupport::https::{self, CurlAnswer};
use gantry_testsupport::ssh::RemoteOutput;
use gantry_testsupport::{Testbed, wait};

const PROXY: &str = "gantry-e2e-proxy";
const NETWORK: &str = "gantry-e2e";
const VOLUME: &str = "gantry-e2e-proxy-config";
const LABEL: &str = "gantry-e2e-standin";
const PORT: u16 = 8080;
const TLS_PORT: u16 = 8443;
/// Where the test bed's certificate and key are on host 1, and inside the proxy.
const HOST_TLS_DIR: &str = "/root/gantry-e2e-tls";
const PROXY_TLS_DIR: &str = "/home/kamal-proxy/tls";
/// A name the test bed's certificate covers (`*.gantry.test`).
const TLS_HOST: &str = "app.gantry.test";
const STATE_FILE: &str = "/home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state";

/// Single-quotes a word for the remote shell.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// A stand-in proxy on one test bed host, with the test app containers behind it.
struct ProxyHost {
    testbed: Testbed,
    host: String,
    image: String,
}

impl ProxyHost {
    /// Removes what an earlier run may have left, then starts a fresh proxy.
    fn start(testbed: &Testbed) -> ProxyHost {
        let host = testbed.host(1).to_string();
        let image = format!("{}:v1", testbed.testapp_image);
        testbed.docker_login(&host);
        // Pulled every time: `testbed.sh images` may have pushed a newer build of the test app.
        testbed.run_ok(&host, &format!("docker pull -q {image} >/dev/null"));
        let proxy_host = ProxyHost {
            testbed: testbed.clone(),
            host,
            image,
        };
        proxy_host.clean();
        let certificate = https::testbed_tls_file("TESTBED_TLS_CERT");
        let key = https::testbed_tls_file("TESTBED_TLS_KEY");
        proxy_host.run_ok(&format!(
            "mkdir -p {HOST_TLS_DIR} && printf '%s' {} >{HOST_TLS_DIR}/cert.pem && \
             printf '%s' {} >{HOST_TLS_DIR}/key.pem && chmod 0644 {HOST_TLS_DIR}/*.pem",
            quote(&certificate),
            quote(&key)
        ));
        proxy_host.run_ok(&format!(
            "docker network create {NETWORK} >/dev/null && \
             docker run -d --name {PROXY} --label {LABEL}=1 --network {NETWORK} --restart unless-stopped \
             --volume {VOLUME}:/home/kamal-proxy/.config/kamal-proxy --volume {HOST_TLS_DIR}:{PROXY_TLS_DIR}:ro \
             --publish {PORT}:80 --publish {TLS_PORT}:443 {} >/dev/null",
            testbed_proxy_image()
        ));
        proxy_host.wait_until_ready();
        proxy_host
    }

    fn clean(&self) {
        self.run_ok(&format!(
            "docker ps -aq --filter label={LABEL}=1 | xargs -r docker rm -f >/dev/null; \
             docker volume rm -f {VOLUME} >/dev/null; docker network rm {NETWORK} >/dev/null 2>&1; true"
        ));
    }

    fn run_ok(&self, script: &str) -> String {
        self.testbed.run_ok(&self.host, script)
    }

    fn wait_until_ready(&self) {
        let ready = wait::until_true(Duration::from_secs(30), Duration::from_millis(100), || {
            self.kamal_proxy(&["list"]).success
        });
        assert!(
            ready,
            "the proxy did not come up: {}",
            self.run_ok(&format!("docker logs {PROXY} 2>&1 | tail -20"))
        );
    }

    /// Starts a test app container reporting `version`; returns its 12-digit id.
    fn app(&self, version: &str, env: &[(&str, &str)]) -> String {
        let mut script = format!(
            "docker run -d --label {LABEL}=1 --network {NETWORK} -e APP_VERSION={}",
            quote(version)
        );
        for (name, value) in env {
            script.push_str(&format!(" -e {}", quote(&format!("{name}={value}"))));
        }
        script.push_str(&format!(" {}", self.image));
        let id = self.run_ok(&script);
        id.trim().chars().take(12).collect()
    }

    /// `docker exec <proxy> kamal-proxy <args>`.
    fn kamal_proxy(&self, args: &[&str]) -> RemoteOutput {
        let words: Vec<String> = args.iter().map(|arg| quote(arg)).collect();
        self.testbed.run_on(
            &self.host,
            &format!("docker exec {PROXY} kamal-proxy {}", words.join(" ")),
        )
    }

    /// Deploys `service` to `target` with Kamal's usual flags plus `extra`.
    fn deploy(&self, service: &str, target: &str, extra: &[&str]) -> RemoteOutput {
        let target = format!("--target={target}:80");
        let mut args = vec![
            "deploy",
            service,
            &target,
            "--buffer-requests",
            "--buffer-responses",
        ];
        args.extend_from_slice(extra);
        self.kamal_proxy(&args)
    }

    fn deploy_ok(&self, service: &str, target: &str, extra: &[&str]) {
        let output = self.deploy(service, target, extra);
        assert!(output.success, "deploy {service} failed: {}", output.stderr);
    }

    fn address(&self) -> String {
        format!("{}:{PORT}", self.host)
    }

    fn get(&self, host: &str, path: &str) -> HttpResponse {
        http::get(&self.address(), path, Some(host), Duration::from_secs(10))
            .unwrap_or_else(|error| panic!("GET {host}{path}: {error}"))
    }

    fn version_for(&self, host: &str, path: &str) -> Option<String> {
        self.get(host, path)
            .header(VERSION_HEADER)
            .map(str::to_string)
    }

    /// GET `https://<name>:8443<path>` from the proxy, trusting the test bed's CA.
    fn https(&self, name: &str, path: &str, host_header: Option<&str>) -> CurlAnswer {
        https::get(&self.host, TLS_PORT, name, path, host_header)
    }

    fn state(&self) -> serde_json::Value {
        let text = self.run_ok(&format!("docker exec {PROXY} cat {STATE_FILE}"));
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("state file is not JSON ({error}): {text}"))
    }
}

impl Drop for ProxyHost {
    fn drop(&mut self) {
        self.clean();
    }
}

fn testbed_proxy_image() -> String {
    std::env::var("TESTBED_PROXY_IMAGE")
        .unwrap_or_else(|_| "basecamp/kamal-proxy:v0.9.2".to_string())
}

fn service_state<'a>(state: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    state
        .as_array()
        .and_then(|services| services.iter().find(|service| service["name"] == name))
        .unwrap_or_else(|| panic!("no service {name} in {state}"))
}

#[test]
fn a_target_that_never_gets_healthy_fails_the_deploy_and_the_old_one_keeps_serving() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let old = proxy.app("old", &[]);
    proxy.deploy_ok("gate", &old, &[]);
    assert_eq!(proxy.version_for("any.test", "/").as_deref(), Some("old"));

    let sick = proxy.app("sick", &[("FAIL_HEALTHCHECK", "1")]);
    let requests = RequestLoop::start(vec![proxy.address()], "/", LoopLimits::default());
    let started = Instant::now();
    let failed = proxy.deploy(
        "gate",
        &sick,
        &["--deploy-timeout=3s", "--health-check-interval=200ms"],
    );
    let took = started.elapsed();
    let report = requests.stop();

    assert!(!failed.success);
    assert_eq!(
        failed.stderr.trim(),
        "Error: target failed to become healthy within configured timeout (3s)"
    );
    assert!(
        took >= Duration::from_secs(3),
        "the gate waited the deploy timeout, took {took:?}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(
        report.failures().is_empty(),
        "requests failed during the gate: {:?}",
        report.failures()
    );
    assert_eq!(report.versions(&proxy.address()), ["old"]);
    assert_eq!(proxy.version_for("any.test", "/").as_deref(), Some("old"));
    assert_eq!(
        service_state(&proxy.state(), "gate")["active_targets"],
        serde_json::json!([format!("{old}:80")])
    );
}

#[test]
fn a_slow_starting_target_is_waited_for_until_it_answers() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let started = Instant::now();
    let slow = proxy.app("slow", &[("START_DELAY", "3")]);
    proxy.deploy_ok(
        "slow",
        &slow,
        &["--deploy-timeout=20s", "--health-check-interval=200ms"],
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(3),
        "the gate waited until the app listened (START_DELAY=3), took {took:?}"
    );
    assert_eq!(proxy.version_for("any.test", "/").as_deref(), Some("slow"));
}

#[test]
fn a_deploy_waits_for_in_flight_requests_to_the_old_target() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let first = proxy.app("first", &[]);
    proxy.deploy_ok("drain", &first, &[]);

    let second = proxy.app("second", &[]);
    let address = proxy.address();
    let slow = thread::spawn(move || {
        let response = http::get(&address, "/slow?seconds=5", None, Duration::from_secs(20));
        (response, Instant::now())
    });
    thread::sleep(Duration::from_secs(1));
    proxy.deploy_ok("drain", &second, &["--drain-timeout=30s"]);
    let deployed_at = Instant::now();

    let (slow, answered_at) = slow.join().unwrap();
    let slow = slow.expect("the in-flight request completes");
    assert_eq!(slow.status, 200);
    assert_eq!(
        slow.header(VERSION_HEADER),
        Some("first"),
        "the old target answered it"
    );
    // the deploy returns once the old target's last byte is sent: not seconds before the
    // client has its answer (a little after is the docker exec and ssh round trip)
    assert!(
        answered_at <= deployed_at + Duration::from_millis(500),
        "the deploy returned {:?} before the in-flight request was answered",
        answered_at - deployed_at
    );
    assert_eq!(
        proxy.version_for("any.test", "/").as_deref(),
        Some("second")
    );

    // a request that outlives --drain-timeout is cancelled, and the deploy does not wait for it
    let address = proxy.address();
    let doomed = thread::spawn(move || {
        http::get(&address, "/slow?seconds=20", None, Duration::from_secs(30))
    });
    thread::sleep(Duration::from_secs(1));
    let third = proxy.app("third", &[]);
    let started = Instant::now();
    proxy.deploy_ok("drain", &third, &["--drain-timeout=1s"]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "the drain gave up after its timeout, took {took:?}"
    );
    let doomed = doomed.join().unwrap();
    assert!(
        doomed
            .as_ref()
            .map_or(true, |response| response.status != 200),
        "the cancelled request must not succeed: {doomed:?}"
    );
}

#[test]
fn routes_and_pause_state_survive_a_restart_of_the_proxy_container() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let api = proxy.app("api", &[]);
    let parked = proxy.app("parked", &[]);
    proxy.deploy_ok("api", &api, &["--host=restart.test", "--path-prefix=/api"]);
    proxy.deploy_ok("parked", &parked, &["--host=parked.test"]);
    let stop = proxy.kamal_proxy(&["stop", "parked", "--message=Back soon"]);
    assert!(stop.success, "{}", stop.stderr);

    proxy.run_ok(&format!("docker restart {PROXY} >/dev/null"));
    proxy.wait_until_ready();

    assert_eq!(
        proxy.version_for("restart.test", "/api/").as_deref(),
        Some("api")
    );
    let stopped = proxy.get("parked.test", "/");
    assert_eq!(stopped.status, 503);
    assert!(stopped.text().contains("Back soon"), "{}", stopped.text());
    assert_eq!(
        proxy.get("parked.test", "/up").status,
        200,
        "a stopped service still answers its health path"
    );

    let state = proxy.state();
    let saved = service_state(&state, "api");
    assert_eq!(
        saved["active_targets"],
        serde_json::json!([format!("{api}:80")])
    );
    assert_eq!(
        saved["options"]["hosts"],
        serde_json::json!(["restart.test"])
    );
    assert_eq!(
        saved["options"]["path_prefixes"],
        serde_json::json!(["/api"])
    );
    assert_eq!(
        saved["target_options"]["health_check_config"]["interval"],
        1_000_000_000u64
    );
    assert_eq!(
        service_state(&state, "parked")["pause_controller"]["state"],
        2
    );

    let list = proxy.kamal_proxy(&["list"]);
    assert!(
        list.stdout.contains("\x1b[1;34mapi\x1b[0m"),
        "{:?}",
        list.stdout
    );
    assert!(
        list.stdout.contains("\x1b[mstopped\x1b[0m"),
        "{:?}",
        list.stdout
    );

    let resume = proxy.kamal_proxy(&["resume", "parked"]);
    assert!(resume.success, "{}", resume.stderr);
    assert_eq!(
        proxy.version_for("parked.test", "/").as_deref(),
        Some("parked")
    );
}

#[test]
fn routes_by_host_wildcard_and_path_prefix() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let deployments: [(&str, &[&str]); 6] = [
        ("site-a", &["--host=a.test"]),
        ("site-b", &["--host=b.test"]),
        ("wild", &["--host=*.wild.test"]),
        ("fallback", &[]),
        ("api", &["--host=a.test", "--path-prefix=/api"]),
        (
            "raw",
            &[
                "--host=a.test",
                "--path-prefix=/raw",
                "--strip-path-prefix=false",
            ],
        ),
    ];
    for (name, flags) in deployments {
        let target = proxy.app(name, &[]);
        proxy.deploy_ok(name, &target, flags);
    }
    let answered_by = |host: &str, path: &str| proxy.version_for(host, path);
    assert_eq!(answered_by("a.test", "/").as_deref(), Some("site-a"));
    assert_eq!(answered_by("a.test:8080", "/").as_deref(), Some("site-a"));
    assert_eq!(answered_by("b.test", "/").as_deref(), Some("site-b"));
    assert_eq!(answered_by("x.wild.test", "/").as_deref(), Some("wild"));
    assert_eq!(
        answered_by("elsewhere.test", "/").as_deref(),
        Some("fallback")
    );
    assert_eq!(answered_by("a.test", "/api").as_deref(), Some("api"));
    assert_eq!(
        answered_by("a.test", "/apix").as_deref(),
        Some("site-a"),
        "prefixes match whole segments"
    );

    let stripped = proxy.get("a.test", "/api/up");
    assert_eq!(
        (stripped.status, stripped.text().trim()),
        (200, "ok"),
        "the app saw /up"
    );
    let kept = proxy.get("a.test", "/raw/up");
    assert_eq!(kept.status, 404, "the app saw /raw/up");
    assert_eq!(kept.header(VERSION_HEADER), Some("raw"));
    let report = proxy.get("a.test", "/api/").json();
    assert_eq!(report["version"], "api");
}

#[test]
fn a_second_service_on_the_same_host_and_path_is_refused() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let owner = proxy.app("owner", &[]);
    let intruder = proxy.app("intruder", &[]);
    proxy.deploy_ok("owner", &owner, &["--host=c.test"]);
    let refused = proxy.deploy("intruder", &intruder, &["--host=c.test"]);
    assert!(!refused.success);
    assert_eq!(
        refused.stderr.trim(),
        "Error: host settings conflict with another service"
    );
    assert_eq!(proxy.version_for("c.test", "/").as_deref(), Some("owner"));
    proxy.deploy_ok(
        "intruder",
        &intruder,
        &["--host=c.test", "--path-prefix=/other"],
    );
    assert_eq!(
        proxy.version_for("c.test", "/other").as_deref(),
        Some("intruder")
    );
    let removed = proxy.kamal_proxy(&["rm", "owner"]);
    assert!(removed.success, "{}", removed.stderr);
    proxy.deploy_ok("intruder", &intruder, &["--host=c.test"]);
    assert_eq!(
        proxy.version_for("c.test", "/").as_deref(),
        Some("intruder")
    );
}

#[test]
fn tls_with_a_static_certificate_chosen_by_sni_and_plain_http_redirected() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let secure = proxy.app("secure", &[]);
    let certificate = format!("--tls-certificate-path={PROXY_TLS_DIR}/cert.pem");
    let key = format!("--tls-private-key-path={PROXY_TLS_DIR}/key.pem");
    let host = format!("--host={TLS_HOST}");
    proxy.deploy_ok("secure", &secure, &[&host, "--tls", &certificate, &key]);

    let answer = proxy.https(TLS_HOST, "/", None);
    assert_eq!(
        (answer.exit, answer.status),
        (Some(0), Some(200)),
        "{answer:?}"
    );
    assert_eq!(answer.header(VERSION_HEADER), Some("secure"));
    let forwarded = proxy.https(TLS_HOST, "/", None);
    assert!(forwarded.body.contains("\"version\""), "{forwarded:?}");

    // Plain HTTP: 301 to the same path on HTTPS, without the port (redirectURLIfNeeded).
    let plain = proxy.get(&format!("{TLS_HOST}:{PORT}"), "/some/path?q=1");
    assert_eq!(plain.status, 301);
    assert_eq!(
        plain.header("location"),
        Some(format!("https://{TLS_HOST}/some/path?q=1").as_str())
    );
    proxy.deploy_ok(
        "secure",
        &secure,
        &[&host, "--tls", &certificate, &key, "--tls-redirect=false"],
    );
    assert_eq!(proxy.get(TLS_HOST, "/").status, 200, "no redirect asked");

    // A path-prefix service on that host stores its root's TLS settings and answers over HTTPS.
    let api = proxy.app("api", &[]);
    proxy.deploy_ok("api", &api, &[&host, "--path-prefix=/api"]);
    let saved = service_state(&proxy.state(), "api")["options"].clone();
    assert_eq!(
        (&saved["tls_enabled"], &saved["tls_redirect"]),
        (&serde_json::json!(true), &serde_json::json!(false)),
        "{saved}"
    );
    let through_tls = proxy.https(TLS_HOST, "/api/", None);
    assert_eq!(
        through_tls.header(VERSION_HEADER),
        Some("api"),
        "{through_tls:?}"
    );

    // The certificate of the SNI's service, but a Host served without TLS: 503.
    let plain_app = proxy.app("plain", &[]);
    proxy.deploy_ok("plain", &plain_app, &["--host=plain.gantry.test"]);
    let mismatch = proxy.https(TLS_HOST, "/", Some("plain.gantry.test"));
    assert_eq!(mismatch.status, Some(503), "{mismatch:?}");
    // No TLS service for the name: the handshake fails.
    let refused = proxy.https("plain.gantry.test", "/", None);
    assert_eq!(refused.status, None, "{refused:?}");
    assert_ne!(refused.exit, Some(0));
}

#[test]
fn certificates_that_cannot_be_loaded_and_automatic_tls_fail_as_v0_9_2_does() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let app = proxy.app("app", &[]);
    let missing = proxy.deploy(
        "missing",
        &app,
        &[
            "--host=missing.gantry.test",
            "--tls",
            "--tls-certificate-path=/home/kamal-proxy/.apps-config/none/cert.pem",
            "--tls-private-key-path=/home/kamal-proxy/.apps-config/none/key.pem",
        ],
    );
    assert!(!missing.success);
    assert_eq!(missing.stderr.trim(), "Error: unable to load certificate");
    assert_eq!(proxy.get("missing.gantry.test", "/").status, 404);

    let wildcard = proxy.deploy("wild", &app, &["--host=*.wild.gantry.test", "--tls"]);
    assert!(!wildcard.success);
    assert_eq!(
        wildcard.stderr.trim(),
        "Error: automatic TLS does not support wildcards"
    );

    // ACME: accepted; no ACME directory is reachable, so no handshake completes, and plain
    // HTTP is redirected to HTTPS as with any TLS service.
    proxy.deploy_ok("acme", &app, &["--host=acme.gantry.test", "--tls"]);
    let handshake = proxy.https("acme.gantry.test", "/", None);
    assert_eq!(handshake.status, None, "{handshake:?}");
    let plain = proxy.get("acme.gantry.test", "/");
    assert_eq!(plain.status, 301);
    assert_eq!(plain.header("location"), Some("https://acme.gantry.test/"));

    // `--tls` without `--host` passes v0.9.2's checks (they run after the wildcard host is added).
    proxy.deploy_ok("anywhere", &app, &["--tls"]);
    // An unknown flag: cobra's words and exit status 1.
    let unknown = proxy.run_ok(&format!(
        "docker exec {PROXY} kamal-proxy deploy anywhere --target={app}:80 --no-such-flag=1 \
         2>&1; echo \"exit $?\""
    ));
    assert_eq!(
        unknown.trim(),
        "Error: unknown flag: --no-such-flag\nexit 1"
    );
}

#[test]
fn the_state_file_is_saved_after_a_conflict_and_after_a_drain() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let owner = proxy.app("owner", &[]);
    proxy.deploy_ok("owner", &owner, &["--host=c.test"]);
    let modified = || proxy.run_ok(&format!("docker exec {PROXY} stat -c %Y {STATE_FILE}"));
    let before = modified();
    thread::sleep(Duration::from_millis(1100));
    let refused = proxy.deploy("intruder", &owner, &["--host=c.test"]);
    assert!(!refused.success);
    assert_ne!(
        modified(),
        before,
        "a deploy that met a conflict still saved"
    );

    // `stop` saves once the drain is over: during the drain the file still says running.
    let address = proxy.address();
    let slow = thread::spawn(move || {
        http::get(
            &address,
            "/slow?seconds=4",
            Some("c.test"),
            Duration::from_secs(20),
        )
    });
    thread::sleep(Duration::from_millis(500));
    let stopper = {
        let testbed = testbed.clone();
        let host = proxy.host.clone();
        thread::spawn(move || {
            testbed.run_on(
                &host,
                &format!("docker exec {PROXY} kamal-proxy stop owner --drain-timeout=10s"),
            )
        })
    };
    thread::sleep(Duration::from_secs(1));
    assert_eq!(
        service_state(&proxy.state(), "owner")["pause_controller"]["state"],
        0,
        "not saved before the drain"
    );
    let stopped = stopper.join().unwrap();
    assert!(stopped.success, "{}", stopped.stderr);
    assert_eq!(
        service_state(&proxy.state(), "owner")["pause_controller"]["state"],
        2
    );
    assert_eq!(
        slow.join().unwrap().map(|answer| answer.status).ok(),
        Some(200)
    );
}

/// `POST /up` with a body of `size` bytes, answered in full.
fn post(address: &str, host: &str, size: usize) -> HttpResponse {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connecting to the proxy");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let head = format!(
        "POST /up HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("sending the head");
    stream
        .write_all(&vec![b'x'; size])
        .expect("sending the body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("reading the answer");
    http::parse_response(&raw).expect("an HTTP answer")
}

#[test]
fn buffered_bodies_have_limits_and_the_app_gets_request_id_and_start() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let app = proxy.app("limits", &[]);
    proxy.deploy_ok(
        "limits",
        &app,
        &[
            "--host=limits.test",
            "--max-request-body=100",
            "--max-response-body=60",
        ],
    );

    let too_large = post(&proxy.address(), "limits.test", 101);
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.text(), "Request too large\n");
    let fits = post(&proxy.address(), "limits.test", 100);
    assert_eq!(
        (fits.status, fits.header(VERSION_HEADER)),
        (200, Some("limits")),
        "reached the app: {}",
        fits.text()
    );

    // The report of `/` is longer than 60 bytes; `/up` is not.
    let long = proxy.get("limits.test", "/");
    assert_eq!(
        (long.status, long.text().as_str()),
        (500, "Internal Server Error\n")
    );
    assert_eq!(proxy.get("limits.test", "/up").status, 200);

    // Without a response limit, the app's echo of its request headers.
    proxy.deploy_ok("echo", &app, &["--host=echo.test"]);
    let echoed = proxy.get("echo.test", "/headers").text().to_lowercase();
    let value = |name: &str| {
        echoed
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} reached the app: {echoed}"))
            .to_string()
    };
    assert_eq!(value("x-request-id").len(), 36, "a UUID");
    assert!(value("x-request-start").starts_with("t="), "{echoed}");
}

#[test]
fn the_health_check_follows_redirects() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let app = proxy.app("redirected", &[]);
    proxy.deploy_ok(
        "redirected",
        &app,
        &[
            "--health-check-path=/redirect?to=/up",
            "--health-check-interval=200ms",
            "--deploy-timeout=5s",
        ],
    );
    assert_eq!(
        proxy.version_for("any.test", "/").as_deref(),
        Some("redirected")
    );
    // A redirect to a failing path is a failing check.
    let failing = proxy.deploy(
        "redirected",
        &app,
        &[
            "--health-check-path=/redirect?to=/missing",
            "--health-check-interval=200ms",
            "--deploy-timeout=2s",
        ],
    );
    assert!(!failing.success);
    assert!(
        failing.stderr.contains("target failed to become healthy"),
        "{}",
        failing.stderr
    );
}

/// The version that answers `GET /` on `host` with a `kamal-rollout` cookie of `value`.
fn version_with_rollout_cookie(proxy: &ProxyHost, host: &str, value: &str) -> Option<String> {
    let address = proxy.address();
    let stream = std::net::TcpStream::connect(&address).expect("connecting to the proxy");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let cookie = format!("theme=dark; kamal-rollout={value}");
    http::exchange(stream, &address, "/", host, &[("Cookie", &cookie)])
        .expect("an answer")
        .header(VERSION_HEADER)
        .map(str::to_string)
}

#[test]
fn a_rollout_sends_the_chosen_requests_to_its_own_targets() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let proxy = ProxyHost::start(&testbed);
    let stable = proxy.app("stable", &[]);
    let canary = proxy.app("canary", &[]);
    proxy.deploy_ok("roll", &stable, &["--host=roll.test"]);

    let unset = proxy.kamal_proxy(&["rollout", "set", "roll", "--percent=100"]);
    assert!(!unset.success);
    assert_eq!(unset.stderr.trim(), "Error: rollout target not set");

    let target = format!("--target={canary}:80");
    let deployed = proxy.kamal_proxy(&["rollout", "deploy", "roll", &target]);
    assert!(deployed.success, "{}", deployed.stderr);
    assert_eq!(
        version_with_rollout_cookie(&proxy, "roll.test", "beta").as_deref(),
        Some("stable"),
        "no split set yet"
    );

    let set = proxy.kamal_proxy(&["rollout", "set", "roll", "--percent=0", "--list=beta"]);
    assert!(set.success, "{}", set.stderr);
    assert_eq!(
        version_with_rollout_cookie(&proxy, "roll.test", "beta").as_deref(),
        Some("canary")
    );
    assert_eq!(
        version_with_rollout_cookie(&proxy, "roll.test", "gamma").as_deref(),
        Some("stable")
    );
    assert_eq!(
        proxy.version_for("roll.test", "/").as_deref(),
        Some("stable")
    );
    let saved = service_state(&proxy.state(), "roll").clone();
    assert_eq!(
        saved["rollout_targets"],
        serde_json::json!([format!("{canary}:80")])
    );
    assert_eq!(
        saved["rollout_controller"]["allowlist"],
        serde_json::json!(["beta"])
    );
    assert_eq!(saved["rollout_controller"]["percentage"], 0);

    let everyone = proxy.kamal_proxy(&["rollout", "set", "roll", "--percent=100"]);
    assert!(everyone.success, "{}", everyone.stderr);
    assert_eq!(
        version_with_rollout_cookie(&proxy, "roll.test", "gamma").as_deref(),
        Some("canary")
    );

    let stop = proxy.kamal_proxy(&["rollout", "stop", "roll"]);
    assert!(stop.success, "{}", stop.stderr);
    assert_eq!(
        version_with_rollout_cookie(&proxy, "roll.test", "beta").as_deref(),
        Some("stable")
    );
    assert_eq!(
        service_state(&proxy.state(), "roll")["rollout_controller"],
        serde_json::Value::Null
    );
}
