//! The binary people download runs on a machine without any library: the statically linked
//! release build (`GANTRY_STATIC_BIN`, built by `.ci/run` with `-C target-feature=+crt-static`)
//! is put alone in an empty image (`FROM scratch` plus the binary) on a test host, where
//! `gantry plan --help` must run. `ldd` must call it not dynamic.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use gantry_testsupport::Testbed;

/// The static binary to check, or `None` (and a note) when this run did not build one.
fn static_binary() -> Option<PathBuf> {
    match std::env::var_os("GANTRY_STATIC_BIN") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var_os("GANTRY_REQUIRE_TESTBED").is_some() => panic!(
            "GANTRY_STATIC_BIN is not set: build the static binary (see .ci/run) and name it there"
        ),
        None => {
            eprintln!("GANTRY_STATIC_BIN is not set: skipping the static binary test");
            None
        }
    }
}

#[test]
fn the_static_binary_runs_alone_in_an_empty_container() {
    let Some(testbed) = Testbed::require() else {
        return;
    };
    let Some(binary) = static_binary() else {
        return;
    };
    let ldd = Command::new("ldd").arg(&binary).output().expect("ldd runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ldd.stdout),
        String::from_utf8_lossy(&ldd.stderr)
    );
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "ldd lists libraries: {said}"
    );

    // A root filesystem with nothing but /gantry, imported as an image: `FROM scratch` + binary.
    // The bytes under a plain header: a freshly linked file can be sparse on disk, and a GNU
    // sparse entry is one `docker import` refuses ("unhandled tar header type 83").
    let bytes = std::fs::read(&binary).expect("the binary reads");
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    let mut layer = tar::Builder::new(Vec::new());
    layer
        .append_data(&mut header, "gantry", bytes.as_slice())
        .expect("the binary goes in the layer");
    let layer = layer.into_inner().expect("the layer is written");
    let host = testbed.host(1).to_string();
    let image = "gantry-static-test:latest";
    let mut import = testbed
        .ssh_command(&host)
        .arg(format!("docker import - {image}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh runs");
    import
        .stdin
        .take()
        .expect("stdin")
        .write_all(&layer)
        .expect("the layer is sent");
    let imported = import.wait_with_output().expect("docker import ends");
    assert!(
        imported.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&imported.stderr)
    );

    let listed = testbed.run_ok(
        &host,
        &format!("docker image inspect -f '{{{{len .RootFS.Layers}}}}' {image}"),
    );
    assert_eq!(listed.trim(), "1", "one layer: the binary alone");
    let help = testbed.run_on(
        &host,
        &format!("docker run --rm {image} /gantry plan --help"),
    );
    testbed.run_ok(&host, &format!("docker rmi -f {image} >/dev/null"));
    assert!(help.success, "{}{}", help.stdout, help.stderr);
    assert!(
        help.stdout.contains("Usage: gantry plan"),
        "{}",
        help.stdout
    );
    assert!(help.stdout.contains("--graph"), "{}", help.stdout);
}
