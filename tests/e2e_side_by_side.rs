//! Steps gantry takes as Kamal takes them, run side by side with the real Kamal 2.11 on the
//! test bed and compared (issue 12): `pre-app-boot`/`post-app-boot` around each boot group and
//! `proxy reboot --rolling` (which hooks run, in which order, told which hosts), and the
//! renaming of a container that holds the new version's name, a role's own `proxy.run`, and
//! the readiness polling of a role without the proxy that is unhealthy before it is healthy,
//! and a kamal-proxy image pulled from the app's private registry.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

fn project(testbed: &Testbed, service: &str, hosts: &[String]) -> KamalProject {
    project_with(testbed, service, hosts, "")
}

fn project_with(testbed: &Testbed, service: &str, hosts: &[String], extra: &str) -> KamalProject {
    let mut app = KamalApp::testapp(hosts);
    app.service = service.to_string();
    app.deploy_timeout = Some(20);
    app.drain_timeout = Some(2);
    app.extra_yaml = extra.to_string();
    KamalProject::create(testbed, app)
}

/// Hooks named `names` in the project that append `<hook> <KAMAL_HOSTS>` to `hooks.log`.
fn logging_hooks(project: &KamalProject, names: &[&str]) {
    let hooks = project.dir().join(".kamal/hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let log = project.dir().join("hooks.log");
    for name in names {
        let path = hooks.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{name} $KAMAL_HOSTS\" >> '{}'\n",
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn hooks_log(project: &KamalProject) -> String {
    std::fs::read_to_string(project.dir().join("hooks.log")).unwrap_or_default()
}

/// Every container on `host` as `name state`, sorted, `_replaced_<hex>` cut to `_replaced_`
/// (Kamal's suffix is random).
fn containers(testbed: &Testbed, host: &str, service: &str) -> Vec<String> {
    let listing = testbed.run_ok(
        host,
        &format!("docker ps -a --filter name={service} --format '{{{{.Names}}}} {{{{.State}}}}'"),
    );
    let mut lines: Vec<String> = listing
        .lines()
        .map(|line| match line.split_once("_replaced_") {
            Some((name, rest)) => {
                let state = rest.split_once(' ').map_or("", |(_, state)| state);
                format!("{name}_replaced_ {state}")
            }
            None => line.to_string(),
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn app_boot_hooks_run_around_each_boot_group_as_kamal_runs_them() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    const SERVICE: &str = "gantry-bootgroups";
    let hosts: Vec<String> = testbed.hosts[..2].to_vec();
    let v = testbed.push_versions(SERVICE, &["one", "two"]);
    let hooks = ["pre-app-boot", "post-app-boot"];
    let boot = "boot:\n  limit: 1\n";

    let kamal = project_with(&testbed, SERVICE, &hosts, boot);
    logging_hooks(&kamal, &hooks);
    {
        let _exclusive = testbed.exclusive_clean();
        kamal.setup(&v[0], KAMAL_TIMEOUT).assert_success();
        kamal.deploy(&v[1], KAMAL_TIMEOUT).assert_success();
    }
    let ours = project_with(&testbed, SERVICE, &hosts, boot);
    logging_hooks(&ours, &hooks);
    let _exclusive = testbed.exclusive_clean();
    gantry(&ours, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    let plan = gantry(&ours, &["plan", "--json", "--version", &v[1]]);
    assert!(
        plan.stdout
            .contains(&format!("run hook pre-app-boot (KAMAL_HOSTS={})", hosts[1])),
        "{}",
        plan.stdout
    );
    gantry(&ours, &["apply", "-y", "--version", &v[1]]).assert_code(0);

    let group: String = hosts
        .iter()
        .map(|host| format!("pre-app-boot {host}\npost-app-boot {host}\n"))
        .collect();
    assert_eq!(
        hooks_log(&kamal),
        format!("{group}{group}"),
        "Kamal's order"
    );
    assert_eq!(hooks_log(&ours), hooks_log(&kamal));
}

#[test]
fn proxy_reboot_rolling_runs_each_hosts_hooks_in_kamals_order() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    const SERVICE: &str = "gantry-rolling";
    let hosts: Vec<String> = testbed.hosts[..2].to_vec();
    let version = testbed.push_versions(SERVICE, &["one"]).remove(0);
    let hooks = ["pre-proxy-reboot", "post-proxy-reboot"];

    let kamal = project(&testbed, SERVICE, &hosts);
    logging_hooks(&kamal, &hooks);
    {
        let _exclusive = testbed.exclusive_clean();
        kamal.setup(&version, KAMAL_TIMEOUT).assert_success();
        kamal
            .run(
                &["proxy", "reboot", "--rolling", "-y", "--version", &version],
                KAMAL_TIMEOUT,
            )
            .assert_success();
    }
    let ours = project(&testbed, SERVICE, &hosts);
    logging_hooks(&ours, &hooks);
    let _exclusive = testbed.exclusive_clean();
    gantry(&ours, &["apply", "-y", "--version", &version]).assert_code(0);
    gantry(&ours, &["proxy", "reboot", "--rolling", "-y"]).assert_code(0);

    let expected: String = hosts
        .iter()
        .map(|host| format!("pre-proxy-reboot {host}\npost-proxy-reboot {host}\n"))
        .collect();
    assert_eq!(hooks_log(&kamal), expected, "Kamal's order");
    assert_eq!(hooks_log(&ours), hooks_log(&kamal));
}

#[test]
fn a_container_holding_the_new_versions_name_is_renamed_aside_as_kamal_renames_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    const SERVICE: &str = "gantry-clash";
    let _exclusive = testbed.exclusive_clean();
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    let version = testbed.push_versions(SERVICE, &["one"]).remove(0);
    let holder = format!("{SERVICE}-web-{version}");
    for host in [&kamal_host, &gantry_host] {
        // A container of nobody's deploy that took the name, running.
        testbed.run_ok(
            host,
            &format!("docker run -d --name {holder} testbed/busybox sleep 600 >/dev/null"),
        );
    }

    project(&testbed, SERVICE, std::slice::from_ref(&kamal_host))
        .setup(&version, KAMAL_TIMEOUT)
        .assert_success();
    let ours = project(&testbed, SERVICE, std::slice::from_ref(&gantry_host));
    gantry(&ours, &["apply", "-y", "--version", &version]).assert_code(0);

    let kamal_left = containers(&testbed, &kamal_host, SERVICE);
    assert_eq!(
        kamal_left,
        vec![
            format!("{holder} running"),
            format!("{holder}_replaced_ running"),
        ]
    );
    assert_eq!(containers(&testbed, &gantry_host, SERVICE), kamal_left);
    gantry(
        &ours,
        &["plan", "--detailed-exitcode", "--version", &version],
    )
    .assert_code(0);
}

#[test]
fn a_roles_own_proxy_run_boots_its_hosts_proxy_as_kamal_boots_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    const SERVICE: &str = "gantry-rolerun";
    let _exclusive = testbed.exclusive_clean();
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    let version = testbed.push_versions(SERVICE, &["one"]).remove(0);
    // `servers/web/proxy/run`, no root `proxy.run`.
    let with_role_run = |host: &str| {
        let project = project(&testbed, SERVICE, &[host.to_string()]);
        let path = project.dir().join("config/deploy.yml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        let listed = format!("servers:\n  web:\n    - \"{host}\"\n");
        assert!(yaml.contains(&listed), "{yaml}");
        let own_run = format!(
            "servers:\n  web:\n    hosts:\n      - \"{host}\"\n    proxy:\n      run:\n        \
             http_port: 8080\n        log_max_size: 20m\n"
        );
        std::fs::write(&path, yaml.replacen(&listed, &own_run, 1)).unwrap();
        project
    };
    let settings = |host: &str| {
        testbed
            .run_ok(
                host,
                "docker inspect -f '{{json .HostConfig.PortBindings}} {{json .HostConfig.LogConfig.Config}} {{.Config.Image}}' kamal-proxy",
            )
            .trim()
            .to_string()
    };

    let kamal = with_role_run(&kamal_host);
    kamal.setup(&version, KAMAL_TIMEOUT).assert_success();
    let ours = with_role_run(&gantry_host);
    gantry(&ours, &["apply", "-y", "--version", &version]).assert_code(0);

    let kamal_proxy = settings(&kamal_host);
    assert!(
        kamal_proxy.contains("8080") && kamal_proxy.contains("20m"),
        "{kamal_proxy}"
    );
    assert_eq!(settings(&gantry_host), kamal_proxy);
    for host in [&kamal_host, &gantry_host] {
        let answer = gantry_testsupport::http::get(
            &format!("{host}:8080"),
            "/",
            None,
            Duration::from_secs(5),
        );
        assert!(
            answer.is_ok_and(|response| response.status == 200),
            "{host}:8080"
        );
    }
    // What Kamal booted is what gantry would boot.
    gantry(
        &kamal,
        &["plan", "--detailed-exitcode", "--version", &version],
    )
    .assert_code(0);
}

#[test]
fn a_role_without_the_proxy_unhealthy_at_first_is_polled_until_healthy_as_kamal_polls_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    const SERVICE: &str = "gantry-polling";
    const READY_AFTER: u64 = 6;
    let _exclusive = testbed.exclusive_clean();
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    let version = testbed.push_versions(SERVICE, &["one"]).remove(0);
    // A worker whose Docker health check fails (unhealthy after one try) until it is ready.
    let with_worker = |host: &str| {
        let mut app = KamalApp::testapp(&[host.to_string()]);
        app.service = SERVICE.to_string();
        app.deploy_timeout = Some(30);
        app.extra_roles = vec![(
            "workers".to_string(),
            vec![host.to_string()],
            format!("sh -c 'sleep {READY_AFTER}; touch /tmp/ready; exec /app/init.sh'"),
        )];
        let project = KamalProject::create(&testbed, app);
        let path = project.dir().join("config/deploy.yml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        let cmd_line = format!(
            "    cmd: \"sh -c 'sleep {READY_AFTER}; touch /tmp/ready; exec /app/init.sh'\"\n"
        );
        assert!(yaml.contains(&cmd_line), "{yaml}");
        let with_check = yaml.replacen(
            &cmd_line,
            &format!(
                "{cmd_line}    options:\n      health-cmd: \"test -e /tmp/ready\"\n      \
                 health-interval: 1s\n      health-retries: 1\n"
            ),
            1,
        );
        std::fs::write(&path, with_check).unwrap();
        project
    };
    let worker_health = |host: &str| {
        testbed
            .run_ok(
                host,
                &format!(
                    "docker inspect -f '{{{{.State.Health.Status}}}}' {SERVICE}-workers-{version}"
                ),
            )
            .trim()
            .to_string()
    };

    let kamal = with_worker(&kamal_host);
    let by_kamal = kamal.setup(&version, KAMAL_TIMEOUT);
    by_kamal.assert_success();
    assert!(
        by_kamal.output.contains("Container is healthy!"),
        "{}",
        by_kamal.output
    );
    let ours = with_worker(&gantry_host);
    let apply = gantry(&ours, &["apply", "-y", "-v", "--version", &version]);
    apply.assert_code(0);
    for host in [&kamal_host, &gantry_host] {
        assert_eq!(worker_health(host), "healthy", "{host}");
    }
    // gantry waited about as long as the worker took to become ready (Kamal's poller: within
    // a second or two of it, well inside deploy_timeout).
    let waited: f64 = apply
        .stderr
        .lines()
        .find(|line| {
            line.contains(&format!(
                "wait until {SERVICE}-workers-{version} is ready ("
            ))
        })
        .and_then(|line| line.rsplit_once('(')?.1.strip_suffix("s)")?.parse().ok())
        .unwrap_or_else(|| panic!("no wait line in\n{}", apply.stderr));
    assert!(
        waited >= (READY_AFTER - 2) as f64 && waited < 20.0,
        "waited {waited}s for a worker ready after {READY_AFTER}s"
    );
    gantry(
        &kamal,
        &["plan", "--detailed-exitcode", "--version", &version],
    )
    .assert_code(0);
}

#[test]
fn a_private_proxy_image_is_pulled_with_the_registry_login_as_kamal_pulls_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    const SERVICE: &str = "gantry-privproxy";
    let _exclusive = testbed.exclusive_clean();
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    // Logs this machine in to the registry, then the stand-in goes there too.
    let version = testbed.push_versions(SERVICE, &["one"]).remove(0);
    let private = format!("{}/basecamp/kamal-proxy:v0.9.2", testbed.registry);
    for args in [
        vec!["tag", "basecamp/kamal-proxy:v0.9.2", private.as_str()],
        vec!["push", "--quiet", private.as_str()],
    ] {
        let status = std::process::Command::new("docker")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "docker {args:?}");
    }
    let with_private_proxy = |host: &str| {
        let project = project(&testbed, SERVICE, &[host.to_string()]);
        let path = project.dir().join("config/deploy.yml");
        let yaml = std::fs::read_to_string(&path).unwrap();
        let pinned = yaml.replacen(
            "proxy:\n  app_port: 80\n",
            &format!(
                "proxy:\n  app_port: 80\n  run:\n    registry: \"{}\"\n",
                testbed.registry
            ),
            1,
        );
        assert_ne!(pinned, yaml);
        std::fs::write(&path, pinned).unwrap();
        project
    };
    // Neither host has the image or a login: the pull needs the registry's credentials.
    for host in [&kamal_host, &gantry_host] {
        testbed.run_ok(
            host,
            &format!(
                "docker logout {} >/dev/null; docker rmi -f {private} >/dev/null 2>&1; true",
                testbed.registry
            ),
        );
    }
    let proxy_image = |host: &str| {
        testbed
            .run_ok(host, "docker inspect -f '{{.Config.Image}}' kamal-proxy")
            .trim()
            .to_string()
    };

    let kamal = with_private_proxy(&kamal_host);
    kamal.setup(&version, KAMAL_TIMEOUT).assert_success();
    let ours = with_private_proxy(&gantry_host);
    gantry(&ours, &["apply", "-y", "--version", &version]).assert_code(0);
    assert_eq!(proxy_image(&kamal_host), private);
    assert_eq!(proxy_image(&gantry_host), private);
    // gantry sent the credentials with the pull and left no login behind on the host.
    let logins = testbed.run_ok(&gantry_host, "cat ~/.docker/config.json 2>/dev/null; true");
    assert!(!logins.contains(&testbed.registry), "{logins}");
    gantry(
        &kamal,
        &["plan", "--detailed-exitcode", "--version", &version],
    )
    .assert_code(0);
}
