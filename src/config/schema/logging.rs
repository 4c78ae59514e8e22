//! `logging:` (Kamal's `docs/logging.yml`), at the root and per role.

use super::{Section, Shape, field};

/// Docker's log driver and its options.
pub static LOGGING: Section = Section {
    extensions: false,
    fields: &[
        field("driver", Shape::Text),
        field("options", Shape::AnyHash),
    ],
};
