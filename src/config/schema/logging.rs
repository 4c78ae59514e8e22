//! `logging:` (Kamal's `docs/logging.yml`), at the root and per role.

use super::{Field, Section, Shape};

/// Docker's log driver and its options.
pub static LOGGING: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "driver", shape: Shape::Text },
        Field { key: "options", shape: Shape::AnyHash },
    ],
};
