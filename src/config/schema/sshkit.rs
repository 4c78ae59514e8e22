//! `sshkit:` (Kamal's `docs/sshkit.yml`): connection pool tuning.

use super::{Section, Shape, field};

/// SSHKit's pool and DNS settings.
pub static SSHKIT: Section = Section {
    extensions: false,
    fields: &[
        field("max_concurrent_starts", Shape::Integer),
        field("pool_idle_timeout", Shape::Seconds),
        field("dns_retries", Shape::Integer),
    ],
};
