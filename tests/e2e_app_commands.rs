//! The `app` commands that read, and `app stale_containers --stop`, side by side with the real
//! Kamal 2.11 on the same hosts (issue 16): per host, `gantry app containers|details|images|
//! version|stale_containers` name the same containers, images and versions as Kamal's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-appcmd";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// Kamal's `puts_by_host` sections (`App Host: <host>` then the output), by host.
fn kamal_by_host(output: &str) -> BTreeMap<String, String> {
    let mut sections = BTreeMap::new();
    for section in output.split("App Host: ").skip(1) {
        let (host, rest) = section.split_once('\n').unwrap_or((section, ""));
        // The section ends at the next log line of Kamal's.
        let body: Vec<&str> = rest
            .lines()
            .take_while(|line| !line.trim_start().starts_with("INFO"))
            .collect();
        sections.insert(host.trim().to_string(), body.join("\n"));
    }
    sections
}

/// gantry's `<host>  <line>` output, by host.
fn gantry_by_host(output: &str) -> BTreeMap<String, String> {
    let mut sections: BTreeMap<String, String> = BTreeMap::new();
    for line in output.lines() {
        if let Some((host, rest)) = line.split_once("  ") {
            let section = sections.entry(host.trim().to_string()).or_default();
            section.push_str(rest);
            section.push('\n');
        }
    }
    sections
}

/// The words of `text` that start with `prefix` (container names, image references).
fn words(text: &str, prefix: &str) -> BTreeSet<String> {
    text.split_whitespace()
        .filter(|word| word.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Per host, the words of each side that start with `prefix`; both sides name every host.
fn compare(kamal: &str, ours: &str, prefix: &str, hosts: &[String]) {
    let kamal = kamal_by_host(kamal);
    let ours = gantry_by_host(ours);
    for host in hosts {
        let theirs = words(kamal.get(host).map_or("", String::as_str), prefix);
        let mine = words(ours.get(host).map_or("", String::as_str), prefix);
        assert!(!theirs.is_empty(), "{host}: Kamal shows nothing: {kamal:?}");
        assert_eq!(mine, theirs, "{host}");
    }
}

#[test]
fn reading_app_commands_show_what_kamal_shows_and_stale_containers_stop_as_kamal_s() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let hosts: Vec<String> = testbed.hosts[..2].to_vec();
    let v = testbed.push_versions(SERVICE, &["one", "two"]);
    let mut app = KamalApp::testapp(&hosts);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(20);
    app.drain_timeout = Some(2);
    let project = KamalProject::create(&testbed, app);
    let _exclusive = testbed.exclusive_clean();
    project.setup(&v[0], KAMAL_TIMEOUT).assert_success();
    project.deploy(&v[1], KAMAL_TIMEOUT).assert_success();
    let kamal = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--version", &v[1]]);
        project
            .run(&args, KAMAL_TIMEOUT)
            .assert_success()
            .output
            .clone()
    };
    let names = format!("{SERVICE}-web-");

    let ours = gantry(&project, &["app", "containers"]);
    ours.assert_code(0);
    compare(&kamal(&["app", "containers"]), &ours.stdout, &names, &hosts);
    assert!(
        ours.stdout.contains(&format!("{names}{}", v[0])),
        "{}",
        ours.stdout
    );

    let ours = gantry(&project, &["app", "details"]);
    ours.assert_code(0);
    compare(&kamal(&["app", "details"]), &ours.stdout, &names, &hosts);

    let ours = gantry(&project, &["app", "images"]);
    ours.assert_code(0);
    compare(
        &kamal(&["app", "images"]),
        &ours.stdout,
        &testbed.registry,
        &hosts,
    );

    let ours = gantry(&project, &["app", "version"]);
    ours.assert_code(0);
    let theirs = kamal_by_host(&kamal(&["app", "version"]));
    for host in &hosts {
        assert_eq!(theirs[host].trim(), v[1], "{theirs:?}");
        assert!(
            ours.stdout
                .lines()
                .any(|line| line == format!("{host}  {}", v[1])),
            "{}",
            ours.stdout
        );
    }

    // A stale container: the older version started again beside the current one.
    let stale = format!("{names}{}", v[0]);
    let start_stale = || testbed.run_ok(&hosts[0], &format!("docker start {stale}"));
    let state = |host: &str| {
        testbed
            .run_ok(
                host,
                &format!("docker inspect -f '{{{{.State.Status}}}}' {stale}"),
            )
            .trim()
            .to_string()
    };
    start_stale();
    let detected = format!(
        "Detected stale container for role web with version {}",
        v[0]
    );
    assert!(kamal(&["app", "stale_containers"]).contains(&detected));
    let ours = gantry(&project, &["app", "stale_containers"]);
    ours.assert_code(0);
    assert!(
        ours.stdout
            .lines()
            .any(|line| line.starts_with(&format!("{}  {detected}", hosts[0]))),
        "{}",
        ours.stdout
    );
    assert!(!ours.stdout.contains(&hosts[1]), "{}", ours.stdout);
    kamal(&["app", "stale_containers", "--stop"]);
    let kamal_after = state(&hosts[0]);
    start_stale();
    gantry(&project, &["app", "stale_containers", "-s"]).assert_code(0);
    assert_eq!(state(&hosts[0]), kamal_after);
    assert_eq!(kamal_after, "exited");
    let after = gantry(&project, &["app", "stale_containers"]);
    assert!(!after.stdout.contains("Detected"), "{}", after.stdout);
    assert_eq!(
        gantry_testsupport::http::serving(&hosts[0]).as_deref(),
        Some(v[1].as_str())
    );

    // exec -e: the variable reaches the command, in a one-off container as Kamal's.
    let marker = "exec-marker-42";
    let theirs = kamal(&[
        "app",
        "exec",
        "-e",
        &format!("MARK:{marker}"),
        "sh -c 'echo $MARK'",
    ]);
    let ours = gantry(
        &project,
        &[
            "app",
            "exec",
            "-e",
            &format!("MARK:{marker}"),
            "sh -c 'echo $MARK'",
        ],
    );
    ours.assert_code(0);
    for host in &hosts {
        assert!(theirs.contains(marker), "{theirs}");
        assert!(
            ours.stdout
                .lines()
                .any(|line| line == format!("{host}  {marker}")),
            "{}",
            ours.stdout
        );
    }

    // exec --detach: a one-off container left running on every host, as Kamal leaves one.
    let one_offs = |host: &str| {
        testbed
            .run_ok(
                host,
                &format!("docker ps --filter name={names}exec- --format '{{{{.Names}}}}'"),
            )
            .lines()
            .count()
    };
    kamal(&["app", "exec", "--detach", "sleep 120"]);
    let ours = gantry(&project, &["app", "exec", "--detach", "sleep 120"]);
    ours.assert_code(0);
    for host in &hosts {
        assert_eq!(one_offs(host), 2, "{host}: Kamal's and gantry's");
    }

    // logs --container-id: that container's lines, not the current one's.
    let id = testbed
        .run_ok(
            &hosts[0],
            &format!("docker inspect -f '{{{{.Id}}}}' {stale}"),
        )
        .trim()
        .to_string();
    let ours = gantry(
        &project,
        &["app", "logs", "-h", &hosts[0], "--container-id", &id, "-T"],
    );
    ours.assert_code(0);
    let listening = format!("version {} listening", v[0]);
    assert!(ours.stdout.contains(&listening), "{}", ours.stdout);
    // Kamal 2.11 runs only the `echo <id>` of its `echo <id> | xargs docker logs` pipe and
    // prints the id: gantry shows the logs the option asks for (specs/commands.md).
    let theirs = kamal(&["app", "logs", "-h", &hosts[0], "--container-id", &id, "-T"]);
    assert!(theirs.contains(&id), "{theirs}");
}

/// What a host holds: every container (name, state) and image (repository:tag), the apps
/// `.kamal/apps` lists, and kamal-proxy's routes.
fn holdings(testbed: &Testbed, host: &str) -> String {
    testbed.run_ok(
        host,
        "docker ps -a --format '{{.Names}} {{.State}}' | sort; \
         docker image ls --format '{{.Repository}}:{{.Tag}}' | sort; \
         ls -1A .kamal/apps 2>/dev/null; \
         docker exec kamal-proxy kamal-proxy list 2>&1 | sed 1d",
    )
}

#[test]
fn app_boot_and_app_remove_leave_the_hosts_as_kamal_s_do() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    const BOOTED: &str = "gantry-appboot";
    let hosts: Vec<String> = testbed.hosts[..2].to_vec();
    let v = testbed.push_versions(BOOTED, &["one"]).remove(0);
    let mut app = KamalApp::testapp(&hosts);
    app.service = BOOTED.to_string();
    app.deploy_timeout = Some(20);
    app.drain_timeout = Some(2);
    let project = KamalProject::create(&testbed, app);
    let _exclusive = testbed.exclusive_clean();
    project.setup(&v, KAMAL_TIMEOUT).assert_success();
    let kamal = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--version", &v]);
        project.run(&args, KAMAL_TIMEOUT).assert_success();
    };
    let all = |testbed: &Testbed| -> Vec<String> {
        hosts.iter().map(|host| holdings(testbed, host)).collect()
    };

    kamal(&["app", "remove"]);
    let kamal_removed = all(&testbed);
    kamal(&["app", "boot"]);
    let kamal_booted = all(&testbed);
    for host in &hosts {
        assert_eq!(
            gantry_testsupport::http::serving(host).as_deref(),
            Some(v.as_str())
        );
    }
    kamal(&["app", "remove"]);
    assert_eq!(all(&testbed), kamal_removed, "Kamal's remove is repeatable");

    gantry(&project, &["app", "boot", "--version", &v]).assert_code(0);
    for host in &hosts {
        assert_eq!(
            gantry_testsupport::http::serving(host).as_deref(),
            Some(v.as_str())
        );
    }
    // Route targets are container ids: compare the rest.
    let without_ids = |lists: Vec<String>| -> Vec<String> {
        lists
            .iter()
            .map(|list| {
                list.split_whitespace()
                    .filter(|word| !word.contains(':') || word.contains('/'))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    assert_eq!(without_ids(all(&testbed)), without_ids(kamal_booted));
    let plan = gantry(&project, &["plan", "--detailed-exitcode", "--version", &v]);
    plan.assert_code(0);

    gantry(&project, &["app", "remove"]).assert_code(0);
    let removed = all(&testbed);
    assert_eq!(removed, kamal_removed);
    for list in &removed {
        assert!(
            list.contains("kamal-proxy running"),
            "the proxy stays: {list}"
        );
        assert!(!list.contains(BOOTED), "{list}");
    }
}
