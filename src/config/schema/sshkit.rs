//! `sshkit:` (Kamal's `docs/sshkit.yml`): connection pool tuning.

use super::{Field, Section, Shape};

/// SSHKit's pool and DNS settings.
pub static SSHKIT: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "max_concurrent_starts", shape: Shape::Integer },
        Field { key: "pool_idle_timeout", shape: Shape::Integer },
        Field { key: "dns_retries", shape: Shape::Integer },
    ],
};
