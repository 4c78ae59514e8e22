//! `proxy.ssl` with a certificate from secrets, end to end: the real Kamal 2.11 sets the app up
//! through the kamal-proxy stand-in (a `web` role with the certificate, an `api` role on a path
//! prefix of the same host, an accessory), then gantry reads it back as "No changes" and
//! `drift` exits 0; plain HTTP gets a 301 to HTTPS, HTTPS (trusting the test bed's CA) gets the
//! app; gantry deploys a new version under a request loop over HTTPS without a failed request.
//! Needs the test bed (with `TESTBED_TLS_CERT`, `TESTBED_TLS_KEY`, `TESTBED_CA_CERT`) and
//! `kamal` 2.11.0.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http::{self, VERSION_HEADER};
use gantry_testsupport::https;
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-tls";
const TLS_HOST: &str = "app.gantry.test";
const TIMEOUT: Duration = Duration::from_secs(300);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

/// The project: Kamal's test app project, with the proxy block, the `api` role and the PEM
/// secrets put in.
fn project(testbed: &Testbed, hosts: &[String]) -> KamalProject {
    let mut app = KamalApp::testapp(hosts);
    app.service = SERVICE.to_string();
    app.extra_yaml = format!(
        "accessories:\n  store:\n    image: {registry}/testbed/busybox:latest\n    host: {host}\n    \
         cmd: sleep 100000\n",
        registry = testbed.registry,
        host = hosts[0]
    );
    let project = KamalProject::create(testbed, app);
    let deploy_yml = project.dir().join("config/deploy.yml");
    let yaml = std::fs::read_to_string(&deploy_yml).expect("deploy.yml");
    let api_role: String = std::iter::once("  api:\n    hosts:\n".to_string())
        .chain(hosts.iter().map(|host| format!("      - \"{host}\"\n")))
        .chain(std::iter::once(
            "    proxy:\n      ssl: false\n      path_prefix: /api\n".to_string(),
        ))
        .collect();
    let yaml = yaml.replacen(
        "proxy:\n  app_port: 80\n",
        &format!(
            "{api_role}proxy:\n  app_port: 80\n  host: {TLS_HOST}\n  ssl:\n    \
             certificate_pem: TLS_CERTIFICATE_PEM\n    private_key_pem: TLS_PRIVATE_KEY_PEM\n"
        ),
        1,
    );
    assert!(yaml.contains("certificate_pem"), "{yaml}");
    std::fs::write(&deploy_yml, yaml).expect("writing deploy.yml");
    let secrets = project.dir().join(".kamal/secrets");
    let mut text = std::fs::read_to_string(&secrets).expect(".kamal/secrets");
    for (name, variable) in [
        ("TLS_CERTIFICATE_PEM", "TESTBED_TLS_CERT"),
        ("TLS_PRIVATE_KEY_PEM", "TESTBED_TLS_KEY"),
    ] {
        text.push_str(&format!("{name}='{}'\n", https::testbed_tls_file(variable)));
    }
    std::fs::write(&secrets, text).expect("writing .kamal/secrets");
    project
}

#[test]
fn kamal_and_gantry_agree_on_an_ssl_app_with_a_path_prefixed_role() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let hosts: Vec<String> = testbed.hosts.iter().take(2).cloned().collect();
    let versions = testbed.push_versions(SERVICE, &["one", "two"]);
    let project = project(&testbed, &hosts);
    project.setup(&versions[0], TIMEOUT).assert_success();

    // Kamal wrote the certificate where the route names it; gantry sees nothing to do.
    for host in &hosts {
        let written = testbed.run_ok(
            host,
            &format!("cat .kamal/proxy/apps-config/{SERVICE}/tls/web/cert.pem"),
        );
        assert_eq!(
            written,
            https::testbed_tls_file("TESTBED_TLS_CERT"),
            "{host}"
        );
    }
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &versions[0]],
    );
    plan.assert_code(0);
    assert!(plan.stdout.contains("No changes."), "{}", plan.stdout);
    gantry(&project, &["drift"]).assert_code(0);

    for host in &hosts {
        let plain = http::get(&format!("{host}:80"), "/x?y=1", Some(TLS_HOST), TIMEOUT)
            .expect("plain HTTP");
        assert_eq!(plain.status, 301, "{host}");
        assert_eq!(
            plain.header("location"),
            Some(format!("https://{TLS_HOST}/x?y=1").as_str())
        );
        let secure = https::get(host, 443, TLS_HOST, "/", None);
        assert_eq!(secure.status, Some(200), "{host}: {secure:?}");
        assert_eq!(secure.header(VERSION_HEADER), Some(versions[0].as_str()));
        let api = https::get(host, 443, TLS_HOST, "/api/", None);
        assert_eq!(api.status, Some(200), "{host}: {api:?}");
        assert!(
            api.body.contains(&format!("{SERVICE}-api-")),
            "the api role answered: {}",
            api.body
        );
    }

    // gantry deploys the next version under a request loop over HTTPS.
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = hosts
        .iter()
        .map(|host| {
            let (host, stop) = (host.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer = https::get(&host, 443, TLS_HOST, "/", None);
                    answers.push((
                        answer.status,
                        answer.header(VERSION_HEADER).map(str::to_string),
                    ));
                }
                answers
            })
        })
        .collect();
    let apply = gantry(&project, &["apply", "-y", "--version", &versions[1]]);
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    apply.assert_code(0);
    for (host, handle) in hosts.iter().zip(loops) {
        let answers = handle.join().expect("request loop");
        let failed: Vec<_> = answers
            .iter()
            .filter(|(status, _)| *status != Some(200))
            .collect();
        eprintln!(
            "{host}: {} HTTPS requests during the deploy, {} failed",
            answers.len(),
            failed.len()
        );
        assert!(failed.is_empty(), "{host}: {failed:?}");
        assert!(
            answers.len() > 10,
            "{host}: only {} requests",
            answers.len()
        );
        assert_eq!(
            answers.last().and_then(|(_, version)| version.as_deref()),
            Some(versions[1].as_str()),
            "{host}"
        );
    }
    let again = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &versions[1]],
    );
    again.assert_code(0);
    gantry(&project, &["drift"]).assert_code(0);

    // Certificate files gone from a host: gantry writes them back (never printing them) and
    // deploys the route again so the proxy loads them.
    let tls_dir = format!(".kamal/proxy/apps-config/{SERVICE}/tls");
    testbed.run_ok(&hosts[1], &format!("rm -r {tls_dir}"));
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &versions[1]],
    );
    plan.assert_code(2);
    for line in [
        format!("+ TLS file of role web ({tls_dir}/web/cert.pem)"),
        format!("+ TLS file of role web ({tls_dir}/web/key.pem)"),
        format!("~ route {SERVICE}-web (TLS certificate changed)"),
    ] {
        assert!(
            plan.stdout.contains(&line),
            "no `{line}` in:\n{}",
            plan.stdout
        );
    }
    assert!(!plan.stdout.contains("BEGIN"), "{}", plan.stdout);
    gantry(&project, &["apply", "-y", "--version", &versions[1]]).assert_code(0);
    assert_eq!(
        testbed.run_ok(&hosts[1], &format!("cat {tls_dir}/web/key.pem")),
        https::testbed_tls_file("TESTBED_TLS_KEY")
    );
    assert_eq!(
        testbed
            .run_ok(&hosts[1], &format!("stat -c %a {tls_dir}/web/key.pem"))
            .trim(),
        "644"
    );
    let secure = https::get(&hosts[1], 443, TLS_HOST, "/", None);
    assert_eq!(secure.status, Some(200), "{secure:?}");
    gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &versions[1]],
    )
    .assert_code(0);
}
