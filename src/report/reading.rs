//! While `plan` reads the hosts: after a second, one line per host still being read, so a
//! slow or hanging host is named instead of the command looking stuck. On a terminal each line
//! is a spinner that disappears when its host answers; without one, a plain line per host,
//! once. Nothing is shown when every host answers within the second.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long hosts may take before they are named.
pub const QUIET_FOR: Duration = Duration::from_secs(1);

/// The hosts still being read.
pub struct HostsBeingRead {
    state: Arc<(Mutex<Reading>, Condvar)>,
    shower: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Reading {
    pending: BTreeMap<String, Option<ProgressBar>>,
    finished: bool,
}

impl HostsBeingRead {
    /// Starts watching `hosts`; lines go to stderr, as spinners when `live` (a terminal).
    pub fn start(hosts: Vec<String>, live: bool) -> HostsBeingRead {
        Self::start_writing(hosts, live, QUIET_FOR, Box::new(std::io::stderr()))
    }

    fn start_writing(
        hosts: Vec<String>,
        live: bool,
        quiet_for: Duration,
        mut out: Box<dyn Write + Send>,
    ) -> HostsBeingRead {
        let reading = Reading {
            pending: hosts.into_iter().map(|host| (host, None)).collect(),
            finished: false,
        };
        let state = Arc::new((Mutex::new(reading), Condvar::new()));
        let shared = Arc::clone(&state);
        let shower = std::thread::spawn(move || {
            let (lock, woken) = &*shared;
            let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let (mut reading, _) = woken
                .wait_timeout_while(guard, quiet_for, |reading| {
                    !reading.finished && !reading.pending.is_empty()
                })
                .unwrap_or_else(|p| p.into_inner());
            if reading.finished || reading.pending.is_empty() {
                return;
            }
            if live {
                let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let style = ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                for (host, bar) in reading.pending.iter_mut() {
                    let spinner = bars.add(ProgressBar::new_spinner());
                    spinner.set_style(style.clone());
                    spinner.set_message(format!("reading {host} ..."));
                    spinner.enable_steady_tick(Duration::from_millis(120));
                    *bar = Some(spinner);
                }
            } else {
                for host in reading.pending.keys() {
                    let _ = writeln!(out, "reading {host} ...");
                }
                let _ = out.flush();
            }
        });
        HostsBeingRead {
            state,
            shower: Some(shower),
        }
    }

    /// `host` answered: its line goes.
    pub fn read(&self, host: &str) {
        let (lock, woken) = &*self.state;
        let mut reading = lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(Some(bar)) = reading.pending.remove(host) {
            bar.finish_and_clear();
        }
        woken.notify_all();
    }

    /// Every host is read (or the command stops): the lines go.
    pub fn finish(&mut self) {
        {
            let (lock, woken) = &*self.state;
            let mut reading = lock.lock().unwrap_or_else(|p| p.into_inner());
            reading.finished = true;
            for (_, bar) in std::mem::take(&mut reading.pending) {
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                }
            }
            woken.notify_all();
        }
        if let Some(shower) = self.shower.take() {
            let _ = shower.join();
        }
    }
}

impl Drop for HostsBeingRead {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::captured::Captured;

    fn hosts() -> Vec<String> {
        vec!["fast".to_string(), "slow".to_string()]
    }

    #[test]
    fn hosts_still_reading_after_the_quiet_time_are_named_once() {
        let captured = Captured::default();
        let mut reading = HostsBeingRead::start_writing(
            hosts(),
            false,
            Duration::from_millis(100),
            Box::new(captured.clone()),
        );
        reading.read("fast");
        std::thread::sleep(Duration::from_millis(300));
        reading.read("slow");
        reading.finish();
        let written = captured.text();
        assert_eq!(written, "reading slow ...\n");
    }

    #[test]
    fn nothing_is_shown_when_every_host_answers_in_time() {
        let captured = Captured::default();
        let mut reading = HostsBeingRead::start_writing(
            hosts(),
            false,
            Duration::from_millis(500),
            Box::new(captured.clone()),
        );
        reading.read("fast");
        reading.read("slow");
        reading.finish();
        std::thread::sleep(Duration::from_millis(600));
        assert!(captured.text().is_empty());
    }
}
