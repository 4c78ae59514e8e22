//! Directory trees in the fake's memory: what asset bridging does to a host's files.

use crate::host::DirectoryMerge;
use crate::testkit::fake_host::Engine;

impl Engine {
    /// The fake's images hold no files: the extracted directory gets one file named after the
    /// image (`/` and `:` as `_`, the reference inside), so merges of two versions can be told
    /// apart.
    pub(super) fn extract_image_directory(
        &mut self,
        image: &str,
        source_path: &str,
        destination: &str,
    ) -> Result<(), String> {
        let present = self
            .images
            .values()
            .any(|details| details.repo_tags.iter().any(|tag| tag == image));
        if !present {
            return Err(format!("No such image: {image} ({source_path})"));
        }
        self.directories.insert(destination.to_string());
        let file = format!("{destination}/{}", image.replace(['/', ':'], "_"));
        self.files.insert(file, (image.as_bytes().to_vec(), 0o644));
        Ok(())
    }

    /// Each merge in order, keeping files the destination has; a missing source fails a
    /// required merge and skips the others.
    pub(super) fn merge_directories(&mut self, merges: &[DirectoryMerge]) -> Result<(), String> {
        for merge in merges {
            if !self.directories.contains(&merge.source) {
                if merge.required {
                    return Err(format!("cp: cannot stat '{}'", merge.source));
                }
                continue;
            }
            let prefix = format!("{}/", merge.source);
            let copies: Vec<(String, (Vec<u8>, u32))> = self
                .files
                .iter()
                .filter_map(|(path, file)| {
                    let rest = path.strip_prefix(&prefix)?;
                    Some((format!("{}/{rest}", merge.destination), file.clone()))
                })
                .collect();
            self.directories.insert(merge.destination.clone());
            for (path, file) in copies {
                self.files.entry(path).or_insert(file);
            }
        }
        Ok(())
    }

    /// Removes `directory/<prefix>*` but `directory/<keep>`, files and directories alike.
    pub(super) fn remove_other_entries(&mut self, directory: &str, prefix: &str, keep: &str) {
        let under = format!("{}/", directory.trim_end_matches('/'));
        let doomed = |path: &str| {
            path.strip_prefix(&under)
                .and_then(|rest| rest.split('/').next())
                .is_some_and(|entry| entry.starts_with(prefix) && entry != keep)
        };
        self.files.retain(|path, _| !doomed(path));
        self.directories.retain(|path| !doomed(path));
    }
}
