//! `output:` (Kamal 2.12): where Kamal ships its own logs; gantry keeps it for `gantry config`.

use super::{Section, Shape, field};

/// `output.otel.endpoint` and `output.file.path`.
pub static OUTPUT: Section = Section {
    extensions: false,
    fields: &[
        field("otel", Shape::Section(&OTEL)),
        field("file", Shape::Section(&FILE)),
    ],
};

static OTEL: Section = Section {
    extensions: false,
    fields: &[field("endpoint", Shape::Text)],
};

static FILE: Section = Section {
    extensions: false,
    fields: &[field("path", Shape::Text)],
};
