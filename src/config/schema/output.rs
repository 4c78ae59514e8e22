//! `output:` (Kamal 2.12): where Kamal ships its own logs; gantry keeps it for `gantry config`.

use super::{Field, Section, Shape};

/// `output.otel.endpoint` and `output.file.path`.
pub static OUTPUT: Section = Section {
    extensions: false,
    fields: &[
        Field { key: "otel", shape: Shape::Section(&OTEL) },
        Field { key: "file", shape: Shape::Section(&FILE) },
    ],
};

static OTEL: Section = Section {
    extensions: false,
    fields: &[Field { key: "endpoint", shape: Shape::Text }],
};

static FILE: Section = Section {
    extensions: false,
    fields: &[Field { key: "path", shape: Shape::Text }],
};
