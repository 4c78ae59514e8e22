//! Several services on the same hosts behind one kamal-proxy (specs/multi-app.md), next to the
//! real Kamal 2.11: a second service that claims the host name the first one's route holds is
//! refused by `plan` and `apply` before anything changes (exit 1, the first service and its
//! route named, no container started), where Kamal starts its containers and then fails on
//! kamal-proxy's refusal; with its own host name it deploys beside the first one, each
//! service answers for its own name, both plans say "No changes", `details --all` shows the
//! other service and `drift` sees a route taken over. `plan -c A -c B` checks two services
//! against each other before either is deployed; an accessory port another service publishes
//! is refused as well.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const FIRST: &str = "gantry-alpha";
const SECOND: &str = "gantry-beta";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

fn app(service: &str, hosts: &[String], proxy_host: &str) -> KamalApp {
    let mut app = KamalApp::testapp(hosts);
    app.service = service.to_string();
    app.proxy_host = Some(proxy_host.to_string());
    app
}

/// Gives the second service an image repository of its own (services sharing hosts never
/// share one: each service's `latest` tag names its own deployed version), with `version`.
fn own_repository(testbed: &Testbed, project: &KamalProject, version: &str) {
    let repository = format!("{}/{SECOND}", testbed.registry);
    for args in [
        vec![
            "tag".to_string(),
            format!("{}:{version}", testbed.testapp_image),
            format!("{repository}:{version}"),
        ],
        vec![
            "push".to_string(),
            "--quiet".to_string(),
            format!("{repository}:{version}"),
        ],
    ] {
        let status = std::process::Command::new("docker")
            .args(&args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap_or_else(|error| panic!("docker {args:?}: {error}"));
        assert!(status.success(), "docker {args:?}");
    }
    let path = project.dir().join("config/deploy.yml");
    let shared = testbed
        .testapp_image
        .strip_prefix(&format!("{}/", testbed.registry))
        .unwrap_or(&testbed.testapp_image);
    let yaml = std::fs::read_to_string(&path).unwrap_or_default();
    let own = yaml.replace(
        &format!("image: \"{shared}\""),
        &format!("image: \"{SECOND}\""),
    );
    assert_ne!(own, yaml, "no image line in:\n{yaml}");
    std::fs::write(&path, own).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}

/// The names of the containers labelled `service` on `host`, stopped ones included.
fn containers_of(testbed: &Testbed, host: &str, service: &str) -> String {
    testbed
        .run_ok(
            host,
            &format!("docker ps -a --filter label=service={service} --format '{{{{.Names}}}}'"),
        )
        .trim()
        .to_string()
}

/// The version `host`'s kamal-proxy serves for the host name `proxy_host`.
fn version_for(host: &str, proxy_host: &str) -> Option<String> {
    let response = http::get(
        &format!("{host}:80"),
        "/",
        Some(proxy_host),
        Duration::from_secs(5),
    )
    .ok()?;
    (response.status == 200).then(|| response.json()["version"].as_str().map(str::to_string))?
}

#[test]
fn a_second_service_claiming_the_first_ones_host_is_refused_at_plan_time() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let first_version = format!("alpha-{stamp}");
    let second_version = format!("beta-{stamp}");
    testbed.push_testapp(&first_version, FIRST);
    testbed.push_testapp(&second_version, SECOND);

    // The first service, deployed by Kamal, holds alpha.test on every host.
    let first = KamalProject::create(&testbed, app(FIRST, &hosts, "alpha.test"));
    first.setup(&first_version, KAMAL_TIMEOUT).assert_success();

    // The second one claims the same host name: refused before anything changes.
    let clashing = KamalProject::create(&testbed, app(SECOND, &hosts, "alpha.test"));
    own_repository(&testbed, &clashing, &second_version);
    for args in [
        vec!["plan", "--version", &second_version],
        vec!["apply", "-y", "--version", &second_version],
    ] {
        let run = gantry(&clashing, &args);
        run.assert_code(1);
        let said = format!("{}{}", run.stdout, run.stderr);
        for expected in [
            format!("route {SECOND}-web claims host alpha.test path /"),
            format!("service {FIRST}-web holds"),
            hosts[0].clone(),
        ] {
            assert!(said.contains(&expected), "`{expected}` missing:\n{said}");
        }
        for host in &hosts {
            assert_eq!(
                containers_of(&testbed, host, SECOND),
                "",
                "{args:?} on {host}"
            );
        }
    }

    // Kamal finds the conflict only when kamal-proxy refuses the route, after its container
    // started.
    let kamal = clashing.deploy(&second_version, KAMAL_TIMEOUT);
    assert!(!kamal.success, "{}", kamal.output);
    assert!(
        kamal
            .output
            .contains("host settings conflict with another service"),
        "{}",
        kamal.output
    );
    assert_ne!(containers_of(&testbed, &hosts[0], SECOND), "");
    for host in &hosts {
        testbed.run_ok(
            host,
            &format!("docker ps -aq --filter label=service={SECOND} | xargs -r docker rm -f"),
        );
    }

    // With a host name of its own it deploys beside the first one.
    let second = KamalProject::create(&testbed, app(SECOND, &hosts, "beta.test"));
    own_repository(&testbed, &second, &second_version);
    gantry(&second, &["apply", "-y", "--version", &second_version]).assert_code(0);
    for host in &hosts {
        assert_eq!(
            version_for(host, "alpha.test").as_deref(),
            Some(first_version.as_str())
        );
        assert_eq!(
            version_for(host, "beta.test").as_deref(),
            Some(second_version.as_str())
        );
    }
    // `details --all` shows the other service beside this one, and every service's route.
    let details = gantry(&second, &["details", "--all"]);
    details.assert_code(0);
    for expected in [
        format!("{FIRST}  web  {FIRST}-web-{first_version}  version {first_version}  Running"),
        format!("route      {FIRST}-web  hosts alpha.test"),
        format!("route      {SECOND}-web  hosts beta.test"),
        format!("last change {FIRST}: ["),
    ] {
        assert!(
            details.stdout.contains(&expected),
            "`{expected}` missing:\n{}",
            details.stdout
        );
    }
    assert!(
        !details.stdout.contains(&format!("{SECOND}  web  ")),
        "{}",
        details.stdout
    );

    for (project, version) in [(&first, &first_version), (&second, &second_version)] {
        let run = gantry(
            project,
            &["plan", "--detailed-exitcode", "--version", version],
        );
        run.assert_code(0);
        assert!(
            run.stdout.contains("No changes."),
            "{}\n{}",
            run.stdout,
            run.stderr
        );
    }

    // The second service takes the first one's host name over on the first host: the first
    // service's drift says so.
    let beta_web = testbed
        .run_ok(
            &hosts[0],
            &format!("docker ps -q --filter label=service={SECOND} --filter label=role=web"),
        )
        .trim()
        .to_string();
    testbed.run_ok(
        &hosts[0],
        &format!(
            "docker exec kamal-proxy kamal-proxy remove {FIRST}-web && \
             docker exec kamal-proxy kamal-proxy deploy {SECOND}-web --target {beta_web}:80 \
             --host alpha.test"
        ),
    );
    let drift = gantry(&first, &["drift", "--version", &first_version]);
    drift.assert_code(2);
    assert!(
        drift.stdout.contains("route_taken_over"),
        "{}\n{}",
        drift.stdout,
        drift.stderr
    );
}

#[test]
fn plan_with_two_configurations_checks_the_services_against_each_other_before_either_deploys() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    // One version for both, so one --version plans both.
    let version = format!("both-{stamp}");
    testbed.push_testapp(&version, SECOND);
    let first = KamalProject::create(&testbed, app(FIRST, &hosts, "alpha.test"));
    for (second_host, expected_code) in [("alpha.test", 1), ("beta.test", 2)] {
        let second = KamalProject::create(&testbed, app(SECOND, &hosts, second_host));
        own_repository(&testbed, &second, &version);
        testbed.push_testapp(&version, FIRST);
        let first_file = first.dir().join("config/deploy.yml");
        let second_file = second.dir().join("config/deploy.yml");
        let run = gantry(
            &first,
            &[
                "plan",
                "--detailed-exitcode",
                "--version",
                &version,
                "-c",
                &first_file.display().to_string(),
                "-c",
                &second_file.display().to_string(),
            ],
        );
        run.assert_code(expected_code);
        let said = format!("{}{}", run.stdout, run.stderr);
        for expected in [
            format!("== {FIRST} ("),
            format!("== {SECOND} ("),
            format!("+ app web: {FIRST}-web-{version}"),
            format!("+ app web: {SECOND}-web-{version}"),
        ] {
            assert!(said.contains(&expected), "`{expected}` missing:\n{said}");
        }
        let conflict = format!(
            "route {SECOND}-web claims host alpha.test path /, which service {FIRST}-web holds"
        );
        assert_eq!(said.contains(&conflict), expected_code == 1, "{said}");
        for host in &hosts {
            assert_eq!(containers_of(&testbed, host, FIRST), "");
            assert_eq!(containers_of(&testbed, host, SECOND), "");
        }
    }

    // Any other command takes one configuration.
    let first_file = first.dir().join("config/deploy.yml").display().to_string();
    let run = gantry(
        &first,
        &["apply", "-y", "-c", &first_file, "-c", &first_file],
    );
    run.assert_code(1);
    assert!(
        run.stderr.contains("only `gantry plan` reads several"),
        "{}",
        run.stderr
    );
}

/// An accessory publishing `port` on `host`, as deploy.yml's YAML.
fn accessory_yaml(testbed: &Testbed, host: &str, port: u16) -> String {
    format!(
        "accessories:\n  store:\n    image: {registry}/testbed/busybox:latest\n    host: {host}\n    \
         port: \"{port}:{port}\"\n    cmd: sh -c 'while true; do sleep 5; done'\n",
        registry = testbed.registry
    )
}

#[test]
fn an_accessory_port_another_service_publishes_is_refused_at_plan_time() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(3).cloned().collect();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let version = format!("ports-{stamp}");
    testbed.push_testapp(&version, SECOND);
    let mut second_app = app(SECOND, &hosts, "beta.test");
    second_app.extra_yaml = accessory_yaml(&testbed, &hosts[2], 7777);
    let second = KamalProject::create(&testbed, second_app);
    own_repository(&testbed, &second, &version);
    testbed.push_testapp(&version, FIRST);

    // The first service's accessory, booted by Kamal, publishes 7777 on the third host.
    let mut first_app = app(FIRST, &hosts, "alpha.test");
    first_app.extra_yaml = accessory_yaml(&testbed, &hosts[2], 7777);
    let first = KamalProject::create(&testbed, first_app);
    first.setup(&version, KAMAL_TIMEOUT).assert_success();

    for args in [
        vec!["plan", "--version", &version],
        vec!["apply", "-y", "--version", &version],
    ] {
        let run = gantry(&second, &args);
        run.assert_code(1);
        let said = format!("{}{}", run.stdout, run.stderr);
        for expected in [
            format!("{SECOND}-store publishes host port 7777"),
            format!("container {FIRST}-store of service {FIRST}-store"),
            hosts[2].clone(),
        ] {
            assert!(said.contains(&expected), "`{expected}` missing:\n{said}");
        }
        for host in &hosts {
            assert_eq!(
                containers_of(&testbed, host, SECOND),
                "",
                "{args:?} on {host}"
            );
        }
    }

    // Kamal finds it when Docker refuses to start the accessory.
    let kamal = second.run(
        &["accessory", "boot", "store", "--version", &version],
        KAMAL_TIMEOUT,
    );
    assert!(!kamal.success, "{}", kamal.output);
    assert!(
        kamal.output.contains("port is already allocated"),
        "{}",
        kamal.output
    );
}
