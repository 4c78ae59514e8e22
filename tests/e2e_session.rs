//! One run of a changing command on the test bed (`src/session/`): which hosts hold the deploy
//! lock (the primary host always, and the host Kamal 2.11 locks for the same `-h`, checked with
//! the real `kamal`), an accessory booted off the primary host, Ctrl-C at the prompt of every
//! command that asks (sent to a real gantry process waiting on a pseudo-terminal), a second
//! Ctrl-C, and `rollback` connecting once.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Testbed, wait};

const SERVICE: &str = "gantry-session";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(120);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gantry"))
}

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(bin(), project.dir(), args)
}

fn project(testbed: &Testbed, hosts: &[String], extra: &str) -> KamalProject {
    let mut app = KamalApp::testapp(hosts);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    app.extra_yaml = extra.to_string();
    KamalProject::create(testbed, app)
}

/// Whether `host` has this service's deploy lock directory.
fn locked(testbed: &Testbed, host: &str) -> bool {
    testbed
        .run_on(host, &format!("test -e .kamal/lock-{SERVICE}"))
        .success
}

fn accessory(testbed: &Testbed, host: &str) -> String {
    testbed
        .run_ok(
            host,
            &format!("docker ps -a --filter name=^{SERVICE}-busybox$ --format '{{{{.State}}}}'"),
        )
        .trim()
        .to_string()
}

#[test]
fn gantry_s_lock_and_kamal_s_lock_for_the_same_hosts_stop_an_apply_on_another_host() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let v = testbed.push_versions(SERVICE, &["l1", "l2"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    let second = hosts[1].as_str();

    // `gantry lock acquire` takes the primary host's lock, which every run takes.
    gantry(&project, &["lock", "acquire", "-m", "by hand"]).assert_code(0);
    let refused = gantry(&project, &["apply", "-y", "-h", second, "--version", &v[1]]);
    refused.assert_code(1);
    assert!(refused.stderr.contains("by hand"), "{}", refused.stderr);
    gantry(&project, &["lock", "release"]).assert_code(0);

    // Kamal with `-h` locks that host: gantry with the same `-h` takes that lock too.
    project
        .run(
            &[
                "lock",
                "acquire",
                "-m",
                "kamal by hand",
                "-h",
                second,
                "--version",
                &v[0],
            ],
            KAMAL_TIMEOUT,
        )
        .assert_success();
    assert!(locked(&testbed, second) && !locked(&testbed, &hosts[0]));
    let refused = gantry(&project, &["apply", "-y", "-h", second, "--version", &v[1]]);
    refused.assert_code(1);
    assert!(
        refused.stderr.contains("kamal by hand"),
        "{}",
        refused.stderr
    );
    assert!(
        !locked(&testbed, &hosts[0]),
        "a refused run leaves no lock of its own"
    );
    project
        .run(
            &["lock", "release", "-h", second, "--version", &v[0]],
            KAMAL_TIMEOUT,
        )
        .assert_success();

    // And the other way round: gantry's lock for `-h` stops Kamal's run for the same `-h`.
    gantry(
        &project,
        &["lock", "-h", second, "acquire", "-m", "gantry by hand"],
    )
    .assert_code(0);
    assert!(locked(&testbed, second) && locked(&testbed, &hosts[0]));
    let kamal = project.run(
        &[
            "lock",
            "acquire",
            "-m",
            "x",
            "-h",
            second,
            "--version",
            &v[0],
        ],
        KAMAL_TIMEOUT,
    );
    assert!(!kamal.success, "{}", kamal.output);
    assert!(kamal.output.contains("Deploy lock"), "{}", kamal.output);
    gantry(&project, &["lock", "-h", second, "release"]).assert_code(0);

    gantry(&project, &["apply", "-y", "-h", second, "--version", &v[1]]).assert_code(0);
    assert_eq!(http::serving(second).as_deref(), Some(v[1].as_str()));
    assert_eq!(http::serving(&hosts[0]).as_deref(), Some(v[0].as_str()));
    for host in &hosts {
        assert!(
            !locked(&testbed, host),
            "{host}: the run released its locks"
        );
    }
}

/// A gantry process whose stdin is a pseudo-terminal (so it asks), its output collected.
struct AtPrompt {
    child: Child,
    output: Arc<Mutex<String>>,
    /// The terminal's other end, open while the process runs.
    _terminal: OwnedFd,
}

impl AtPrompt {
    fn start(project: &KamalProject, args: &[&str]) -> AtPrompt {
        let (mut terminal, mut input) = (-1, -1);
        // SAFETY: openpty writes two descriptors into the integers given; nothing else.
        let opened = unsafe {
            libc::openpty(
                &mut terminal,
                &mut input,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(opened, 0, "openpty");
        // SAFETY: both descriptors were just opened and are owned by nothing else.
        let (terminal, input) =
            unsafe { (OwnedFd::from_raw_fd(terminal), OwnedFd::from_raw_fd(input)) };
        let mut child = Command::new(bin())
            .args(args)
            .current_dir(project.dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::from(input))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gantry runs");
        let output = Arc::new(Mutex::new(String::new()));
        let streams: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for mut stream in streams {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(read) = stream.read(&mut buffer) {
                    if read == 0 {
                        break;
                    }
                    output
                        .lock()
                        .expect("output")
                        .push_str(&String::from_utf8_lossy(&buffer[..read]));
                }
            });
        }
        AtPrompt {
            child,
            output,
            _terminal: terminal,
        }
    }

    fn output(&self) -> String {
        self.output.lock().expect("output").clone()
    }

    /// Waits for the question, sends SIGINT, and returns the exit code and the output.
    fn interrupt_at_the_question(mut self) -> (Option<i32>, String) {
        let asked = wait::until_true(Duration::from_secs(120), Duration::from_millis(100), || {
            self.output().contains("[y, N]")
        });
        assert!(asked, "never asked:\n{}", self.output());
        // SAFETY: a signal to the child this test started.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break Some(status);
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(200));
        (status.and_then(|status| status.code()), self.output())
    }
}

#[test]
fn an_accessory_off_the_primary_host_boots_and_ctrl_c_at_any_prompt_leaves_no_lock() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let (primary, other) = (hosts[0].as_str(), hosts[1].as_str());
    let v = testbed.push_versions(SERVICE, &["p1", "p2"]);
    let busybox = format!("{}/testbed/busybox:latest", testbed.registry);
    let project = project(
        &testbed,
        &hosts[..1],
        &format!(
            "accessories:\n  busybox:\n    image: {busybox}\n    host: {other}\n    cmd: sh -c 'while true; do sleep 1; done'\n"
        ),
    );

    // The accessory's host is not the primary host, whose lock the run takes all the same.
    gantry(&project, &["accessory", "boot", "busybox"]).assert_code(0);
    assert_eq!(accessory(&testbed, other), "running");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);

    for args in [
        vec!["accessory", "remove", "busybox"],
        vec!["remove"],
        vec!["proxy", "reboot"],
        vec!["apply", "--version", &v[1]],
    ] {
        let (code, output) = AtPrompt::start(&project, &args).interrupt_at_the_question();
        assert_eq!(code, Some(130), "{args:?}:\n{output}");
        assert!(
            output.contains("Interrupted before any change; nothing changed."),
            "{args:?}:\n{output}"
        );
        for host in [primary, other] {
            assert!(
                !locked(&testbed, host),
                "{args:?}: a lock was left on {host}:\n{output}"
            );
        }
        let status = gantry(&project, &["lock", "status"]);
        status.assert_code(0);
        assert!(
            status.stdout.contains("There is no deploy lock"),
            "{}",
            status.stdout
        );
        assert_eq!(
            accessory(&testbed, other),
            "running",
            "{args:?}: nothing changed"
        );
        assert_eq!(http::serving(primary).as_deref(), Some(v[0].as_str()));
    }
}

/// `rollback` looks at the hosts to choose its version, then applies it on the same
/// connections: one SSH connection per host (it used to connect twice).
#[test]
fn rollback_connects_to_each_host_once() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let v = testbed.push_versions(SERVICE, &["r1", "r2"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    gantry(&project, &["apply", "-y", "--version", &v[1]]).assert_code(0);

    let rollback = gantry::spawn(
        bin(),
        project.dir(),
        &["rollback", "-y"],
        &[("GANTRY_LOG", "warn,gantry::host::ssh=debug")],
    )
    .wait(Duration::from_secs(300));
    rollback.assert_code(0);
    let connecting = rollback
        .stderr
        .lines()
        .filter(|line| line.contains("connecting"))
        .count();
    assert_eq!(connecting, hosts.len(), "{}", rollback.stderr);
    for host in &hosts {
        assert_eq!(
            http::serving(host).as_deref(),
            Some(v[0].as_str()),
            "{host}"
        );
    }
}

/// The first Ctrl-C lets the run roll back what is in flight; a second one ends the process at
/// once, by SIGINT itself, as a program that does not catch it ends (a shell reads 130).
#[test]
fn a_second_ctrl_c_ends_the_run_at_once_by_sigint() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(1).cloned().collect();
    let v = testbed.push_versions(SERVICE, &["q1", "q2"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(20);
    app.drain_timeout = Some(2);
    // The new container takes its time to answer: the run is in flight when interrupted.
    app.clear_env = vec![("START_DELAY".into(), "8".into())];
    let project = KamalProject::create(&testbed, app);
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);

    let run = gantry::spawn(
        bin(),
        project.dir(),
        &["apply", "-y", "--version", &v[1]],
        &[],
    );
    let name = format!("{SERVICE}-web-{}", v[1]);
    assert!(
        wait::until_true(Duration::from_secs(60), Duration::from_millis(200), || {
            testbed
                .run_ok(&hosts[0], "docker ps -a --format '{{.Names}}'")
                .contains(&name)
        }),
        "{name} never appeared"
    );
    run.signal("INT");
    assert!(
        wait::until_true(Duration::from_secs(10), Duration::from_millis(50), || {
            run.output_so_far()
                .contains("Interrupted: nothing new starts")
        }),
        "{}",
        run.output_so_far()
    );
    let second = Instant::now();
    run.signal("INT");
    let ended = run.wait(Duration::from_secs(120));
    assert!(
        second.elapsed() < Duration::from_secs(5),
        "at once, not after the in-flight actions ({:?})",
        second.elapsed()
    );
    assert_eq!(ended.code, None, "ended by the signal:\n{}", ended.stderr);
    assert!(
        ended.stderr.contains("Quitting without waiting"),
        "{}",
        ended.stderr
    );

    // What it left (the lock, a half-switched host) is the next run's to take over and finish.
    gantry(&project, &["lock", "release"]).assert_code(0);
    gantry(&project, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    assert_eq!(http::serving(&hosts[0]).as_deref(), Some(v[1].as_str()));
}
