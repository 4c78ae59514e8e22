//! Canary rollouts on the test bed (specs/canary.md), three hosts behind their kamal-proxies and
//! a request loop against every one of them:
//!
//! - a version whose `--canary-check` fails touches only the canary: it is rolled back (the
//!   route back on the old container), the other hosts never leave the old version, no request
//!   fails, `deploy` exits 3 and every host's audit line says which stage decided;
//! - the same rollout as deploy.yml's `x-gantry: canary:` (which the real Kamal 2.11 loads),
//!   with a passing check, goes on to every host, and the plan then says "No changes".

mod deployment;

use std::time::Duration;

use deployment::{Deployment, RUN_TIMEOUT};
use gantry_testsupport::Testbed;
use gantry_testsupport::http::{LoopLimits, RequestLoop};

const SERVICE: &str = "gantry-canary";

/// A check that writes what it was told next to the project, then passes or fails.
fn check_script(deployment: &Deployment, name: &str, passes: bool) -> String {
    let told = deployment.project.dir().join(format!("{name}.told"));
    let path = deployment.project.dir().join(format!("{name}.sh"));
    let end = if passes {
        "exit 0"
    } else {
        "echo 'error rate 12% over the canary window (limit 1%)' >&2; exit 1"
    };
    let script = format!(
        "#!/bin/sh\necho \"$KAMAL_HOSTS $KAMAL_VERSION $GANTRY_CANARY\" > '{}'\n{end}\n",
        told.display()
    );
    std::fs::write(&path, script).expect("check script");
    format!("sh {}", path.display())
}

fn told(deployment: &Deployment, name: &str) -> String {
    let path = deployment.project.dir().join(format!("{name}.told"));
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn audit_log(deployment: &Deployment, host: &str) -> String {
    deployment
        .testbed
        .run_ok(host, &format!("cat .kamal/{SERVICE}-audit.log"))
}

#[test]
fn a_failing_canary_rolls_back_alone_and_a_passing_one_goes_on_to_every_host() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let deployment = Deployment::new(&testbed, SERVICE, 3, |_| {});
    let v = deployment.versions(&["c1", "bad", "good"]);
    let (old, bad, good) = (&v[0], &v[1], &v[2]);
    deployment
        .gantry(&["apply", "-y", "--version", old])
        .assert_code(0);
    let canary = deployment.hosts[0].clone();
    let addresses = deployment.proxy_addresses();

    // A bad version: the check fails after the wait.
    let requests = RequestLoop::start(
        addresses.clone(),
        "/",
        LoopLimits {
            pause: Duration::from_millis(20),
            max_duration: RUN_TIMEOUT,
            ..LoopLimits::default()
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    let check = check_script(&deployment, "bad-check", false);
    let failed = deployment.gantry(&[
        "deploy",
        "-P",
        "--version",
        bad,
        "--canary",
        "1",
        "--canary-wait",
        "3s",
        "--canary-check",
        &check,
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let report = requests.stop();
    let output = format!("{}{}", failed.stdout, failed.stderr);
    failed.assert_code(3);
    assert!(
        output.contains(&format!("Stage 1 (canary): {canary}; watched for 3s")),
        "{output}"
    );
    assert!(
        output.contains(&format!("Canary failed on {canary}:"))
            && output.contains("error rate 12%"),
        "{output}"
    );
    assert_eq!(
        told(&deployment, "bad-check"),
        format!("{canary} {bad} true")
    );
    assert!(
        report.failures().is_empty(),
        "failed requests during the canary: {:#?}",
        report.failures()
    );
    for (host, address) in deployment.hosts.iter().zip(&addresses) {
        let seen = report.versions(address);
        assert_eq!(
            seen.last(),
            Some(old),
            "{address} after the rollback: {seen:?}"
        );
        assert_eq!(deployment.serving(host).as_deref(), Some(old.as_str()));
        assert_eq!(deployment.running_app_containers(host), 1, "{host}");
        if *host == canary {
            // The canary did serve the bad version during its wait, then went back.
            assert_eq!(
                seen,
                vec![old.clone(), bad.clone(), old.clone()],
                "{address}"
            );
            let audit = audit_log(&deployment, host);
            assert!(
                audit.contains(&format!("Rolled back app version {bad}"))
                    && audit.contains(&format!("[stage 1, canary] canary failed on {canary}")),
                "{audit}"
            );
        } else {
            assert_eq!(seen, vec![old.clone()], "{address} left the old version");
            let containers = deployment.containers(host);
            assert!(!containers.contains(&format!("-web-{bad}")), "{containers}");
            let audit = audit_log(&deployment, host);
            assert!(
                audit.contains(&format!("Did not deploy app version {bad}"))
                    && audit.contains(&format!("[stage 2] canary failed on {canary}")),
                "{audit}"
            );
        }
    }

    // The team's default in deploy.yml, which Kamal loads as it ignores x- keys.
    let check = check_script(&deployment, "good-check", true);
    deployment.edit_config(|yaml| {
        format!(
            "{yaml}\nx-gantry:\n  canary:\n    count: 1\n    wait: 2s\n    check: \"{check}\"\n"
        )
    });
    deployment
        .project
        .run(&["config", "--version", good], Duration::from_secs(120))
        .assert_success();
    // `plan` shows the stages `deploy` will make.
    let planned = deployment.gantry(&["plan", "--version", good]);
    planned.assert_code(0);
    assert!(
        planned.stdout.contains(&format!(
            "Stage 1 (canary): {canary}; watched for 2s, then `{check}` must pass"
        )),
        "{}",
        planned.stdout
    );
    let requests = RequestLoop::start(
        addresses.clone(),
        "/",
        LoopLimits {
            pause: Duration::from_millis(20),
            max_duration: RUN_TIMEOUT,
            ..LoopLimits::default()
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    let passed = deployment.gantry(&["deploy", "-P", "--version", good]);
    std::thread::sleep(Duration::from_millis(500));
    let report = requests.stop();
    let output = format!("{}{}", passed.stdout, passed.stderr);
    passed.assert_code(0);
    assert!(
        output.contains(&format!("Stage 1 (canary): {canary}; watched for 2s"))
            && output.contains(&format!("Canary passed on {canary}")),
        "{output}"
    );
    assert_eq!(
        told(&deployment, "good-check"),
        format!("{canary} {good} true")
    );
    assert!(
        report.failures().is_empty(),
        "failed requests during the rollout: {:#?}",
        report.failures()
    );
    for (host, address) in deployment.hosts.iter().zip(&addresses) {
        assert_eq!(report.versions(address).last(), Some(good), "{address}");
        assert_eq!(deployment.serving(host).as_deref(), Some(good.as_str()));
        let audit = audit_log(&deployment, host);
        let stage = if *host == canary {
            "[stage 1, canary]"
        } else {
            "[stage 2]"
        };
        assert!(
            audit.contains(&format!("Deployed app version {good}"))
                && audit.contains(&format!("{stage} canary passed on {canary}")),
            "{audit}"
        );
    }
    let plan = deployment.gantry(&["plan", "--version", good]);
    plan.assert_code(0);
    assert!(plan.stdout.contains("No changes"), "{}", plan.stdout);
}
