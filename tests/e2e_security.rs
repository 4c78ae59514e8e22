//! Security on the test bed (specs/reliability.md, "Secrets", "Host keys", "Hostile input"):
//!
//! - a scenario's every command (config, plan, saved plan, apply, drift, details, lock status,
//!   a failing apply with rollback; text and JSON) runs with a distinctive env secret and the
//!   registry password, while `ps auxww` is sampled on every host: no secret value appears in
//!   any output, file, process list, audit log or journal, only in the env file (0600) and the
//!   container's environment;
//! - a changed host key stops `gantry apply` before anything is sent: it names the host and the
//!   new key's fingerprint, and no host changes;
//! - hostile values in deploy.yml and the secrets file reach the hosts as data: the marker file
//!   they would create never appears;
//! - escape sequences planted on a host (a lock's details) never reach the terminal: gantry
//!   prints them escaped.

mod deployment;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use deployment::Deployment;
use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::GantryRun;

const SERVICE: &str = "gantry-sec";

fn stamp() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos())
}

/// `ps auxww` on every host, over and over, until stopped.
struct ProcessSampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ProcessSampler {
    fn start(testbed: &Testbed, hosts: &[String]) -> ProcessSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let threads = hosts
            .iter()
            .map(|host| {
                let (testbed, host) = (testbed.clone(), host.clone());
                let (stop, samples) = (Arc::clone(&stop), Arc::clone(&samples));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        let listing = testbed.run_on(&host, "ps auxww");
                        samples
                            .lock()
                            .expect("samples")
                            .push(format!("{host}\n{}", listing.stdout));
                    }
                })
            })
            .collect();
        ProcessSampler {
            stop,
            samples,
            threads,
        }
    }

    fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            thread.join().expect("sampler");
        }
        std::mem::take(&mut *self.samples.lock().expect("samples"))
    }
}

/// Everything the scenario produced, by where it came from.
#[derive(Default)]
struct Evidence {
    texts: Vec<(String, String)>,
}

impl Evidence {
    fn run(&mut self, run: &GantryRun) -> &mut Self {
        self.texts.push((
            format!("gantry {}", run.args.join(" ")),
            format!("{}\n{}", run.stdout, run.stderr),
        ));
        self
    }

    fn add(&mut self, label: &str, text: String) {
        self.texts.push((label.to_string(), text));
    }

    /// Every place a secret appears.
    fn leaks(&self, secrets: &[&str]) -> Vec<String> {
        self.texts
            .iter()
            .flat_map(|(label, text)| {
                secrets
                    .iter()
                    .filter(|secret| text.contains(*secret))
                    .map(move |secret| format!("{secret:?} in {label}"))
            })
            .collect()
    }
}

#[test]
fn secret_values_appear_only_in_env_files_and_containers() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let canary = format!("env-canary-{:x}", stamp());
    let deployment = Deployment::new(&testbed, SERVICE, 3, |app| {
        app.secret_env = vec![("DB_PASSWORD".into(), canary.clone())];
    });
    let secrets = [canary.as_str(), testbed.registry_password.as_str()];
    let v = deployment.versions(&["sec1", "sec2", "sec3"]);
    let mut evidence = Evidence::default();
    let hosts = deployment.hosts.clone();

    evidence.run(deployment.gantry(&["config"]).assert_code(0));
    evidence.run(deployment.gantry(&["config", "--json"]).assert_code(0));
    evidence.run(&deployment.gantry(&["plan", "--version", &v[0]]));
    evidence.run(&deployment.gantry(&["plan", "--json", "--version", &v[0]]));
    let plan_file = deployment.project.dir().join("v1.plan");
    let plan_path = plan_file.display().to_string();
    evidence.run(
        deployment
            .gantry(&["plan", "--version", &v[0], "-o", &plan_path])
            .assert_code(0),
    );
    evidence.add(
        "the saved plan",
        std::fs::read_to_string(&plan_file).expect("saved plan"),
    );

    let sampler = ProcessSampler::start(&testbed, &hosts);
    evidence.run(deployment.gantry(&["apply", &plan_path]).assert_code(0));
    evidence.run(
        deployment
            .gantry(&["apply", "-y", "--json", "--version", &v[1]])
            .assert_code(0),
    );
    // A failing apply: the new containers print the secret in their log, fail their health
    // check, and gantry quotes their last log lines while rolling every host back.
    deployment.set_clear_env(&[("FAIL_HEALTHCHECK", "1")]);
    deployment.edit_config(|yaml| {
        let mut yaml = yaml.replacen(
            "servers:\n  web:\n",
            "servers:\n  web:\n    cmd: sh -c 'echo \"booting with $DB_PASSWORD\" >&2; exec /app/init.sh'\n    hosts:\n",
            1,
        );
        for host in &hosts {
            yaml = yaml.replace(&format!("    - \"{host}\"\n"), &format!("      - \"{host}\"\n"));
        }
        yaml
    });
    let failed = deployment.gantry(&["apply", "-y", "--version", &v[2]]);
    failed.assert_code(1);
    evidence.run(&failed);
    let failed_json = deployment.gantry(&["apply", "-y", "--json", "--version", &v[2]]);
    failed_json.assert_code(1);
    evidence.run(&failed_json);
    let samples = sampler.stop();
    assert!(
        failed.stdout.contains("rolled back") || failed.stderr.contains("rolled back"),
        "{}\n{}",
        failed.stdout,
        failed.stderr
    );
    assert!(
        format!("{}{}", failed.stdout, failed.stderr).contains("[REDACTED]"),
        "the secret from the container's log was in the error, scrubbed:\n{}\n{}",
        failed.stdout,
        failed.stderr
    );
    eprintln!(
        "{} process listings sampled on {} hosts during three applies",
        samples.len(),
        hosts.len()
    );
    assert!(samples.len() >= 3 * hosts.len(), "the sampler ran");
    for (index, sample) in samples.into_iter().enumerate() {
        evidence.add(&format!("ps auxww sample {index}"), sample);
    }

    deployment.unset_clear_env("FAIL_HEALTHCHECK");
    for args in [
        vec!["drift"],
        vec!["drift", "--json"],
        vec!["details"],
        vec!["lock", "status"],
        vec!["plan", "--version", &v[2]],
        vec!["plan", "--json", "--version", &v[2]],
    ] {
        evidence.run(&deployment.gantry(&args));
    }

    // The hosts: only the env file holds the env secret; nothing holds the registry password.
    let names = format!(".kamal/apps/{SERVICE}/env/roles/web.env");
    for host in &hosts {
        let holding = testbed.run_ok(
            host,
            &format!("cd ~ && grep -rlF -- '{canary}' . | sort; true"),
        );
        assert_eq!(
            holding.trim(),
            format!("./{names}"),
            "{host}: files holding the env secret"
        );
        let mode = testbed.run_ok(host, &format!("stat -c %a {names}"));
        assert_eq!(mode.trim(), "600", "{host}: env file mode");
        let registry = testbed.run_ok(
            host,
            &format!(
                "cd ~ && grep -rlF -- '{}' . ; ls .docker/config.json 2>/dev/null; true",
                testbed.registry_password
            ),
        );
        assert!(registry.trim().is_empty(), "{host}: {registry}");
        for file in [
            format!(".kamal/{SERVICE}-audit.log"),
            format!(".kamal/apps/{SERVICE}/gantry/journal.json"),
        ] {
            evidence.add(
                &format!("{host}:{file}"),
                testbed.run_ok(host, &format!("cat {file}")),
            );
        }
        let inspect = testbed.run_ok(
            host,
            &format!("docker inspect $(docker ps -aq --filter label=service={SERVICE})"),
        );
        assert!(
            inspect.contains(&canary),
            "{host}: the container has its secret"
        );
        assert!(
            !inspect.contains(&testbed.registry_password),
            "{host}: the registry password is in a container"
        );
    }
    let leaks = evidence.leaks(&secrets);
    assert!(leaks.is_empty(), "secret values leaked: {leaks:#?}");
    eprintln!(
        "{} outputs, files and samples scanned for 2 secret values: none found",
        evidence.texts.len()
    );
}

#[test]
fn a_changed_host_key_stops_apply_before_anything_is_sent() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let deployment = Deployment::new(&testbed, SERVICE, 3, |_| {});
    let v = deployment.versions(&["hk1"]);
    // A known_hosts where host 2's key is another host's: what a man in the middle looks like.
    let known_hosts = std::fs::read_to_string(&testbed.known_hosts).expect("known_hosts");
    let victim = deployment.hosts[1].clone();
    let donor = deployment.hosts[0].clone();
    let donor_keys: Vec<&str> = known_hosts
        .lines()
        .filter(|line| line.split_whitespace().next() == Some(donor.as_str()))
        .collect();
    assert!(!donor_keys.is_empty(), "{known_hosts}");
    let mut tampered: Vec<String> = known_hosts
        .lines()
        .filter(|line| line.split_whitespace().next() != Some(victim.as_str()))
        .map(str::to_string)
        .collect();
    tampered.extend(
        donor_keys
            .iter()
            .map(|line| line.replacen(donor.as_str(), &victim, 1)),
    );
    let tampered_path = deployment.project.dir().join(".kamal/known_hosts");
    std::fs::write(&tampered_path, tampered.join("\n") + "\n").expect("tampered known_hosts");
    std::fs::write(
        deployment.project.dir().join(".kamal/ssh_config"),
        format!(
            "Host *\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
            tampered_path.display()
        ),
    )
    .expect("ssh config");
    let before: Vec<String> = deployment
        .hosts
        .iter()
        .map(|host| testbed.run_ok(host, "docker ps -a --format '{{.Names}}'; ls -A ~"))
        .collect();

    let run = deployment.gantry(&["apply", "-y", "--version", &v[0]]);
    let output = format!("{}\n{}", run.stdout, run.stderr);
    eprintln!("gantry apply with a changed host key:\n{output}");
    // The message as one line, whatever miette's wrapping.
    let output = output
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    run.assert_code(1);
    assert!(output.contains(&victim), "names the host");
    assert!(
        output.contains("SHA256:"),
        "names the new key's fingerprint"
    );
    assert!(output.contains("host key changed"), "says what happened");
    assert!(
        output.contains("nothing was sent to any host"),
        "says nothing happened"
    );
    let after: Vec<String> = deployment
        .hosts
        .iter()
        .map(|host| testbed.run_ok(host, "docker ps -a --format '{{.Names}}'; ls -A ~"))
        .collect();
    assert_eq!(before, after, "no host changed");
    assert_eq!(
        std::fs::read_to_string(&tampered_path).expect("known_hosts"),
        tampered.join("\n") + "\n",
        "the known_hosts file is left as it was"
    );
}

#[test]
fn hostile_values_never_run_on_the_hosts() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let marker = format!("/tmp/gantry-pwned-{:x}", stamp());
    let attacks = [
        format!("a;touch {marker}"),
        format!("$(touch {marker})"),
        format!("`touch {marker}`"),
        format!("a\ntouch {marker}"),
        format!("-v{marker}:/x"),
    ];
    let deployment = Deployment::new(&testbed, SERVICE, 2, |app| {
        app.clear_env = vec![("GREETING".into(), "hello".into())];
        for (index, attack) in attacks.iter().enumerate() {
            app.clear_env
                .push((format!("HOSTILE_{index}"), attack.clone()));
            app.secret_env
                .push((format!("HOSTILE_SECRET_{index}"), attack.replace('\n', " ")));
        }
        app.extra_yaml = format!(
            "labels:\n  hostile: {label}\nvolumes:\n  - {volume}\n\
             accessories:\n  box:\n    image: {registry}/testbed/busybox:latest\n    host: {host}\n    cmd: sleep 100000\n    directories:\n      - {directory}\n",
            label = serde_json::Value::from(attacks[0].clone()),
            volume = serde_json::Value::from(format!("/srv/{}:/data", attacks[1])),
            registry = testbed.registry,
            host = testbed.hosts[0],
            directory = serde_json::Value::from(format!("{}:/data", attacks[2].replace('/', "_"))),
        );
    });
    let v = deployment.versions(&["hostile"]);
    let run = deployment.gantry(&["apply", "-y", "--version", &v[0]]);
    run.assert_code(0);
    for host in &deployment.hosts {
        assert_eq!(deployment.serving(host).as_deref(), Some(v[0].as_str()));
        let found = testbed.run_ok(host, &format!("ls -d {marker}* ~/pwned* 2>/dev/null; true"));
        assert!(found.trim().is_empty(), "{host}: {found}");
        let env = testbed.run_ok(
            host,
            &format!(
                "docker inspect -f '{{{{json .Config.Env}}}}' {SERVICE}-web-{}",
                v[0]
            ),
        );
        let env: Vec<String> = serde_json::from_str(env.trim()).expect("env JSON");
        for (index, attack) in attacks.iter().enumerate() {
            let expected = format!("HOSTILE_{index}={}", attack.replace('\n', "\\n"));
            assert!(env.contains(&expected), "{host}: {expected:?} in {env:#?}");
        }
    }
    let directory = testbed.run_ok(&testbed.hosts[0], &format!("ls -A ~/{SERVICE}-box/"));
    assert_eq!(directory.trim(), attacks[2].replace('/', "_"));
    assert!(
        !std::path::Path::new(&marker).exists(),
        "a hostile value ran on this machine"
    );
    deployment
        .gantry(&["plan", "--detailed-exitcode", "--version", &v[0]])
        .assert_code(0);
}

/// Issue 15: debug and trace logging of a deploy (`-vv`, `-vvv`: the Engine API requests that
/// create containers with their environment, the inspect answers that return it) prints no
/// secret value; a hand-written `GANTRY_LOG` that enables every target is scrubbed too.
#[test]
fn verbose_logs_hold_no_secret() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let canary = format!("env-canary-{:x}", stamp());
    let deployment = Deployment::new(&testbed, SERVICE, 2, |app| {
        app.secret_env = vec![("DB_PASSWORD".into(), canary.clone())];
    });
    let secrets = [canary.as_str(), testbed.registry_password.as_str()];
    let v = deployment.versions(&["vv1", "vv2"]);
    let mut evidence = Evidence::default();
    let first = deployment.gantry(&["apply", "-y", "-vv", "--version", &v[0]]);
    first.assert_code(0);
    assert!(first.stderr.contains("DEBUG"), "-vv logs: {}", first.stderr);
    evidence.run(&first);
    evidence.run(
        deployment
            .gantry(&["apply", "-y", "-vvv", "--version", &v[1]])
            .assert_code(0),
    );
    for args in [
        vec!["plan", "-vvv", "--version", &v[1]],
        vec!["drift", "-vvv"],
        vec!["details", "-vvv"],
    ] {
        evidence.run(&deployment.gantry(&args));
    }
    let everything = deployment
        .background(&["details"], &[("GANTRY_LOG", "trace")])
        .wait(std::time::Duration::from_secs(120));
    assert!(everything.stderr.contains("TRACE"), "{}", everything.stderr);
    evidence.run(&everything);
    let leaks = evidence.leaks(&secrets);
    assert!(
        leaks.is_empty(),
        "secret values in verbose logs: {leaks:#?}"
    );
    eprintln!(
        "{} verbose runs scanned for 2 secret values: none found",
        evidence.texts.len()
    );
}

/// The scan itself can fail: a planted value is found.
/// A lock whose details carry a window-title escape, a clipboard write (OSC 52) and a screen
/// clear: `lock status` and a refused `apply` show them as text, and no ESC byte reaches
/// stdout or stderr (#15).
#[test]
fn escape_sequences_from_a_host_never_reach_the_terminal() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let deployment = Deployment::new(&testbed, SERVICE, 1, |_| {});
    let v = deployment.versions(&["esc1"]);
    let host = deployment.hosts[0].clone();
    let details = "Locked by: evil\u{1b}]0;pwned\u{7} at 2026-01-01T00:00:00Z\n\
                   Version: v\u{1b}]52;c;ZXZpbA==\u{7}\nMessage: hold\u{1b}[2J\u{1b}[H";
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(details)
    };
    testbed.run_ok(
        &host,
        &format!(
            "mkdir -p .kamal/lock-{SERVICE} && echo {encoded} > .kamal/lock-{SERVICE}/details"
        ),
    );
    let status = deployment.gantry(&["lock", "status"]);
    status.assert_code(0);
    let refused = deployment.gantry(&["apply", "-y", "--version", &v[0]]);
    refused.assert_code(1);
    testbed.run_ok(&host, &format!("rm -rf .kamal/lock-{SERVICE}"));
    for run in [&status, &refused] {
        let output = format!("{}\n{}", run.stdout, run.stderr);
        assert!(
            !output.contains('\u{1b}'),
            "an ESC byte was printed: {output:?}"
        );
        assert!(
            !output.contains('\u{7}'),
            "a BEL byte was printed: {output:?}"
        );
    }
    assert!(
        status.stdout.contains("evil\\u{1b}]0;pwned\\u{7}"),
        "{}",
        status.stdout
    );
    assert!(
        refused.stderr.contains("hold\\u{1b}[2J"),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_scan_finds_a_planted_secret() {
    let mut evidence = Evidence::default();
    evidence.add("clean", "nothing here".into());
    assert!(evidence.leaks(&["s3cret"]).is_empty());
    evidence.add("dirty", "value: s3cret".into());
    assert_eq!(evidence.leaks(&["s3cret"]), ["\"s3cret\" in dirty"]);
}
