//! The configuration files as the user wrote them, and positions inside them.
//!
//! Every diagnostic points into the *original* text of a file (before ERB), so a [`Span`] is a
//! file id plus a byte range of that text. [`Sources`] owns the texts and hands out miette
//! `NamedSource`s, one per file, so a destination file's errors point into that file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

/// Which loaded file a [`Span`] points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId(pub(crate) usize);

/// A byte range of one file's original text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub file: FileId,
    pub offset: usize,
    pub len: usize,
}

impl Span {
    /// The miette span of this range (the file is carried separately).
    pub fn source_span(&self) -> SourceSpan {
        SourceSpan::new(self.offset.into(), self.len)
    }
}

/// One file read by the loader.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// The path as given (relative paths stay relative, as the user typed them).
    pub path: PathBuf,
    /// The text before ERB rendering.
    pub text: Arc<str>,
}

/// Every file the loader read, in the order it read them.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Registers a file's text and returns the id spans use to point into it.
    pub fn add(&mut self, path: &Path, text: &str) -> FileId {
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            text: Arc::from(text),
        });
        FileId(self.files.len() - 1)
    }

    /// The file behind an id.
    pub fn file(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0)
    }

    /// All files, in load order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The miette source for a file, named by its path.
    pub fn named_source(&self, id: FileId) -> Option<NamedSource<Arc<str>>> {
        self.file(id).map(|file| {
            NamedSource::new(file.path.display().to_string(), Arc::clone(&file.text))
                .with_language("yaml")
        })
    }

    /// 1-based line and column of a span's start, for plain-text reports.
    pub fn line_column(&self, span: Span) -> Option<(usize, usize)> {
        let file = self.file(span.file)?;
        let before = file.text.get(..span.offset.min(file.text.len()))?;
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map_or(0, |tail| tail.chars().count())
            + 1;
        Some((line, column))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let mut sources = Sources::default();
        let id = sources.add(Path::new("deploy.yml"), "a: 1\nbb: 2\n");
        let span = Span {
            file: id,
            offset: 5,
            len: 2,
        };
        assert_eq!(sources.line_column(span), Some((2, 1)));
        let span = Span {
            file: id,
            offset: 9,
            len: 1,
        };
        assert_eq!(sources.line_column(span), Some((2, 5)));
    }
}
