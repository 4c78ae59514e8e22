//! The configuration fuzzers' short run, in the normal test suite (specs/reliability.md,
//! "Hostile input"): the same checks as `fuzz/fuzz_targets/` (`fuzz/harness.rs`), driven by
//! proptest with inputs built from Kamal's keys, YAML and ERB syntax and hostile values, and by
//! edits of the valid fixtures. The long runs are `fuzz/run.sh` (libFuzzer, minutes per target).
//!
//! Every input must finish within a deadline: a hang is a failure, not a slow test.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::time::{Duration, Instant};

use harness::{ConfigInput, Reached};
use proptest::prelude::*;

/// One load, its diagnostics and the pure stages after it may take this long.
const DEADLINE: Duration = Duration::from_secs(3);

const VALID: &[&str] = &[
    include_str!("fixtures/config/valid/01-minimal.yml"),
    include_str!("fixtures/config/valid/04-env-complex.yml"),
    include_str!("fixtures/config/valid/05-proxy-full.yml"),
    include_str!("fixtures/config/valid/10-accessory-full.yml"),
    include_str!("fixtures/config/valid/13-ssh-full.yml"),
    include_str!("fixtures/config/valid/19-erb.yml"),
    include_str!("fixtures/config/valid/20-anchors-merge.yml"),
    include_str!("fixtures/config/valid/21-destination.yml"),
];

const DESTINATION: &str = include_str!("fixtures/config/valid/21-destination.staging.yml");

/// Pieces of text that matter to YAML, ERB, Kamal's schema and shells.
fn piece() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "\n",
        "\n  ",
        "\n    ",
        ": ",
        "- ",
        "&a ",
        "*a",
        "<<: ",
        "!!str ",
        "---\n",
        "|\n",
        ">\n",
        "[",
        "]",
        "{",
        "}",
        ",",
        "\"",
        "'",
        "#",
        "~",
        "<%= ENV[\"X\"] %>",
        "<%= ENV['Y'] %>",
        "<%= ENV.fetch(\"Z\", \"d\") %>",
        "<%",
        "%>",
        "-%>",
        "<%#",
        "service",
        "image",
        "servers",
        "web",
        "hosts",
        "cmd",
        "options",
        "labels",
        "env",
        "clear",
        "secret",
        "proxy",
        "host",
        "app_port",
        "ssl",
        "registry",
        "server",
        "password",
        "builder",
        "arch",
        "accessories",
        "db",
        "directories",
        "files",
        "volumes",
        "ssh",
        "user",
        "proxy_command",
        "boot",
        "limit",
        "x-a",
        "1.1.1.1",
        "true",
        "80",
        "-1",
        ";",
        "$(",
        ")",
        "`",
        "-rf",
        "--privileged",
        "../",
        "\\",
        "\t",
    ])
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..80).prop_map(|pieces| pieces.concat())
}

/// `base` with up to four random edits (deletions and insertions of pieces).
fn edited(base: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec((any::<prop::sample::Index>(), 0usize..12, text()), 1..5).prop_map(
        move |edits| {
            let mut text = base.to_string();
            for (position, delete, insert) in edits {
                let mut at = position.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                let mut end = (at + delete).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                text.replace_range(at..end, &insert);
            }
            text
        },
    )
}

fn check(base: &str, destination: Option<&str>, erb_value: &str) -> Reached {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let reached = harness::check_config(
        dir.path(),
        &ConfigInput {
            base,
            destination,
            erb_value,
        },
    );
    assert!(
        started.elapsed() < DEADLINE,
        "took {:?} on:\n{base}",
        started.elapsed()
    );
    reached
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn edited_valid_configs_are_loaded_planned_or_diagnosed(
        text in (0..VALID.len()).prop_flat_map(|index| edited(VALID[index])),
        erb_value in prop_oneof![Just("value".to_string()), text()],
    ) {
        check(&text, None, &erb_value);
    }

    #[test]
    fn edited_destination_files_are_merged_or_diagnosed(destination in edited(DESTINATION)) {
        check(VALID[7], Some(&destination), "value");
    }

    #[test]
    fn arbitrary_text_is_diagnosed(text in prop_oneof![text(), "\\PC{0,300}"]) {
        check(&text, None, "value");
    }

    #[test]
    fn arbitrary_secrets_files_are_parsed_or_diagnosed(text in prop_oneof![text(), "\\PC{0,300}"]) {
        let started = Instant::now();
        harness::check_secrets(&text);
        prop_assert!(started.elapsed() < DEADLINE);
    }
}

/// The harness reaches every stage: the fixtures plan, their edits sometimes fail to load.
#[test]
fn the_harness_reaches_the_plan() {
    for (index, text) in VALID.iter().enumerate() {
        let reached = check(text, None, "value");
        assert_eq!(reached, Reached::Planned, "fixture {index}");
    }
    assert_eq!(
        check(VALID[7], Some(DESTINATION), "value"),
        Reached::Planned
    );
    assert!(matches!(
        check("service: [", None, "value"),
        Reached::Rejected(1..)
    ));
    assert!(harness::check_secrets("A=1\nB='x'\n"));
    assert!(!harness::check_secrets("A='unterminated\n"));
}
