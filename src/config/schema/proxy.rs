//! `proxy:` (Kamal's `docs/proxy.yml`): deploy-time kamal-proxy options and `proxy.run`.

use super::{Section, Shape, field};
use crate::config::diagnostic::Problems;
use crate::config::node::Node;

/// The app's proxy settings (root, role and accessory).
pub static PROXY: Section = Section {
    extensions: false,
    fields: &[
        field("host", Shape::Text),
        field("hosts", Shape::TextList),
        field("app_port", Shape::Integer),
        field("ssl", Shape::Custom(check_ssl)),
        field("ssl_redirect", Shape::Bool),
        field("forward_headers", Shape::Bool),
        field("response_timeout", Shape::Seconds),
        field("path_prefix", Shape::Text),
        field("path_prefixes", Shape::TextList),
        field("strip_path_prefix", Shape::Bool),
        field("healthcheck", Shape::Section(&HEALTHCHECK)),
        field("buffering", Shape::Section(&BUFFERING)),
        field("logging", Shape::Section(&LOGGING)),
        field("run", Shape::Section(&RUN)),
    ],
};

static HEALTHCHECK: Section = Section {
    extensions: false,
    fields: &[
        field("interval", Shape::Seconds),
        field("path", Shape::Text),
        field("timeout", Shape::Seconds),
    ],
};

static BUFFERING: Section = Section {
    extensions: false,
    fields: &[
        field("requests", Shape::Bool),
        field("responses", Shape::Bool),
        field("max_request_body", Shape::Bytes),
        field("max_response_body", Shape::Bytes),
        field("memory", Shape::Bytes),
    ],
};

static LOGGING: Section = Section {
    extensions: false,
    fields: &[
        field("request_headers", Shape::TextList),
        field("response_headers", Shape::TextList),
    ],
};

/// `proxy.run`: how the kamal-proxy container boots (Kamal 2.10+).
static RUN: Section = Section {
    extensions: false,
    fields: &[
        field("http_port", Shape::Integer),
        field("https_port", Shape::Integer),
        field("metrics_port", Shape::Integer),
        field("debug", Shape::Bool),
        field("log_max_size", Shape::Text),
        field("publish", Shape::Bool),
        field("bind_ips", Shape::TextList),
        field("registry", Shape::Text),
        field("repository", Shape::Text),
        field("version", Shape::Text),
        field("options", Shape::AnyHash),
    ],
};

static CUSTOM_SSL: Section = Section {
    extensions: false,
    fields: &[
        field("certificate_pem", Shape::Text),
        field("private_key_pem", Shape::Text),
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
