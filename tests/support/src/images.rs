//! The test app image, built and pushed with the machine's Docker (the deployer's side).
//!
//! `docker build` of `tests/testbed/testapp` (FROM `testbed/busybox`, which `testbed.sh images`
//! imports) with the `service` label Kamal checks and a version the app reports, then a push to
//! the test bed registry, where the hosts pull it from.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::testbed::Testbed;

/// The test app's Dockerfile directory in this repository.
pub fn testapp_context() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testbed/testapp")
}

fn docker(args: &[&str], stdin: Option<&str>) {
    use std::io::Write;
    use std::process::Stdio;
    let mut command = Command::new("docker");
    command
        .args(args)
        .env("DOCKER_BUILDKIT", "0")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("running docker {args:?}: {error}"));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .unwrap_or_else(|error| panic!("writing to docker {args:?}: {error}"));
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|error| panic!("waiting for docker {args:?}: {error}"));
    assert!(
        output.status.success(),
        "docker {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Testbed {
    /// Pushes the test app for `service` as versions `<name>-<seconds since the epoch>-<process
    /// id>-<call>`: names no earlier run of a test has used, so every run deploys versions the
    /// hosts never saw. Tests running at once (threads of one test binary, or binaries started
    /// within the same second) never share a tag: the image's `service` label differs per test.
    pub fn push_versions(&self, service: &str, names: &[&str]) -> Vec<String> {
        static CALLS: AtomicU32 = AtomicU32::new(0);
        let seconds = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let call = CALLS.fetch_add(1, Ordering::SeqCst);
        let stamp = format!("{seconds}-{}-{call}", std::process::id());
        names
            .iter()
            .map(|name| {
                let version = format!("{name}-{stamp}");
                self.push_testapp(&version, service);
                version
            })
            .collect()
    }

    /// Builds the test app as `<registry>/gantry-testapp:<version>` labelled `service=<service>`,
    /// pushes it, and returns the image reference.
    pub fn push_testapp(&self, version: &str, service: &str) -> String {
        let image = format!("{}:{version}", self.testapp_image);
        let context = testapp_context();
        docker(
            &[
                "build",
                "--quiet",
                "--build-arg",
                &format!("SERVICE={service}"),
                "--build-arg",
                &format!("VERSION={version}"),
                "--tag",
                &image,
                &context.display().to_string(),
            ],
            None,
        );
        docker(
            &[
                "login",
                "--username",
                &self.registry_user,
                "--password-stdin",
                &self.registry,
            ],
            Some(&self.registry_password),
        );
        docker(&["push", "--quiet", &image], None);
        image
    }

    /// Pushes the test app for `service` as a fresh version (named as by
    /// [`Testbed::push_versions`]) with one more layer of `bytes` random bytes, which no
    /// compression shrinks: a pull that takes a while on a throttled host.
    pub fn push_version_with_ballast(&self, service: &str, name: &str, bytes: usize) -> String {
        let version = self.push_versions(service, &[name]).remove(0);
        let image = format!("{}:{version}", self.testapp_image);
        let dockerfile = format!("FROM {image}\nRUN head -c {bytes} /dev/urandom > /app/ballast\n");
        docker(
            &["build", "--quiet", "--tag", &image, "-"],
            Some(&dockerfile),
        );
        docker(&["push", "--quiet", &image], None);
        version
    }

    /// Pushes the test app image of version `from` again under the tag `to`: the registry's
    /// `to` now names another image, as after a `--version staging` deploy of new code.
    pub fn push_testapp_as(&self, from: &str, to: &str) {
        let source = format!("{}:{from}", self.testapp_image);
        let target = format!("{}:{to}", self.testapp_image);
        docker(&["tag", &source, &target], None);
        docker(&["push", "--quiet", &target], None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_testapp_context_has_a_dockerfile() {
        let dockerfile = std::fs::read_to_string(testapp_context().join("Dockerfile")).unwrap();
        assert!(dockerfile.contains("LABEL service=$SERVICE"));
        assert!(dockerfile.contains("FROM testbed/busybox"));
    }
}

/// Loads kamal-proxy's image again on test bed hosts (by number) when dropped: a test that
/// removes the proxy with its image, as Kamal does, leaves the hosts as it found them (the test
/// bed cannot pull the image).
pub struct ReloadProxyImage<'a> {
    pub testbed: &'a Testbed,
    pub hosts: Vec<usize>,
}

impl Drop for ReloadProxyImage<'_> {
    fn drop(&mut self) {
        for host in &self.hosts {
            let script = format!(
                "docker save basecamp/kamal-proxy:v0.9.2 | {} ssh {host} docker load -q",
                self.testbed.script.display()
            );
            let status = Command::new("sh")
                .args(["-c", &script])
                .env("TESTBED_DIR", &self.testbed.dir)
                .stdout(std::process::Stdio::null())
                .status();
            assert!(
                status.is_ok_and(|status| status.success()),
                "reloading the proxy image on host {host}"
            );
        }
    }
}
