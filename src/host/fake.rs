//! The in-memory host.
