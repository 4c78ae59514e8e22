//! Accessory files and directories, and volumes the host's shell would expand (issue 12, items 4
//! and 6), deployed from one deploy.yml by the real Kamal 2.11 and by gantry on clean hosts: the
//! hosts must hold the same bytes, modes, owners, directories and container mounts afterwards,
//! and gantry must read what Kamal left as "no changes".

use std::fs;
use std::path::Path;
use std::time::Duration;

use gantry_testsupport::Testbed;
use gantry_testsupport::gantry::{self, GantryRun};
use gantry_testsupport::kamal::{KamalApp, KamalProject};

const SERVICE: &str = "gantry-accfiles";
const KAMAL_TIMEOUT: Duration = Duration::from_secs(300);
const DB_PASSWORD: &str = "acc-s3cret-'pw'";
/// An absolute directory: Kamal creates it outside the home directory.
const ABSOLUTE_DIR: &str = "/srv/gantry-accfiles/data";

/// An init script as a MySQL or Postgres image would run it, reading the accessory's env.
const TEMPLATE: &str = "CREATE USER app IDENTIFIED BY '<%= ENV[\"DB_PASSWORD\"] %>';\n\
                        -- greeting: <%= ENV[\"GREETING\"] %>\n";

/// Bytes that are not UTF-8: a file read as text would come out changed.
const BINARY: &[u8] = &[
    0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe, 0x80,
];

fn gantry(project: &KamalProject, args: &[&str]) -> GantryRun {
    gantry::run(Path::new(env!("CARGO_BIN_EXE_gantry")), project.dir(), args)
}

fn project(testbed: &Testbed, host: &str) -> KamalProject {
    let busybox = format!("{}/testbed/busybox:latest", testbed.registry);
    let mut app = KamalApp::testapp(&[host.to_string()]);
    app.service = SERVICE.to_string();
    app.secret_env = vec![("DB_PASSWORD".into(), DB_PASSWORD.into())];
    app.extra_yaml = format!(
        "volumes:\n  - \"~/storage:/rails/storage\"\n  - \"$HOME/shared:/shared\"\n\
         accessories:\n  db:\n    image: {busybox}\n    host: {host}\n    cmd: sleep 86400\n\
         \x20   env:\n      clear:\n        GREETING: hello\n      secret:\n        - DB_PASSWORD\n\
         \x20   files:\n      - config/init.sql.erb:/docker-entrypoint-initdb.d/init.sql\n\
         \x20     - local: config/logo.bin\n        remote: /srv/logo.bin\n        mode: \"0640\"\n\
         \x20       owner: \"1234:1234\"\n\
         \x20   directories:\n      - local: {ABSOLUTE_DIR}\n        remote: /var/lib/data\n\
         \x20       mode: \"0700\"\n        owner: \"999:999\"\n      - cache:/cache\n\
         \x20   volumes:\n      - \"~/db-backups:/backups\"\n      - \"${{HOME}}/db-logs:/logs\"\n"
    );
    let project = KamalProject::create(testbed, app);
    let config = project.dir().join("config");
    fs::write(config.join("init.sql.erb"), TEMPLATE).unwrap();
    fs::write(config.join("logo.bin"), BINARY).unwrap();
    project
}

/// What the host holds: files' checksums, modes and owners, the directories, and every mount of
/// the accessory and the app container.
fn snapshot(testbed: &Testbed, host: &str, version: &str) -> String {
    let script = format!(
        "cd ~ && for path in {SERVICE}-db/docker-entrypoint-initdb.d/init.sql {SERVICE}-db/srv/logo.bin \
         {ABSOLUTE_DIR} {SERVICE}-db/cache storage shared db-backups db-logs; do \
         if [ -e \"$path\" ]; then echo \"$path $(stat -c '%F %a %u:%g' \"$path\") \
         $( [ -f \"$path\" ] && sha256sum < \"$path\" | cut -c1-16)\"; else echo \"$path missing\"; fi; done; \
         for container in {SERVICE}-db {SERVICE}-web-{version}; do \
         echo \"$container $(docker inspect --format '{{{{.State.Status}}}}' \"$container\") \
         $(docker inspect --format '{{{{range .Mounts}}}}{{{{.Source}}}}:{{{{.Destination}}}}:{{{{.RW}}}} {{{{end}}}}' \"$container\" | tr ' ' '\\n' | sort | tr '\\n' ' ')\"; done"
    );
    testbed.run_ok(host, &script).trim().to_string()
}

fn clean(testbed: &Testbed, host: &str) {
    testbed.run_ok(host, "rm -rf /srv/gantry-accfiles");
}

#[test]
fn accessory_files_directories_and_home_volumes_match_kamal() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let _exclusive = testbed.exclusive_clean();
    let host = testbed.host(1).to_string();
    clean(&testbed, &host);
    let version = testbed.push_versions(SERVICE, &["files"]).remove(0);
    let project = project(&testbed, &host);

    project.setup(&version, KAMAL_TIMEOUT).assert_success();
    let by_kamal = snapshot(&testbed, &host, &version);
    let rendered = testbed.run_ok(
        &host,
        &format!("cat {SERVICE}-db/docker-entrypoint-initdb.d/init.sql"),
    );
    assert_eq!(
        rendered,
        format!("CREATE USER app IDENTIFIED BY '{DB_PASSWORD}';\n-- greeting: hello\n"),
        "Kamal rendered the template"
    );
    // gantry reads what Kamal left (rendered file included) as no changes.
    let plan = gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &version],
    );
    plan.assert_code(0);
    assert!(!plan.stdout.contains(DB_PASSWORD), "{}", plan.stdout);

    drop(_exclusive);
    let _exclusive = testbed.exclusive_clean();
    clean(&testbed, &host);
    let apply = gantry(&project, &["apply", "-y", "--version", &version]);
    apply.assert_code(0);
    for text in [&apply.stdout, &apply.stderr] {
        assert!(!text.contains(DB_PASSWORD), "the secret leaked:\n{text}");
    }
    let by_gantry = snapshot(&testbed, &host, &version);
    eprintln!("what the host holds:\n{by_gantry}");
    assert_eq!(by_gantry, by_kamal, "gantry and Kamal left the same host");
    assert_eq!(
        testbed.run_ok(
            &host,
            &format!("cat {SERVICE}-db/docker-entrypoint-initdb.d/init.sql")
        ),
        rendered
    );
    let binary = testbed.run_ok(&host, &format!("od -An -tx1 {SERVICE}-db/srv/logo.bin"));
    assert_eq!(
        binary.split_whitespace().collect::<Vec<_>>().join(""),
        "89504e470d0a1a0a00fffe80",
        "the binary file arrived intact"
    );
    assert!(
        by_gantry.contains(&format!("{ABSOLUTE_DIR} directory 700 999:999")),
        "{by_gantry}"
    );
    assert!(
        by_gantry.contains("/root/storage:/rails/storage:true"),
        "{by_gantry}"
    );
    gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &version],
    )
    .assert_code(0);

    // Kamal takes over what gantry left: it uploads the same files again and deploys, and
    // gantry still reads the hosts as no changes.
    project
        .run(
            &["accessory", "boot", "all", "--version", &version],
            KAMAL_TIMEOUT,
        )
        .assert_success();
    project.deploy(&version, KAMAL_TIMEOUT).assert_success();
    assert_eq!(
        snapshot(&testbed, &host, &version),
        by_kamal,
        "Kamal over gantry leaves what Kamal alone leaves"
    );
    gantry(
        &project,
        &["plan", "--detailed-exitcode", "--version", &version],
    )
    .assert_code(0);
    clean(&testbed, &host);
}
