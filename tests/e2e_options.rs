//! docker `run` options (`options:` of a role and an accessory) reach the containers with the
//! effect Kamal's `docker run` gives them (specs/config.md, "docker options"): the real Kamal 2.11
//! deploys a deploy.yml with `mount`, `memory`, `cap-add`, `cpu-quota`, `cgroupns`, `domainname`
//! and more options on clean hosts, gantry reads that deployment as "No changes.", then gantry
//! deploys the same file on the cleaned hosts and `docker inspect` of each container shows the
//! same HostConfig (every field; an empty list and a missing one alike), domain name and networks.
//! `network:` joins a second network: both deploy, or the daemon refuses both (Docker before
//! API 1.44 refuses a container on two networks at creation, for `docker run` as for the API).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-options";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);
const SHARED_DIR: &str = "/srv/gantry-options";
const NETWORK: &str = "gantry-options-backend";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The `options:` under test, as YAML lines at `indent`.
fn options_yaml(indent: &str, extra: &str) -> String {
    [
        "options:",
        "  mount:",
        &format!("    - type=bind,src={SHARED_DIR},dst=/shared,readonly,bind-propagation=rprivate"),
        "    - type=tmpfs,dst=/scratch,tmpfs-size=8m,tmpfs-mode=1770",
        "    - source=gantry-options-cache,target=/cache,volume-nocopy,volume-label=team=web",
        "  memory: 256m",
        "  cap-add: [NET_ADMIN, SYS_TIME]",
        "  cpu-period: 100000",
        "  cpu-quota: 50000",
        "  pids-limit: 200",
        "  ulimit: nofile=1024:2048",
        "  device-cgroup-rule: c 1:3 mr",
        "  domainname: internal",
        "  isolation: default",
        "  cgroupns: private",
        "  volume-driver: local",
        "  init: true",
        extra,
    ]
    .iter()
    .filter(|line| !line.is_empty())
    .map(|line| format!("{indent}{line}\n"))
    .collect()
}

/// Turns the generated `web:` host list into a role hash with options, and adds an accessory
/// with options of its own.
fn with_options(yaml: &str, host: &str, extra: &str) -> String {
    let web_list = format!("  web:\n    - \"{host}\"\n");
    assert!(yaml.contains(&web_list), "{yaml}");
    let web_hash = format!(
        "  web:\n    hosts:\n      - \"{host}\"\n{}",
        options_yaml("    ", extra)
    );
    yaml.replace(&web_list, &web_hash)
}

/// What the options touch, from `docker inspect` of `container` on `host`: the mounts, the host
/// settings set, and the networks joined.
fn option_fields(testbed: &Testbed, host: &str, container: &str) -> serde_json::Value {
    let text = testbed.run_ok(host, &format!("docker inspect {container}"));
    let inspect: serde_json::Value = serde_json::from_str(&text).expect("docker inspect JSON");
    let inspect = &inspect[0];
    let host_config = &inspect["HostConfig"];
    let mut networks: Vec<String> = inspect["NetworkSettings"]["Networks"]
        .as_object()
        .map(|networks| networks.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    serde_json::json!({
        "HostConfig": without_empties(host_config),
        "Config.Domainname": inspect["Config"]["Domainname"],
        "Mounts": inspect["Mounts"].as_array().map(|mounts| {
            let mut points: Vec<String> = mounts
                .iter()
                .map(|mount| format!("{} {} rw={}", mount["Type"], mount["Destination"], mount["RW"]))
                .collect();
            points.sort();
            points
        }),
        "NetworkSettings.Networks": networks,
    })
}

/// `value` with empty lists and maps as `null`: docker's CLI sends `[]` where the Engine API
/// takes a missing field to mean the same.
fn without_empties(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Array(items) if items.is_empty() => Value::Null,
        Value::Object(map) if map.is_empty() => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(without_empties).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), without_empties(value)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The top-level keys of two `option_fields` values (and of their `HostConfig`) that differ.
fn differences(gantry: &serde_json::Value, kamal: &serde_json::Value) -> Vec<String> {
    let mut keys = Vec::new();
    for (key, kamal_value) in kamal.as_object().into_iter().flatten() {
        let gantry_value = &gantry[key];
        if key == "HostConfig" {
            for (field, kamal_field) in kamal_value.as_object().into_iter().flatten() {
                if &gantry_value[field] != kamal_field {
                    keys.push(format!(
                        "HostConfig.{field}: gantry {} / Kamal {kamal_field}",
                        gantry_value[field]
                    ));
                }
            }
        } else if gantry_value != kamal_value {
            keys.push(format!(
                "{key}: gantry {gantry_value} / Kamal {kamal_value}"
            ));
        }
    }
    keys
}

/// Every container, volume and the `kamal` network gone from `host`, as on a clean host.
fn clean(testbed: &Testbed, host: &str) {
    testbed.run_ok(
        host,
        "docker ps -aq | xargs -r docker rm -f >/dev/null; \
         docker volume ls -q | xargs -r docker volume rm -f >/dev/null; \
         docker network rm kamal >/dev/null 2>&1; true",
    );
}

#[test]
fn options_reach_the_containers_as_kamal_s_docker_run_gives_them() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let host = testbed.hosts[0].clone();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (first, second) = (format!("opts-{stamp}-1"), format!("opts-{stamp}-2"));
    testbed.push_testapp(&first, SERVICE);
    testbed.push_testapp(&second, SERVICE);
    testbed.run_ok(&host, &format!("mkdir -p {SHARED_DIR}"));

    let mut app = KamalApp::testapp(std::slice::from_ref(&host));
    app.service = SERVICE.to_string();
    app.extra_yaml = format!(
        "accessories:\n  store:\n    image: {registry}/testbed/busybox:latest\n    host: {host}\n    \
         cmd: sleep 100000\n{options}",
        registry = testbed.registry,
        options = options_yaml("    ", ""),
    );
    let project = KamalProject::create(&testbed, app);
    let config = project.dir().join("config/deploy.yml");
    let yaml = std::fs::read_to_string(&config).expect("deploy.yml");
    std::fs::write(&config, with_options(&yaml, &host, "")).expect("deploy.yml");

    // Kamal deploys; gantry reads Kamal's containers, options included, as its own.
    project.setup(&first, KAMAL_TIMEOUT).assert_success();
    let web = format!("{SERVICE}-web-{first}");
    let store = format!("{SERVICE}-store");
    let by_kamal = [
        option_fields(&testbed, &host, &web),
        option_fields(&testbed, &host, &store),
    ];
    assert_eq!(
        by_kamal[0]["HostConfig"]["Mounts"].as_array().map(Vec::len),
        Some(3),
        "{}",
        by_kamal[0]
    );
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &first],
    );
    plan.assert_code(0);
    assert!(
        plan.stdout.contains("No changes."),
        "{}\n{}",
        plan.stdout,
        plan.stderr
    );

    // gantry deploys the same file on the cleaned host: the same effect, field by field.
    clean(&testbed, &host);
    gantry(&project, &["apply", "-y", "--version", &first]).assert_code(0);
    let by_gantry = [
        option_fields(&testbed, &host, &web),
        option_fields(&testbed, &host, &store),
    ];
    for (gantry_fields, kamal_fields) in by_gantry.iter().zip(&by_kamal) {
        let differing = differences(gantry_fields, kamal_fields);
        assert!(differing.is_empty(), "{}", differing.join("\n"));
    }
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &first],
    );
    plan.assert_code(0);

    // `network:` joins a second network besides `kamal`, or the daemon refuses both.
    testbed.run_ok(
        &host,
        &format!(
            "docker network inspect {NETWORK} >/dev/null 2>&1 || docker network create {NETWORK}"
        ),
    );
    std::fs::write(
        &config,
        with_options(&yaml, &host, &format!("  network: {NETWORK}")),
    )
    .expect("deploy.yml");
    let kamal = project.deploy(&second, KAMAL_TIMEOUT);
    let web = format!("{SERVICE}-web-{second}");
    let kamal_networks = kamal
        .success
        .then(|| option_fields(&testbed, &host, &web)["NetworkSettings.Networks"].clone());
    clean(&testbed, &host);
    testbed.run_ok(
        &host,
        &format!("docker network create {NETWORK} >/dev/null 2>&1; true"),
    );
    let run = gantry(&project, &["apply", "-y", "--version", &second]);
    match kamal_networks {
        Some(networks) => {
            eprintln!("the daemon joins two networks at creation: both deployed");
            run.assert_code(0);
            assert_eq!(
                networks,
                serde_json::json!(["gantry-options-backend", "kamal"])
            );
            assert_eq!(
                option_fields(&testbed, &host, &web)["NetworkSettings.Networks"],
                networks
            );
        }
        None => {
            eprintln!("the daemon refuses two networks at creation (API < 1.44): both refused");
            let refusal = "cannot be connected to network endpoints";
            assert!(kamal.output.contains(refusal), "{}", kamal.output);
            assert_ne!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
            assert!(
                run.stderr.contains(refusal) || run.stdout.contains(refusal),
                "{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
}
