//! `builder:` (Kamal's `docs/builder.yml`): how the image is built (local side only).

use super::{Field, Section, Shape};
use crate::config::diagnostic::Problems;
use crate::config::node::Node;

/// The build settings.
pub static BUILDER: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "arch", shape: Shape::Custom(check_arch) },
        Field { key: "remote", shape: Shape::Text },
        Field { key: "local", shape: Shape::Bool },
        Field { key: "pack", shape: Shape::Section(&PACK) },
        Field { key: "cache", shape: Shape::Section(&CACHE) },
        Field { key: "context", shape: Shape::Text },
        Field { key: "dockerfile", shape: Shape::Text },
        Field { key: "target", shape: Shape::Text },
        Field { key: "args", shape: Shape::AnyHash },
        Field { key: "secrets", shape: Shape::TextList },
        Field { key: "ssh", shape: Shape::Text },
        Field { key: "driver", shape: Shape::Text },
        Field { key: "provenance", shape: Shape::Text },
        Field { key: "sbom", shape: Shape::Text },
    ],
};

static PACK: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "builder", shape: Shape::Text },
        Field { key: "buildpacks", shape: Shape::TextList },
    ],
};

static CACHE: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "type", shape: Shape::Text },
        Field { key: "options", shape: Shape::Text },
        Field { key: "image", shape: Shape::Text },
    ],
};

/// `amd64` or `[amd64, arm64]`.
fn check_arch(node: &Node, path: &str, problems: &mut Problems) {
    super::expect_text_or_list(node, path, problems);
}
