//! Commands on test bed hosts through the system `ssh` client, with the test bed's key and
//! known_hosts (strict host key checking: a host whose key changed is an error, never trusted).

use std::process::{Command, Output};

use crate::testbed::Testbed;

/// What a remote command printed and how it ended.
#[derive(Clone, Debug)]
pub struct RemoteOutput {
    /// Exit status 0 (ssh itself failing counts as failure).
    pub success: bool,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded (ssh's own errors included).
    pub stderr: String,
}

impl From<Output> for RemoteOutput {
    fn from(output: Output) -> Self {
        RemoteOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Testbed {
    /// `ssh` options for this test bed: its key only, its known_hosts, no prompts, a short
    /// connect timeout.
    pub fn ssh_options(&self) -> Vec<String> {
        [
            "-F",
            "none",
            "-i",
            &self.ssh_key.display().to_string(),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            &format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=3",
            "-o",
            "LogLevel=ERROR",
        ]
        .iter()
        .map(|option| option.to_string())
        .collect()
    }

    /// An `ssh` command for `host` (an address), ready for arguments or a remote command.
    pub fn ssh_command(&self, host: &str) -> Command {
        let mut command = Command::new("ssh");
        command
            .args(self.ssh_options())
            .arg(format!("{}@{host}", self.ssh_user));
        command
    }

    /// Runs `script` with `sh -c` on `host` (an address).
    pub fn run_on(&self, host: &str, script: &str) -> RemoteOutput {
        self.ssh_command(host)
            .arg(script)
            .output()
            .unwrap_or_else(|error| panic!("running ssh: {error}"))
            .into()
    }

    /// Runs `script` on `host` and returns its stdout; panics with its stderr on failure.
    pub fn run_ok(&self, host: &str, script: &str) -> String {
        let output = self.run_on(host, script);
        assert!(
            output.success,
            "`{script}` failed on {host}:\n{}{}",
            output.stdout, output.stderr
        );
        output.stdout
    }

    /// Logs the host's Docker in to the test bed registry.
    pub fn docker_login(&self, host: &str) {
        let script = format!(
            "printf '%s' '{}' | docker login -u '{}' --password-stdin {} >/dev/null",
            self.registry_password, self.registry_user, self.registry
        );
        self.run_ok(host, &script);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;

    #[test]
    fn ssh_trusts_only_the_test_bed_known_hosts() {
        let testbed = Testbed {
            hosts: vec!["10.77.0.11".into()],
            ssh_user: "root".into(),
            ssh_key: PathBuf::from("/tb/id_ed25519"),
            known_hosts: PathBuf::from("/tb/known_hosts"),
            registry: "10.77.0.1:5000".into(),
            registry_user: "deployer".into(),
            registry_password: "pw".into(),
            testapp_image: "10.77.0.1:5000/gantry-testapp".into(),
            no_streamlocal_hosts: vec![],
            script: PathBuf::from("/repo/tests/testbed/testbed.sh"),
            dir: PathBuf::from("/tb"),
            latency: Duration::ZERO,
            session_cost: Duration::ZERO,
        };
        let command = testbed.ssh_command("10.77.0.11");
        let args: Vec<String> = command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"UserKnownHostsFile=/tb/known_hosts".to_string()));
        assert!(args.contains(&"StrictHostKeyChecking=yes".to_string()));
        assert_eq!(args.last().map(String::as_str), Some("root@10.77.0.11"));
    }
}
