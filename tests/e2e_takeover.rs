//! Both ways, one deploy.yml (issue 12): a configuration that uses every host step Kamal takes
//! besides running containers (`asset_path`, error pages, an accessory with an `.erb` file and
//! an absolute directory, `~/storage` volumes, kamal-proxy's boot configuration) deployed by the
//! real Kamal 2.11 on one clean host and by gantry on another. gantry plans "No changes" over
//! what Kamal left, Kamal deploys the next version over what gantry left, and gantry then reads
//! that as converged too.

use std::fs;
use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-takeover";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);
const ABSOLUTE_DIR: &str = "/srv/gantry-takeover/data";

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

fn project(testbed: &Testbed, host: &str) -> KamalProject {
    let busybox = format!("{}/testbed/busybox:latest", testbed.registry);
    let mut app = KamalApp::testapp(&[host.to_string()]);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(20);
    app.drain_timeout = Some(2);
    app.secret_env = vec![("DB_PASSWORD".into(), "takeover-pw".into())];
    app.extra_yaml = format!(
        "asset_path: /app/public/assets\nerror_pages_path: public/errors\n\
         volumes:\n  - \"~/storage:/rails/storage\"\n\
         accessories:\n  db:\n    image: {busybox}\n    host: {host}\n    cmd: sleep 86400\n\
         \x20   env:\n      secret:\n        - DB_PASSWORD\n\
         \x20   files:\n      - config/init.sql.erb:/docker-entrypoint-initdb.d/init.sql\n\
         \x20   directories:\n      - local: {ABSOLUTE_DIR}\n        remote: /var/lib/data\n\
         \x20       mode: \"0700\"\n"
    );
    let project = KamalProject::create(testbed, app);
    fs::write(
        project.dir().join("config/init.sql.erb"),
        "CREATE USER app IDENTIFIED BY '<%= ENV[\"DB_PASSWORD\"] %>';\n",
    )
    .unwrap();
    let pages = project.dir().join("public/errors");
    fs::create_dir_all(&pages).unwrap();
    fs::write(pages.join("503.html"), "<h1>away</h1>\n").unwrap();
    // kamal-proxy's boot configuration, written on the host as `kamal proxy boot_config set`
    // writes it; every proxy boot after it reads it.
    project
        .run(
            &["proxy", "boot_config", "set", "--log-max-size", "20m"],
            KAMAL_TIMEOUT,
        )
        .assert_success();
    project
}

fn assert_no_changes(project: &KamalProject, version: &str) {
    let plan = gantry(
        project,
        &["plan", "--detailed-exitcode", "--version", version],
    );
    assert_eq!(plan.code, Some(0), "{}\n{}", plan.stdout, plan.stderr);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
}

/// What a host holds of the steps: asset and error page trees, the rendered file, the absolute
/// directory, the proxy's log size, the app's binds in the order they were given, and its
/// mounts (sorted: Docker lists `.Mounts` from a Go map, in no fixed order).
fn snapshot(testbed: &Testbed, host: &str, version: &str) -> String {
    testbed.run_ok(
        host,
        &format!(
            "cd ~ && find .kamal/apps/{SERVICE}/assets .kamal/proxy/apps-config/{SERVICE} -printf '%y %m %p\\n' | sort; \
             sha256sum {SERVICE}-db/docker-entrypoint-initdb.d/init.sql | cut -c1-16; \
             stat -c '%F %a' {ABSOLUTE_DIR}; \
             docker inspect -f '{{{{json .HostConfig.LogConfig.Config}}}}' kamal-proxy; \
             docker inspect -f '{{{{json .HostConfig.Binds}}}}' {SERVICE}-web-{version}; \
             docker inspect -f '{{{{range .Mounts}}}}{{{{.Source}}}}:{{{{.Destination}}}}{{{{println}}}}{{{{end}}}}' {SERVICE}-web-{version} | sort"
        ),
    )
}

#[test]
fn kamal_and_gantry_take_over_each_others_hosts_with_every_host_step() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    for host in [&kamal_host, &gantry_host] {
        testbed.run_ok(host, "rm -rf /srv/gantry-takeover");
    }
    let v = testbed.push_versions(SERVICE, &["one", "two"]);
    let kamal = project(&testbed, &kamal_host);
    let ours = project(&testbed, &gantry_host);

    kamal.setup(&v[0], KAMAL_TIMEOUT).assert_success();
    gantry(&ours, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    let by_kamal = snapshot(&testbed, &kamal_host, &v[0]);
    assert!(by_kamal.contains("\"max-size\":\"20m\""), "{by_kamal}");
    assert_eq!(snapshot(&testbed, &gantry_host, &v[0]), by_kamal);

    // gantry over Kamal's host: nothing to do.
    assert_no_changes(&kamal, &v[0]);

    // Kamal over gantry's host: the next version deploys, and gantry agrees with the result.
    ours.deploy(&v[1], KAMAL_TIMEOUT).assert_success();
    assert_eq!(http::serving(&gantry_host).as_deref(), Some(v[1].as_str()));
    assert_eq!(
        http::get(
            &format!("{gantry_host}:80"),
            &format!("/assets/app-{}.css", v[1]),
            None,
            Duration::from_secs(5)
        )
        .map(|response| response.status)
        .ok(),
        Some(200)
    );
    assert_no_changes(&ours, &v[1]);
}
