//! `--canary`, `--canary-wait`, `--canary-check` and `--no-canary` of `apply` and `deploy`:
//! the canary rollout of this run, from the flags over deploy.yml's `x-gantry: canary:`.

use clap::Args;
use miette::miette;

use crate::config::{Canary, CanaryHosts, Config, DEFAULT_CANARY_WAIT_SECONDS, parse_canary_wait};

/// The canary flags.
#[derive(Clone, Debug, Default, Args)]
pub struct CanaryArgs {
    /// Deploy to these hosts first: a number of hosts, a percentage of them, or host names;
    /// the others follow only if the canaries pass (overrides x-gantry.canary).
    #[arg(long, value_name = "N|N%|HOST[,HOST]", value_parser = parse_hosts)]
    pub canary: Option<CanaryHosts>,
    /// How long the canaries serve before the rest follow, while their containers must stay up
    /// and healthy (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_wait)]
    pub canary_wait: Option<u64>,
    /// A command run here after the wait (KAMAL_HOSTS names the canaries, KAMAL_VERSION the
    /// version); a non-zero exit rolls the canaries back and stops the deploy.
    #[arg(long, value_name = "COMMAND")]
    pub canary_check: Option<String>,
    /// Deploy every host as without a canary, whatever x-gantry.canary says.
    #[arg(long, conflicts_with_all = ["canary", "canary_wait", "canary_check"])]
    pub no_canary: bool,
}

fn parse_hosts(text: &str) -> Result<CanaryHosts, String> {
    CanaryHosts::parse(text).ok_or_else(|| {
        format!("`{text}` is not a number of hosts, a percentage (1% to 100%) or host names")
    })
}

fn parse_wait(text: &str) -> Result<u64, String> {
    parse_canary_wait(text).ok_or_else(|| format!("`{text}` is not a duration (30s, 2m)"))
}

impl CanaryArgs {
    /// The run's canary rollout: the flags over deploy.yml's; named hosts must be hosts of a
    /// role.
    pub fn rollout(&self, config: &Config) -> Result<Option<Canary>, miette::Report> {
        if self.no_canary {
            return Ok(None);
        }
        let default = config.gantry.canary.as_ref();
        let Some(hosts) = self
            .canary
            .clone()
            .or_else(|| default.map(|canary| canary.hosts.clone()))
        else {
            if self.canary_wait.is_some() || self.canary_check.is_some() {
                return Err(miette!(
                    help = "add --canary N, N% or HOST[,HOST], or x-gantry.canary to deploy.yml",
                    "--canary-wait and --canary-check need canary hosts"
                ));
            }
            return Ok(None);
        };
        if let CanaryHosts::Named(names) = &hosts {
            let known: Vec<&str> = config
                .roles
                .iter()
                .flat_map(|role| role.hosts.iter().map(|host| host.host.as_str()))
                .collect();
            if let Some(unknown) = names.iter().find(|name| !known.contains(&name.as_str())) {
                return Err(miette!(
                    help = format!("canary hosts are hosts of a role: {}", known.join(", ")),
                    "--canary: {unknown} is not a host of any role"
                ));
            }
        }
        Ok(Some(Canary {
            hosts,
            wait_seconds: self
                .canary_wait
                .or(default.map(|canary| canary.wait_seconds))
                .unwrap_or(DEFAULT_CANARY_WAIT_SECONDS),
            check: self
                .canary_check
                .clone()
                .or_else(|| default.and_then(|canary| canary.check.clone())),
        }))
    }
}
