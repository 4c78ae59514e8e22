//! The day-2 commands on the test bed (specs/commands.md), each test checking the hosts' real
//! state afterwards: `logs`, `exec` (one-off, `--reuse`, interactive through a pseudo-terminal),
//! `app stop|start|restart`, the lock, `prune`, `remove`, accessories keeping their data through
//! applies, reboots and rollbacks, `setup`, `proxy reboot`, `server exec`, aliases, and hooks
//! that stop a deploy before anything changes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Testbed, wait};

const SERVICE: &str = "gantry-day2";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_gantry"))
}

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(bin(), project.dir(), args)
}

/// Versions unique to this run of the test, pushed to the registry.
fn versions(testbed: &Testbed, names: &[&str]) -> Vec<String> {
    testbed.push_versions(SERVICE, names)
}

fn project(testbed: &Testbed, hosts: &[String], extra: &str) -> KamalProject {
    let mut app = KamalApp::testapp(hosts);
    app.service = SERVICE.to_string();
    app.clear_env = vec![("GREETING".into(), "hello".into())];
    app.secret_env = vec![("DB_PASSWORD".into(), "day2-s3cret".into())];
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    app.extra_yaml = extra.to_string();
    KamalProject::create(testbed, app)
}

/// The version the proxy on `host` serves.
fn serving(host: &str) -> Option<String> {
    http::serving(host)
}

/// `name id state` of every container of `filter` on `host`, sorted.
fn containers(testbed: &Testbed, host: &str, filter: &str) -> String {
    testbed
        .run_ok(
            host,
            &format!(
                "docker ps -a --filter {filter} --format '{{{{.Names}}}} {{{{.ID}}}} {{{{.State}}}}' | sort"
            ),
        )
        .trim()
        .to_string()
}

fn app_containers(testbed: &Testbed, host: &str) -> String {
    containers(testbed, host, &format!("label=service={SERVICE}"))
}

fn assert_no_secret(run: &GantryRun) {
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains("day2-s3cret"), "a secret leaked:\n{text}");
    }
}

#[test]
fn logs_exec_and_app_stop_start_restart_work_on_every_host() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let v = versions(&testbed, &["one"]);
    let project = project(
        &testbed,
        &hosts,
        "aliases:\n  hello: server exec echo alias-$((40+2))\n  shell: exec -i --reuse sh\n",
    );
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    let running = format!("{SERVICE}-web-{}", v[0]);

    // logs: the last N lines of each host, prefixed with the host; --grep filters.
    let logs = gantry(&project, &["logs", "-n", "3"]);
    logs.assert_code(0);
    for host in &hosts {
        let lines: Vec<&str> = logs
            .stdout
            .lines()
            .filter(|line| line.starts_with(&format!("{host}  ")))
            .collect();
        assert!(
            !lines.is_empty() && lines.len() <= 3,
            "{host}: {lines:?}\n{}",
            logs.stdout
        );
    }
    let grep = gantry(&project, &["logs", "--grep", "listening on port", "-T"]);
    grep.assert_code(0);
    let lines: Vec<&str> = grep.stdout.lines().collect();
    assert_eq!(lines.len(), hosts.len(), "{}", grep.stdout);
    for line in lines {
        assert!(
            line.ends_with(&format!("testapp: version {} listening on port 80", v[0])),
            "{line}"
        );
    }

    // logs -f: every host's new lines as they come, until Ctrl-C.
    let follow = gantry::spawn(
        bin(),
        project.dir(),
        &["logs", "-f", "-n", "0", "--grep", "marker-follow"],
        &[],
    );
    let seen = wait::until_true(Duration::from_secs(20), Duration::from_millis(300), || {
        for host in &hosts {
            let _ = http::get(
                &format!("{host}:80"),
                "/marker-follow",
                None,
                Duration::from_secs(2),
            );
        }
        let output = follow.output_so_far();
        hosts.iter().all(|host| {
            output.lines().any(|line| {
                line.starts_with(&format!("{host}  ")) && line.contains("GET /marker-follow")
            })
        })
    });
    follow.signal("INT");
    let followed = follow.wait(Duration::from_secs(10));
    assert!(seen, "{}\n{}", followed.stdout, followed.stderr);
    assert_ne!(followed.code, Some(0), "it ran until interrupted");

    // exec: a one-off container per host with the role's env, gone afterwards.
    let before: Vec<String> = hosts.iter().map(|h| app_containers(&testbed, h)).collect();
    let exec = gantry(
        &project,
        &[
            "exec",
            "sh",
            "-c",
            "'echo one-off:$KAMAL_HOST:$GREETING:${#DB_PASSWORD}'",
        ],
    );
    exec.assert_code(0);
    assert_no_secret(&exec);
    for host in &hosts {
        assert!(
            exec.stdout
                .contains(&format!("{host}  one-off:{host}:hello:11")),
            "{}",
            exec.stdout
        );
    }
    let after: Vec<String> = hosts.iter().map(|h| app_containers(&testbed, h)).collect();
    assert_eq!(before, after, "the one-off containers were removed");
    let audit = testbed.run_ok(&hosts[0], &format!("cat .kamal/{SERVICE}-audit.log"));
    assert!(audit.contains("Executed cmd 'sh -c"), "{audit}");

    // --reuse: in the running container; a failing command's exit code is reported.
    let reuse = gantry(
        &project,
        &[
            "exec",
            "--reuse",
            "-h",
            &hosts[1],
            "sh -c 'echo in:$KAMAL_CONTAINER_NAME'",
        ],
    );
    reuse.assert_code(0);
    assert_eq!(reuse.stdout.trim(), format!("{}  in:{running}", hosts[1]));
    gantry(&project, &["exec", "--reuse", "false"]).assert_code(1);

    // -i: a pseudo-terminal over SSH; keys go in, the exit code comes out.
    for args in [vec!["exec", "-i", "sh"], vec!["shell"]] {
        let (code, output) = interactive(
            &project,
            &args,
            "echo tty:$(tty | cut -c1-8):$((6*7)); exit 3\n",
        );
        assert_eq!(code, Some(3), "{args:?}: {output}");
        assert!(output.contains("tty:/dev/pts:42"), "{args:?}: {output}");
    }
    let after: Vec<String> = hosts.iter().map(|h| app_containers(&testbed, h)).collect();
    assert_eq!(
        before, after,
        "the interactive one-off container was removed"
    );

    // aliases run the command line they name.
    let alias = gantry(&project, &["hello"]);
    alias.assert_code(0);
    for host in &hosts {
        assert!(
            alias.stdout.contains(&format!("{host}  alias-42")),
            "{}",
            alias.stdout
        );
    }
    gantry(&project, &["no-such-command"]).assert_code(1);

    // app stop: route gone, container stopped; app start: both back; restart: a new start.
    let stop = gantry(&project, &["app", "stop"]);
    stop.assert_code(0);
    for host in &hosts {
        assert!(
            app_containers(&testbed, host).contains(&format!("{running} ")),
            "{host}"
        );
        assert!(app_containers(&testbed, host).ends_with("exited"), "{host}");
        assert_eq!(serving(host), None, "{host} serves nothing once stopped");
    }
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &v[0]],
    );
    plan.assert_code(2);
    gantry(&project, &["app", "start"]).assert_code(0);
    for host in &hosts {
        assert_eq!(serving(host).as_deref(), Some(v[0].as_str()), "{host}");
    }
    let started_at = |host: &str| {
        testbed.run_ok(
            host,
            &format!("docker inspect -f '{{{{.State.StartedAt}}}}' {running}"),
        )
    };
    let first_start: Vec<String> = hosts.iter().map(|h| started_at(h)).collect();
    let restart = gantry(&project, &["app", "restart"]);
    restart.assert_code(0);
    for (host, first) in hosts.iter().zip(&first_start) {
        assert_ne!(&started_at(host), first, "{host} restarted");
        assert_eq!(serving(host).as_deref(), Some(v[0].as_str()), "{host}");
    }
    gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &v[0]],
    )
    .assert_code(0);
    let audit = testbed.run_ok(&hosts[0], &format!("cat .kamal/{SERVICE}-audit.log"));
    assert!(audit.contains("gantry run"), "{audit}");
    eprintln!(
        "{} hosts: logs -n 3 {:?}, logs --grep {:?}, exec (one-off) {:?}, exec --reuse {:?}, app stop {:?}, app restart {:?}",
        hosts.len(),
        logs.duration,
        grep.duration,
        exec.duration,
        reuse.duration,
        stop.duration,
        restart.duration
    );
}

/// Runs gantry with `args` under `script` (a pseudo-terminal), typing `keys`; returns the exit
/// code and everything the terminal showed.
fn interactive(project: &KamalProject, args: &[&str], keys: &str) -> (Option<i32>, String) {
    let command = std::iter::once(bin().display().to_string())
        .chain(args.iter().map(|arg| arg.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(project.dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script(1) runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(keys.as_bytes()).expect("typing");
    // Keep the terminal open until the command ends on its own.
    let keep_open = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        drop(stdin);
    });
    let output = child.wait_with_output().expect("script ends");
    drop(keep_open);
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn the_lock_held_by_hand_stops_every_changing_command_until_released() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(1).cloned().collect();
    let v = versions(&testbed, &["locked"]);
    let project = project(&testbed, &hosts, "");
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    let lock_dir = format!(".kamal/lock-{SERVICE}");

    gantry(&project, &["lock", "acquire", "-m", "database migration"]).assert_code(0);
    let details = testbed.run_ok(&hosts[0], &format!("base64 -d {lock_dir}/details"));
    assert!(details.contains("database migration"), "{details}");
    let before = app_containers(&testbed, &hosts[0]);
    for args in [
        vec!["app", "stop"],
        vec!["prune"],
        vec!["apply", "-y", "--version", &v[0]],
    ] {
        let refused = gantry(&project, &args);
        refused.assert_code(1);
        assert!(
            refused.stderr.contains("database migration"),
            "{args:?}: {}",
            refused.stderr
        );
    }
    assert_eq!(
        app_containers(&testbed, &hosts[0]),
        before,
        "nothing changed"
    );
    assert_eq!(serving(&hosts[0]).as_deref(), Some(v[0].as_str()));
    let status = gantry(&project, &["lock", "status"]);
    status.assert_code(0);
    assert!(
        status.stdout.contains("database migration"),
        "{}",
        status.stdout
    );

    gantry(&project, &["lock", "release"]).assert_code(0);
    let gone = testbed.run_on(&hosts[0], &format!("test -e {lock_dir}"));
    assert!(!gone.success, "the lock directory is gone");
    gantry(&project, &["app", "stop"]).assert_code(0);
    assert_eq!(serving(&hosts[0]), None);
    let gone = testbed.run_on(&hosts[0], &format!("test -e {lock_dir}"));
    assert!(!gone.success, "app stop released the lock it took");
}

#[test]
fn prune_keeps_the_retained_containers_and_remove_leaves_nothing_of_the_app() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let v = versions(&testbed, &["p1", "p2", "p3"]);
    let busybox = format!("{}/testbed/busybox:latest", testbed.registry);
    let project = project(
        &testbed,
        &hosts,
        &format!(
            "accessories:\n  cache:\n    image: {busybox}\n    host: {}\n    cmd: sh -c 'sleep 100000'\n    directories:\n      - data:/data\n",
            hosts[0]
        ),
    );
    for version in &v {
        gantry(&project, &["apply", "-y", "--version", version]).assert_code(0);
    }
    let image_of = |host: &str, version: &str| {
        testbed
            .run_on(
                host,
                &format!("docker image inspect {}:{version}", testbed.testapp_image),
            )
            .success
    };
    let prune = gantry(&project, &["prune", "--retain", "1"]);
    prune.assert_code(0);
    for host in &hosts {
        let listed = app_containers(&testbed, host);
        assert!(!listed.contains(&v[0]), "{host}: {listed}");
        assert!(
            listed.contains(&v[1]) && listed.contains(&v[2]),
            "{host}: {listed}"
        );
        assert!(!image_of(host, &v[0]), "{host}: the unused image is gone");
        assert!(image_of(host, &v[1]) && image_of(host, &v[2]), "{host}");
        assert_eq!(serving(host).as_deref(), Some(v[2].as_str()), "{host}");
    }
    let again = gantry(&project, &["prune", "--retain", "1"]);
    again.assert_code(0);
    assert!(again.stdout.contains("No changes"), "{}", again.stdout);

    // Without a terminal and without -y, remove refuses and changes nothing.
    let refused = gantry(&project, &["remove"]);
    refused.assert_code(1);
    assert!(refused.stderr.contains("-y"), "{}", refused.stderr);
    assert!(app_containers(&testbed, &hosts[0]).contains(&v[2]));

    let _heal = ReloadProxyImage {
        testbed: &testbed,
        hosts: vec![1, 2],
    };
    let remove = gantry(&project, &["remove", "-y"]);
    remove.assert_code(0);
    assert_no_secret(&remove);
    for host in &hosts {
        let left = testbed.run_ok(
            host,
            &format!(
                "docker ps -aq --filter label=service={SERVICE}; docker ps -aq --filter name=kamal-proxy; \
                 docker ps -aq --filter label=service={SERVICE}-cache; \
                 docker image ls -q --filter label=service={SERVICE}; \
                 ls -d .kamal/apps/{SERVICE} .kamal/lock-{SERVICE} .kamal/proxy {SERVICE}-cache 2>/dev/null; true"
            ),
        );
        assert_eq!(left.trim(), "", "{host} still has: {left}");
        assert_eq!(serving(host), None, "{host}");
        let audit = testbed.run_ok(host, &format!("cat .kamal/{SERVICE}-audit.log"));
        assert!(audit.contains("gantry run"), "the audit log stays: {audit}");
    }
    // Kamal sees no app either.
    let details = project.run(&["app", "details"], Duration::from_secs(60));
    assert!(!details.output.contains(&v[2]), "{}", details.output);
}

/// `gantry remove` takes kamal-proxy's image off hosts where no app is left, as Kamal does; the
/// test bed cannot pull it, so it is loaded again from this machine when the test ends.
struct ReloadProxyImage<'a> {
    testbed: &'a Testbed,
    hosts: Vec<usize>,
}

impl Drop for ReloadProxyImage<'_> {
    fn drop(&mut self) {
        for host in &self.hosts {
            let script = format!(
                "docker save basecamp/kamal-proxy:v0.9.2 | {} ssh {host} docker load -q",
                self.testbed.script.display()
            );
            let status = Command::new("sh")
                .args(["-c", &script])
                .env("TESTBED_DIR", &self.testbed.dir)
                .stdout(Stdio::null())
                .status();
            assert!(
                status.is_ok_and(|status| status.success()),
                "reloading the proxy image on host {host}"
            );
        }
    }
}

/// The first line of the accessory's log file on `host`: it changes only if the data is lost.
fn first_line(testbed: &Testbed, host: &str) -> String {
    let path = format!("{SERVICE}-busybox/data/log");
    assert!(
        wait::until_true(Duration::from_secs(20), Duration::from_millis(200), || {
            testbed.run_on(host, &format!("test -s {path}")).success
        }),
        "{path} never appeared on {host}"
    );
    testbed
        .run_ok(host, &format!("head -n1 {path}"))
        .trim()
        .to_string()
}

#[test]
fn accessory_data_survives_applies_reboots_and_rollbacks_and_goes_only_with_remove() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(1).cloned().collect();
    let host = hosts[0].clone();
    let v = versions(&testbed, &["a1", "a2"]);
    let busybox = format!("{}/testbed/busybox:latest", testbed.registry);
    let project = project(
        &testbed,
        &hosts,
        &format!(
            "accessories:\n  busybox:\n    image: {busybox}\n    host: {host}\n    cmd: sh -c 'while true; do date +%s%N >> /data/log; sleep 1; done'\n    directories:\n      - data:/data\n"
        ),
    );
    let accessory = || containers(&testbed, &host, &format!("name=^{SERVICE}-busybox$"));
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    let first = first_line(&testbed, &host);
    let booted = accessory();
    assert!(booted.ends_with("running"), "{booted}");

    gantry(&project, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    assert_eq!(
        accessory(),
        booted,
        "a new app version leaves the accessory alone"
    );
    assert_eq!(first_line(&testbed, &host), first);

    let lines_before = testbed.run_ok(&host, &format!("wc -l < {SERVICE}-busybox/data/log"));
    let reboot = gantry(&project, &["accessory", "reboot", "busybox"]);
    reboot.assert_code(0);
    let rebooted = accessory();
    assert_ne!(rebooted, booted, "a new container");
    assert!(rebooted.ends_with("running"), "{rebooted}");
    assert_eq!(first_line(&testbed, &host), first, "the data stayed");
    assert!(
        wait::until_true(Duration::from_secs(10), Duration::from_millis(200), || {
            let now = testbed.run_ok(&host, &format!("wc -l < {SERVICE}-busybox/data/log"));
            now.trim().parse::<u64>().unwrap_or(0)
                > lines_before.trim().parse::<u64>().unwrap_or(0) + 1
        }),
        "the new container appends to the same file"
    );

    // Rolling the app back to the first version keeps the accessory and its data too.
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    assert_eq!(serving(&host).as_deref(), Some(v[0].as_str()));
    assert_eq!(accessory(), rebooted);
    assert_eq!(first_line(&testbed, &host), first);

    let details = gantry(&project, &["accessory", "details", "all"]);
    details.assert_code(0);
    assert!(
        details
            .stdout
            .contains(&format!("{host}  busybox  {SERVICE}-busybox ")),
        "{}",
        details.stdout
    );
    gantry(&project, &["accessory", "boot", "nope"]).assert_code(1);

    // Only an explicit, confirmed removal takes the data.
    gantry(&project, &["accessory", "remove", "busybox"]).assert_code(1);
    assert_eq!(first_line(&testbed, &host), first);
    gantry(&project, &["accessory", "remove", "busybox", "-y"]).assert_code(0);
    assert_eq!(accessory(), "");
    assert!(
        !testbed
            .run_on(&host, &format!("test -e {SERVICE}-busybox"))
            .success
    );
    assert_eq!(
        serving(&host).as_deref(),
        Some(v[0].as_str()),
        "the app still serves"
    );
    gantry(&project, &["accessory", "boot", "busybox"]).assert_code(0);
    assert!(accessory().ends_with("running"));
}

#[test]
fn a_failing_pre_deploy_hook_stops_the_deploy_before_any_host_changes() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let v = versions(&testbed, &["h1", "h2"]);
    let project = project(&testbed, &hosts, "");
    let hooks = project.dir().join(".kamal/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = |name: &str, body: &str| {
        let path = hooks.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        Command::new("chmod")
            .args(["755", &path.display().to_string()])
            .status()
            .unwrap();
    };
    let record = |name: &str| {
        format!(
            "echo \"{name} $KAMAL_COMMAND $KAMAL_VERSION lock=$KAMAL_LOCK hosts=$KAMAL_HOSTS\" >> hooks.log"
        )
    };
    for name in ["pre-connect", "pre-deploy", "post-deploy"] {
        hook(name, &record(name));
    }
    gantry(&project, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    let log = std::fs::read_to_string(project.dir().join("hooks.log")).unwrap();
    let all = hosts.join(",");
    assert_eq!(
        log,
        format!(
            "pre-connect apply {0} lock=false hosts={all}\npre-deploy apply {0} lock=true hosts={all}\npost-deploy apply {0} lock=false hosts={all}\n",
            v[0]
        )
    );

    hook("pre-deploy", "echo 'not today'; exit 7");
    let before: Vec<String> = hosts.iter().map(|h| app_containers(&testbed, h)).collect();
    let refused = gantry(&project, &["apply", "-y", "--version", &v[1]]);
    refused.assert_code(1);
    assert!(
        refused
            .stderr
            .contains("hook `pre-deploy` failed (exit code 7)"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("not today"), "{}", refused.stderr);
    let after: Vec<String> = hosts.iter().map(|h| app_containers(&testbed, h)).collect();
    assert_eq!(before, after, "no container changed");
    for host in &hosts {
        assert_eq!(serving(host).as_deref(), Some(v[0].as_str()), "{host}");
        assert!(
            !testbed
                .run_on(host, &format!("test -e .kamal/lock-{SERVICE}"))
                .success,
            "{host}: lock released"
        );
    }
    // -H skips the hooks.
    gantry(&project, &["-H", "apply", "-y", "--version", &v[1]]).assert_code(0);
    for host in &hosts {
        assert_eq!(serving(host).as_deref(), Some(v[1].as_str()), "{host}");
    }
}

#[test]
fn setup_then_proxy_reboot_keeps_the_routes_and_server_exec_runs_everywhere() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let v = versions(&testbed, &["px"]);
    let project = project(&testbed, &hosts, "");
    let hooks = project.dir().join(".kamal/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    for name in ["pre-proxy-reboot", "post-proxy-reboot"] {
        let path = hooks.join(name);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{name} $KAMAL_HOSTS\" >> hooks.log\n"),
        )
        .unwrap();
        Command::new("chmod")
            .args(["755", &path.display().to_string()])
            .status()
            .unwrap();
    }
    let path = hooks.join("docker-setup");
    std::fs::write(&path, "#!/bin/sh\necho docker-setup >> hooks.log\n").unwrap();
    Command::new("chmod")
        .args(["755", &path.display().to_string()])
        .status()
        .unwrap();
    // setup: Docker is there already, so it only runs docker-setup and applies.
    let setup = gantry(&project, &["setup", "-P", "--version", &v[0]]);
    setup.assert_code(0);
    for host in &hosts {
        assert!(
            setup
                .stderr
                .contains(&format!("{host}  gantry: docker is installed")),
            "{}",
            setup.stderr
        );
        assert_eq!(serving(host).as_deref(), Some(v[0].as_str()), "{host}");
    }
    let proxy = |host: &str| containers(&testbed, host, "name=^kamal-proxy$");
    let before: Vec<String> = hosts.iter().map(|h| proxy(h)).collect();
    gantry(&project, &["proxy", "reboot"]).assert_code(1);
    assert_eq!(
        hosts.iter().map(|h| proxy(h)).collect::<Vec<_>>(),
        before,
        "refused without -y"
    );
    gantry(&project, &["proxy", "reboot", "-y"]).assert_code(0);
    for (host, before) in hosts.iter().zip(&before) {
        let after = proxy(host);
        assert_ne!(&after, before, "{host}: a new proxy");
        assert!(after.ends_with("running"), "{host}: {after}");
        assert_eq!(
            serving(host).as_deref(),
            Some(v[0].as_str()),
            "{host}: routes survived"
        );
    }
    let all = hosts.join(",");
    assert_eq!(
        std::fs::read_to_string(project.dir().join("hooks.log")).unwrap(),
        format!("docker-setup\npre-proxy-reboot {all}\npost-proxy-reboot {all}\n")
    );
    // --rolling: one host after the other, each between its own hooks.
    let before: Vec<String> = hosts.iter().map(|h| proxy(h)).collect();
    std::fs::remove_file(project.dir().join("hooks.log")).unwrap();
    gantry(&project, &["proxy", "reboot", "-y", "--rolling"]).assert_code(0);
    for (host, before) in hosts.iter().zip(&before) {
        assert_ne!(&proxy(host), before, "{host}: a new proxy");
        assert_eq!(serving(host).as_deref(), Some(v[0].as_str()), "{host}");
    }
    let rolled: String = hosts
        .iter()
        .map(|host| format!("pre-proxy-reboot {host}\npost-proxy-reboot {host}\n"))
        .collect();
    assert_eq!(
        std::fs::read_to_string(project.dir().join("hooks.log")).unwrap(),
        rolled
    );
    let details = gantry(&project, &["proxy", "details"]);
    details.assert_code(0);
    assert!(
        details.stdout.contains(&format!("route {SERVICE}-web")),
        "{}",
        details.stdout
    );
    gantry(&project, &["proxy", "boot"]).assert_code(0);

    let exec = gantry(
        &project,
        &[
            "server",
            "exec",
            "echo",
            "on:$(hostname -I | cut -d' ' -f1)",
        ],
    );
    exec.assert_code(0);
    for host in &hosts {
        assert!(
            exec.stdout.contains(&format!("{host}  on:{host}")),
            "{}",
            exec.stdout
        );
    }
    gantry(&project, &["server", "exec", "-h", &hosts[0], "exit 4"]).assert_code(1);
}
