//! Steps Kamal takes on a host besides running containers, taken by gantry the same way
//! (issue 12, specs/actions.md): asset bridging (`asset_path`) and error pages
//! (`error_pages_path`). Each test deploys one deploy.yml with the real Kamal 2.11 to one clean
//! host and with gantry to another, compares what the two hosts hold afterwards (the files under
//! `~/.kamal/`, the container's mounts, what is served), then lets each tool take over the
//! other's host: gantry plans "No changes" over Kamal's, and Kamal deploys over gantry's.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http::{self, LoopLimits, RequestLoop};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The project of `service` deploying the test app to `host` alone.
fn project(testbed: &Testbed, service: &str, host: &str, extra_yaml: &str) -> KamalProject {
    let mut app = KamalApp::testapp(&[host.to_string()]);
    app.service = service.to_string();
    app.deploy_timeout = Some(20);
    app.drain_timeout = Some(5);
    app.extra_yaml = extra_yaml.to_string();
    KamalProject::create(testbed, app)
}

/// Every entry under `~/<dir>` with its type and mode, then every file's checksum: what the two
/// tools must leave alike.
fn tree(testbed: &Testbed, host: &str, dir: &str) -> String {
    testbed.run_ok(
        host,
        &format!(
            "cd ~/{dir} && find . -mindepth 1 -printf '%y %m %p\\n' | sort \
             && find . -type f -exec md5sum {{}} + | sort -k 2"
        ),
    )
}

/// The mounts of a container, as `source:destination:rw` lines.
fn mounts(testbed: &Testbed, host: &str, container: &str) -> String {
    testbed.run_ok(
        host,
        &format!(
            "docker inspect -f '{{{{range .Mounts}}}}{{{{.Source}}}}:{{{{.Destination}}}}:{{{{.RW}}}}\n{{{{end}}}}' \
             {container} | sort"
        ),
    )
}

/// `GET path` through the proxy on `host`: status and body.
fn get(host: &str, path: &str) -> (u16, String) {
    match http::get(&format!("{host}:80"), path, None, HTTP_TIMEOUT) {
        Ok(response) => (response.status, response.text()),
        Err(error) => (0, error.to_string()),
    }
}

fn assert_no_changes(project: &KamalProject, version: &str) {
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

/// Runs `deploy` while a loop asks `host` for `path`; every answer must be a 200.
fn without_failures(host: &str, path: &str, deploy: impl FnOnce()) {
    let address = format!("{host}:80");
    let requests = RequestLoop::start(vec![address], path, LoopLimits::default());
    deploy();
    let report = requests.stop();
    let failures = report.failures();
    assert!(
        !report.answers.is_empty() && failures.is_empty(),
        "{} of {} requests for {path} on {host} failed during the switch: {:?}",
        failures.len(),
        report.answers.len(),
        failures.iter().take(5).collect::<Vec<_>>()
    );
}

#[test]
fn assets_are_bridged_as_kamal_bridges_them_and_both_versions_answer_during_a_switch() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    const SERVICE: &str = "gantry-assets";
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    let v = testbed.push_versions(SERVICE, &["one", "two", "three"]);
    let extra = "asset_path: /app/public/assets\n";
    let kamal = project(&testbed, SERVICE, &kamal_host, extra);
    let ours = project(&testbed, SERVICE, &gantry_host, extra);
    let assets_dir = format!(".kamal/apps/{SERVICE}/assets");
    let asset = |version: &str| format!("/assets/app-{version}.css");

    kamal.setup(&v[0], KAMAL_TIMEOUT).assert_success();
    gantry(&ours, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    for host in [&kamal_host, &gantry_host] {
        assert_eq!(
            get(host, &asset(&v[0])),
            (200, format!("{}\n", v[0])),
            "{host}"
        );
    }
    assert_eq!(
        tree(&testbed, &gantry_host, &assets_dir),
        tree(&testbed, &kamal_host, &assets_dir)
    );
    let web = format!("{SERVICE}-web-{}", v[0]);
    let kamal_mounts = mounts(&testbed, &kamal_host, &web);
    assert!(
        kamal_mounts.contains(&format!(
            "{assets_dir}/volumes/web-{}:/app/public/assets",
            v[0]
        )),
        "{kamal_mounts}"
    );
    assert_eq!(mounts(&testbed, &gantry_host, &web), kamal_mounts);

    // v1 → v2: the old version's assets answer throughout, from the old container and then
    // from the new one's volume.
    without_failures(&kamal_host, &asset(&v[0]), || {
        kamal.deploy(&v[1], KAMAL_TIMEOUT).assert_success();
    });
    without_failures(&gantry_host, &asset(&v[0]), || {
        gantry(&ours, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    });
    for host in [&kamal_host, &gantry_host] {
        for version in &v[..2] {
            assert_eq!(
                get(host, &asset(version)),
                (200, format!("{version}\n")),
                "{host}"
            );
        }
        // The file both versions have is the new version's.
        assert_eq!(
            get(host, "/assets/shared.css"),
            (200, format!("{}\n", v[1]))
        );
    }
    let kamal_tree = tree(&testbed, &kamal_host, &assets_dir);
    assert!(
        !kamal_tree.contains(&format!("web-{}\n", v[0])),
        "Kamal cleaned the older version's directories:\n{kamal_tree}"
    );
    assert_eq!(tree(&testbed, &gantry_host, &assets_dir), kamal_tree);
    let web = format!("{SERVICE}-web-{}", v[1]);
    assert_eq!(
        mounts(&testbed, &gantry_host, &web),
        mounts(&testbed, &kamal_host, &web)
    );

    // Each tool takes over the other's host.
    assert_no_changes(&kamal, &v[1]);
    kamal_deploys_over(&ours, &gantry_host, &v[2], &asset(&v[1]));
    assert_eq!(get(&gantry_host, &asset(&v[2])).0, 200);

    // Back to the retained container of v2, whose volume Kamal's clean-up removed: gantry fills
    // it again before starting it, with v3's assets merged in.
    without_failures(&gantry_host, &asset(&v[2]), || {
        gantry(&ours, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    });
    assert_eq!(http::serving(&gantry_host).as_deref(), Some(v[1].as_str()));
    for version in &v[1..] {
        assert_eq!(get(&gantry_host, &asset(version)).0, 200, "{version}");
    }
    assert_no_changes(&ours, &v[1]);
}

/// Kamal deploys `version` over what gantry left on `host` while `path` keeps answering.
fn kamal_deploys_over(project: &KamalProject, host: &str, version: &str, path: &str) {
    without_failures(host, path, || {
        project.deploy(version, KAMAL_TIMEOUT).assert_success();
    });
    assert_eq!(http::serving(host).as_deref(), Some(version));
}

/// Pages kamal-proxy serves for its own errors; `4xx.html` is uploaded as Kamal uploads it.
const PAGES: [(&str, &str); 3] = [
    ("502.html", "<h1>custom 502: the app is away</h1>\n"),
    ("503.html", "<h1>custom 503: the app is away</h1>\n"),
    ("4xx.html", "<h1>custom 4xx</h1>\n"),
];

fn write_pages(project: &KamalProject) {
    let directory = project.dir().join("public/errors");
    std::fs::create_dir_all(&directory).unwrap();
    for (name, text) in PAGES {
        std::fs::write(directory.join(name), text).unwrap();
    }
    std::fs::write(directory.join("index.html"), "not an error page").unwrap();
}

#[test]
fn error_pages_are_uploaded_as_kamal_uploads_them_and_served_for_a_5xx() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    const SERVICE: &str = "gantry-errors";
    let (kamal_host, gantry_host) = (testbed.host(1).to_string(), testbed.host(2).to_string());
    let v = testbed.push_versions(SERVICE, &["one", "two", "three"]);
    let extra = "error_pages_path: public/errors\n";
    let kamal = project(&testbed, SERVICE, &kamal_host, extra);
    let ours = project(&testbed, SERVICE, &gantry_host, extra);
    write_pages(&kamal);
    write_pages(&ours);
    let pages_dir = format!(".kamal/proxy/apps-config/{SERVICE}");

    kamal.setup(&v[0], KAMAL_TIMEOUT).assert_success();
    gantry(&ours, &["apply", "-y", "--version", &v[0]]).assert_code(0);
    let kamal_tree = tree(&testbed, &kamal_host, &pages_dir);
    assert!(
        kamal_tree.contains(&format!("./error_pages/{}/502.html", v[0]))
            && !kamal_tree.contains("index.html"),
        "{kamal_tree}"
    );
    assert_eq!(tree(&testbed, &gantry_host, &pages_dir), kamal_tree);

    // The app in maintenance (`kamal app maintenance`): kamal-proxy answers 503 with the
    // custom page, then serves again once resumed.
    let route = format!("{SERVICE}-web");
    for host in [&kamal_host, &gantry_host] {
        testbed.run_ok(
            host,
            &format!("docker exec kamal-proxy kamal-proxy stop {route}"),
        );
        let (status, body) = get(host, "/");
        assert_eq!(
            (status, body.as_str()),
            (503, PAGES[1].1),
            "{host} serves the custom page"
        );
        testbed.run_ok(
            host,
            &format!("docker exec kamal-proxy kamal-proxy resume {route}"),
        );
        assert_eq!(
            http::serving(host).as_deref(),
            Some(v[0].as_str()),
            "{host}"
        );
    }

    // A new version: its pages are uploaded, the older version's removed.
    kamal.deploy(&v[1], KAMAL_TIMEOUT).assert_success();
    gantry(&ours, &["apply", "-y", "--version", &v[1]]).assert_code(0);
    let kamal_tree = tree(&testbed, &kamal_host, &pages_dir);
    assert!(
        kamal_tree.contains(&format!("./error_pages/{}/503.html", v[1]))
            && !kamal_tree.contains(&format!("./error_pages/{}", v[0])),
        "{kamal_tree}"
    );
    assert_eq!(tree(&testbed, &gantry_host, &pages_dir), kamal_tree);

    // Each tool takes over the other's host.
    assert_no_changes(&kamal, &v[1]);
    kamal_deploys_over(&ours, &gantry_host, &v[2], "/");
}
