//! `builder:` (Kamal's `docs/builder.yml`): how the image is built (local side only).

use super::{Section, Shape, field};
use crate::config::diagnostic::Problems;
use crate::config::node::Node;

/// The build settings.
pub static BUILDER: Section = Section {
    extensions: false,
    fields: &[
        field("arch", Shape::Custom(check_arch)),
        field("remote", Shape::Text),
        field("local", Shape::Bool),
        field("pack", Shape::Section(&PACK)),
        field("cache", Shape::Section(&CACHE)),
        field("context", Shape::Text),
        field("dockerfile", Shape::Text),
        field("target", Shape::Text),
        field("args", Shape::AnyHash),
        field("secrets", Shape::TextList),
        field("ssh", Shape::Text),
        field("driver", Shape::Text),
        field("provenance", Shape::Text),
        field("sbom", Shape::Text),
    ],
};

static PACK: Section = Section {
    extensions: false,
    fields: &[
        field("builder", Shape::Text),
        field("buildpacks", Shape::TextList),
    ],
};

static CACHE: Section = Section {
    extensions: false,
    fields: &[
        field("type", Shape::Text),
        field("options", Shape::Text),
        field("image", Shape::Text),
    ],
};

/// `amd64` or `[amd64, arm64]`.
fn check_arch(node: &Node, path: &str, problems: &mut Problems) {
    super::expect_text_or_list(node, path, problems);
}
