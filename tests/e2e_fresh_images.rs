//! Images that change under the same tag, and images without the service's label (issue 12,
//! item 5), on the test bed beside the real Kamal 2.11: a tag pushed again is served after the
//! next `gantry apply` of the same version, as after Kamal's next deploy, and an image labelled
//! for another service is refused by both before it runs.

use std::path::Path;
use std::time::Duration;

use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::http;
use gantry_testsupport::kamal::{KamalApp, KamalProject};
use gantry_testsupport::{Testbed, wait};

const SERVICE: &str = "gantry-fresh";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

fn project(testbed: &Testbed, host: &str) -> KamalProject {
    let mut app = KamalApp::testapp(&[host.to_string()]);
    app.service = SERVICE.to_string();
    app.deploy_timeout = Some(10);
    app.drain_timeout = Some(2);
    KamalProject::create(testbed, app)
}

/// The version the app on `host` reports, waiting a little for a switch to settle.
fn serves(host: &str, version: &str) -> bool {
    wait::until_true(Duration::from_secs(10), Duration::from_millis(200), || {
        http::serving(host).as_deref() == Some(version)
    })
}

#[test]
fn a_tag_pushed_again_is_refreshed_by_apply_as_kamal_refreshes_it() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let host = testbed.host(1).to_string();
    let versions = testbed.push_versions(SERVICE, &["staging", "next"]);
    let (staging, next) = (&versions[0], &versions[1]);
    let project = project(&testbed, &host);

    // Kamal, the oracle: the same version deployed again after a push serves the new image.
    {
        let _exclusive = testbed.exclusive_clean();
        project.setup(staging, KAMAL_TIMEOUT).assert_success();
        assert!(serves(&host, staging));
        testbed.push_testapp_as(next, staging);
        project.deploy(staging, KAMAL_TIMEOUT).assert_success();
        assert!(serves(&host, next), "Kamal serves the image pushed again");
    }

    // gantry, on clean hosts, with the tag back on its first image.
    testbed.push_testapp(staging, SERVICE);
    let _exclusive = testbed.exclusive_clean();
    gantry(&project, &["apply", "-y", "--version", staging]).assert_code(0);
    assert!(serves(&host, staging));
    gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", staging],
    )
    .assert_code(0);

    testbed.push_testapp_as(next, staging);
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", staging],
    );
    plan.assert_code(2);
    assert!(
        plan.stdout.contains("image changed in the registry"),
        "{}",
        plan.stdout
    );
    gantry(&project, &["apply", "-y", "--version", staging]).assert_code(0);
    assert!(serves(&host, next), "gantry serves the image pushed again");
    gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", staging],
    )
    .assert_code(0);
}

#[test]
fn an_image_labelled_for_another_service_is_refused_by_both_before_it_runs() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let host = testbed.host(1).to_string();
    let stranger = testbed
        .push_versions("someone-else", &["stranger"])
        .remove(0);
    let project = project(&testbed, &host);
    let running = || {
        testbed
            .run_ok(
                &host,
                &format!("docker ps -q --filter label=service={SERVICE} --filter label=role"),
            )
            .trim()
            .to_string()
    };

    {
        let _exclusive = testbed.exclusive_clean();
        let setup = project.setup(&stranger, KAMAL_TIMEOUT);
        assert!(!setup.success, "{}", setup.output);
        assert!(
            setup.output.contains("missing the 'service' label"),
            "{}",
            setup.output
        );
        assert_eq!(running(), "", "Kamal ran nothing");
    }

    let _exclusive = testbed.exclusive_clean();
    let apply = gantry(&project, &["apply", "-y", "--version", &stranger]);
    assert_ne!(apply.code, Some(0), "{}{}", apply.stdout, apply.stderr);
    let output = format!("{}{}", apply.stdout, apply.stderr);
    assert!(output.contains("missing the 'service' label"), "{output}");
    assert_eq!(running(), "", "gantry ran nothing");
}
