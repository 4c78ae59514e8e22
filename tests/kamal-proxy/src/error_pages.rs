//! A service's custom error pages (`deploy --error-pages DIR`), as kamal-proxy v0.9.2 loads and
//! serves them: every `*.html` of the directory is read at deploy (a directory that is missing or
//! holds no `.html` file refuses the deploy: "unable to load error pages"), and an error the proxy
//! itself answers with (502, 503, 504, ...) is served from `<status>.html` when there is one.
//! The target's own error answers pass through untouched. kamal-proxy renders the pages as Go
//! templates; the stand-in serves them as they are.

use std::collections::BTreeMap;
use std::path::Path;

/// The pages of one service, by status code.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ErrorPages {
    pages: BTreeMap<u16, String>,
}

impl ErrorPages {
    /// Reads the `*.html` files of `directory`; `None` when there are none to read.
    pub fn load(directory: &Path) -> Option<ErrorPages> {
        let entries = std::fs::read_dir(directory).ok()?;
        let mut found_html = false;
        let mut pages = BTreeMap::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".html") else {
                continue;
            };
            let contents = std::fs::read_to_string(entry.path()).ok()?;
            found_html = true;
            if let Ok(status) = stem.parse::<u16>() {
                pages.insert(status, contents);
            }
        }
        found_html.then_some(ErrorPages { pages })
    }

    /// The page for `status`, when the directory has one.
    pub fn page(&self, status: u16) -> Option<&str> {
        self.pages.get(&status).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_found_by_status_and_a_directory_without_html_is_refused() {
        let directory = std::env::temp_dir().join(format!("error-pages-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        std::fs::write(directory.join("502.html"), "<h1>custom 502</h1>").unwrap();
        std::fs::write(directory.join("5xx.html"), "unused").unwrap();
        std::fs::write(directory.join("notes.txt"), "ignored").unwrap();
        let pages = ErrorPages::load(&directory).unwrap();
        assert_eq!(pages.page(502), Some("<h1>custom 502</h1>"));
        assert_eq!(pages.page(503), None);

        let empty = directory.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert_eq!(ErrorPages::load(&empty), None);
        assert_eq!(ErrorPages::load(&directory.join("missing")), None);
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
