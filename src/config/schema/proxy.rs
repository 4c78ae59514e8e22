//! `proxy:` (Kamal's `docs/proxy.yml`): deploy-time kamal-proxy options and `proxy.run`.

use super::{Field, Section, Shape};
use crate::config::diagnostic::Problems;
use crate::config::node::Node;

/// The app's proxy settings (root, role and accessory).
pub static PROXY: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "host", shape: Shape::Text },
        Field { key: "hosts", shape: Shape::TextList },
        Field { key: "app_port", shape: Shape::Integer },
        Field { key: "ssl", shape: Shape::Custom(check_ssl) },
        Field { key: "ssl_redirect", shape: Shape::Bool },
        Field { key: "forward_headers", shape: Shape::Bool },
        Field { key: "response_timeout", shape: Shape::Integer },
        Field { key: "path_prefix", shape: Shape::Text },
        Field { key: "path_prefixes", shape: Shape::TextList },
        Field { key: "strip_path_prefix", shape: Shape::Bool },
        Field { key: "healthcheck", shape: Shape::Section(&HEALTHCHECK) },
        Field { key: "buffering", shape: Shape::Section(&BUFFERING) },
        Field { key: "logging", shape: Shape::Section(&LOGGING) },
        Field { key: "run", shape: Shape::Section(&RUN) },
    ],
};

static HEALTHCHECK: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "interval", shape: Shape::Integer },
        Field { key: "path", shape: Shape::Text },
        Field { key: "timeout", shape: Shape::Integer },
    ],
};

static BUFFERING: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "requests", shape: Shape::Bool },
        Field { key: "responses", shape: Shape::Bool },
        Field { key: "max_request_body", shape: Shape::Integer },
        Field { key: "max_response_body", shape: Shape::Integer },
        Field { key: "memory", shape: Shape::Integer },
    ],
};

static LOGGING: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "request_headers", shape: Shape::TextList },
        Field { key: "response_headers", shape: Shape::TextList },
    ],
};

/// `proxy.run`: how the kamal-proxy container boots (Kamal 2.10+).
static RUN: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "http_port", shape: Shape::Integer },
        Field { key: "https_port", shape: Shape::Integer },
        Field { key: "metrics_port", shape: Shape::Integer },
        Field { key: "debug", shape: Shape::Bool },
        Field { key: "log_max_size", shape: Shape::Text },
        Field { key: "publish", shape: Shape::Bool },
        Field { key: "bind_ips", shape: Shape::TextList },
        Field { key: "registry", shape: Shape::Text },
        Field { key: "repository", shape: Shape::Text },
        Field { key: "version", shape: Shape::Text },
        Field { key: "options", shape: Shape::AnyHash },
    ],
};

static CUSTOM_SSL: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "certificate_pem", shape: Shape::Text },
        Field { key: "private_key_pem", shape: Shape::Text },
    ],
};

/// The root `proxy`: a hash, or a boolean (which Kamal's validator lets through).
pub fn check_root_proxy(node: &Node, path: &str, problems: &mut Problems) {
    if node.as_bool().is_none() {
        super::check_section(node, &PROXY, path, problems);
    }
}

/// A role's `proxy`: `true`, `false`, or a hash merged over the root proxy.
pub fn check_role_proxy(node: &Node, path: &str, problems: &mut Problems) {
    check_root_proxy(node, path, problems);
}

/// `ssl: true` (Let's Encrypt) or `ssl: {certificate_pem: SECRET, private_key_pem: SECRET}`.
fn check_ssl(node: &Node, path: &str, problems: &mut Problems) {
    if node.as_bool().is_none() {
        if node.as_map().is_some() {
            super::check_section(node, &CUSTOM_SSL, path, problems);
        } else {
            super::wrong_type(node, path, "a boolean or a hash", problems);
        }
    }
}
