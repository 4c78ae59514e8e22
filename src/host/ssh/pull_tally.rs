//! How far a pull has come, read from the progress messages Docker streams while it pulls.
//!
//! Docker sends one message per layer event: `Pulling fs layer`, `Waiting`, `Downloading`
//! (with bytes so far and the layer's size), `Verifying Checksum`, `Download complete`,
//! `Extracting`, `Pull complete`, or `Already exists` for a layer the host has; around them,
//! messages about the image itself (`Pulling from ...` under the tag's id, `Digest: ...` and
//! `Status: ...` without one). [`PullTally`] folds them into one [`PullProgress`];
//! [`PullsUnderWay`] keeps the tally of every pull running on a host, for
//! [`Host::pull_progress`](crate::host::Host::pull_progress).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use crate::host::PullProgress;

/// One layer as the stream has told of it so far.
#[derive(Clone, Copy, Debug, Default)]
struct Layer {
    done: bool,
    downloaded: u64,
    size: u64,
}

/// The layers of one pull, by layer id.
#[derive(Debug, Default)]
pub(super) struct PullTally {
    layers: BTreeMap<String, Layer>,
}

impl PullTally {
    /// Takes one message of the stream: its `id`, `status` and progress detail.
    pub(super) fn record(
        &mut self,
        id: Option<&str>,
        status: Option<&str>,
        current: Option<i64>,
        total: Option<i64>,
    ) {
        let (Some(id), Some(status)) = (id, status) else {
            return;
        };
        // The image's own line (`Pulling from library/app`) carries the tag as its id.
        if status.starts_with("Pulling from") {
            return;
        }
        let layer = self.layers.entry(id.to_string()).or_default();
        let bytes = |value: Option<i64>| value.and_then(|value| u64::try_from(value).ok());
        match status {
            "Downloading" => {
                if let Some(size) = bytes(total) {
                    layer.size = size;
                }
                if let Some(downloaded) = bytes(current) {
                    layer.downloaded = downloaded;
                }
            }
            "Download complete" | "Verifying Checksum" | "Extracting" => {
                layer.downloaded = layer.size;
            }
            "Pull complete" | "Already exists" => {
                layer.downloaded = layer.size;
                layer.done = true;
            }
            _ => {}
        }
    }

    /// The pull so far.
    pub(super) fn progress(&self) -> PullProgress {
        PullProgress {
            layers_done: self.layers.values().filter(|layer| layer.done).count(),
            layers: self.layers.len(),
            bytes_done: self.layers.values().map(|layer| layer.downloaded).sum(),
            bytes: self.layers.values().map(|layer| layer.size).sum(),
        }
    }
}

/// The progress of every pull running on one host, by image reference.
#[derive(Debug, Default)]
pub(super) struct PullsUnderWay(Mutex<HashMap<String, PullProgress>>);

impl PullsUnderWay {
    /// Notes `progress` for the pull of `reference`.
    pub(super) fn update(&self, reference: &str, progress: PullProgress) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(reference.to_string(), progress);
    }

    /// The pull of `reference` is over (done, failed or abandoned).
    pub(super) fn end(&self, reference: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(reference);
    }

    /// The progress of the pull of `reference`, if one runs.
    pub(super) fn get(&self, reference: &str) -> Option<PullProgress> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(reference)
            .copied()
    }
}

/// Ends the entry of one pull when the pull's future ends, however it ends (a timeout or a
/// cancelled run drops it mid-stream).
pub(super) struct PullEntry<'a> {
    pub(super) pulls: &'a PullsUnderWay,
    pub(super) reference: &'a str,
}

impl Drop for PullEntry<'_> {
    fn drop(&mut self) {
        self.pulls.end(self.reference);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages of a pull of a three-layer image whose first layer the host has, as
    /// dockerd 27 sends them.
    #[test]
    fn layers_and_bytes_follow_the_stream() {
        let mut tally = PullTally::default();
        let mut send = |id: Option<&str>, status: &str, current: Option<i64>, total| {
            tally.record(id, Some(status), current, total);
            tally.progress()
        };
        assert_eq!(
            send(Some("v2"), "Pulling from gantry-testapp", None, None),
            PullProgress::default(),
            "the image's own line is no layer"
        );
        send(Some("aaa"), "Already exists", None, None);
        send(Some("bbb"), "Pulling fs layer", None, None);
        let waiting = send(Some("ccc"), "Waiting", None, None);
        assert_eq!(
            waiting,
            PullProgress {
                layers_done: 1,
                layers: 3,
                bytes_done: 0,
                bytes: 0
            }
        );
        send(Some("bbb"), "Downloading", Some(1_000), Some(4_000));
        let both = send(Some("ccc"), "Downloading", Some(500), Some(2_000));
        assert_eq!((both.bytes_done, both.bytes), (1_500, 6_000));
        send(Some("bbb"), "Verifying Checksum", None, None);
        let downloaded = send(Some("bbb"), "Download complete", None, None);
        assert_eq!((downloaded.bytes_done, downloaded.layers_done), (4_500, 1));
        send(Some("bbb"), "Extracting", Some(32_768), Some(4_000));
        let extracted = send(Some("bbb"), "Pull complete", None, None);
        assert_eq!(extracted.layers_done, 2);
        send(Some("ccc"), "Download complete", None, None);
        let done = send(Some("ccc"), "Pull complete", None, None);
        assert_eq!(
            done,
            PullProgress {
                layers_done: 3,
                layers: 3,
                bytes_done: 6_000,
                bytes: 6_000
            }
        );
        tally.record(None, Some("Digest: sha256:0123"), None, None);
        tally.record(
            None,
            Some("Status: Downloaded newer image for app:v2"),
            None,
            None,
        );
        assert_eq!(
            tally.progress(),
            done,
            "lines without a layer id change nothing"
        );
    }

    #[test]
    fn a_pull_leaves_the_host_s_list_however_it_ends() {
        let pulls = PullsUnderWay::default();
        {
            let _entry = PullEntry {
                pulls: &pulls,
                reference: "app:v2",
            };
            pulls.update(
                "app:v2",
                PullProgress {
                    layers: 2,
                    ..PullProgress::default()
                },
            );
            assert_eq!(pulls.get("app:v2").map(|progress| progress.layers), Some(2));
            assert_eq!(pulls.get("app:v1"), None);
        }
        assert_eq!(pulls.get("app:v2"), None);
    }
}
