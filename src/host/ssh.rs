//! The SSH host: one connection per host, the Docker Engine API over it.
