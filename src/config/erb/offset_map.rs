//! Where each byte of rendered text came from in the original file.
//!
//! Text copied from the template maps byte for byte; text a tag produced maps to the whole
//! tag, so a YAML error in a value from `ENV` points at its `<%= %>`. Text rendered by Ruby
//! maps line by line, which is the best that can be known from outside Ruby.

/// One stretch of rendered text and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Segment {
    rendered: usize,
    rendered_len: usize,
    original: usize,
    original_len: usize,
    /// Copied byte for byte (offsets map linearly), or produced by a tag.
    copied: bool,
}

/// Maps byte offsets in rendered text back to the original file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OffsetMap {
    segments: Vec<Segment>,
    original_len: usize,
}

impl OffsetMap {
    /// An empty map for a template of `original_len` bytes.
    pub(super) fn new(original_len: usize) -> Self {
        OffsetMap {
            segments: Vec::new(),
            original_len,
        }
    }

    /// Maps each line of `rendered` to the line with the same number in `original` (the last
    /// line when the rendering is longer): how text that Ruby rendered is pointed at.
    pub(super) fn by_line(original: &str, rendered: &str) -> Self {
        let line_starts = |text: &str| -> Vec<(usize, usize)> {
            let mut lines = Vec::new();
            let mut start = 0;
            for line in text.split_inclusive('\n') {
                lines.push((start, line.trim_end_matches(['\n', '\r']).len()));
                start += line.len();
            }
            lines
        };
        let originals = line_starts(original);
        let mut map = OffsetMap::new(original.len());
        let mut rendered_offset = 0;
        for (index, line) in rendered.split_inclusive('\n').enumerate() {
            let (offset, len) = originals
                .get(index)
                .or(originals.last())
                .copied()
                .unwrap_or((0, 0));
            map.push(rendered_offset, line.len(), offset, len, false);
            rendered_offset += line.len();
        }
        map
    }

    /// The identity map of a text that had no ERB.
    pub fn identity(len: usize) -> Self {
        OffsetMap {
            segments: vec![Segment {
                rendered: 0,
                rendered_len: len,
                original: 0,
                original_len: len,
                copied: true,
            }],
            original_len: len,
        }
    }

    /// The original (offset, len) of a rendered range. A range that starts inside a tag's output
    /// maps to the whole tag.
    pub fn to_original(&self, offset: usize, len: usize) -> (usize, usize) {
        let index = self
            .segments
            .partition_point(|segment| segment.rendered <= offset)
            .saturating_sub(1);
        let Some(segment) = self.segments.get(index) else {
            return (self.original_len, 0);
        };
        if !segment.copied {
            return (segment.original, segment.original_len);
        }
        let start = segment.original
            + offset
                .saturating_sub(segment.rendered)
                .min(segment.rendered_len);
        let end_in_segment = (offset + len).min(segment.rendered + segment.rendered_len);
        let end = segment.original + (end_in_segment - segment.rendered);
        (start, end.saturating_sub(start))
    }

    pub(super) fn push(
        &mut self,
        rendered: usize,
        rendered_len: usize,
        original: usize,
        original_len: usize,
        copied: bool,
    ) {
        if rendered_len == 0 && original_len == 0 {
            return;
        }
        self.segments.push(Segment {
            rendered,
            rendered_len,
            original,
            original_len,
            copied,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_output_maps_line_by_line() {
        let original = "a: <%= x %>\nb: 2\n";
        let rendered = "a: 1\nb: 2\nc: 3\n";
        let map = OffsetMap::by_line(original, rendered);
        assert_eq!(map.to_original(6, 1), (12, 4));
        // A line beyond the original's end points at its last line.
        assert_eq!(map.to_original(10, 2), (12, 4));
        assert_eq!(map.to_original(0, 1), (0, 11));
    }
}
