//! The loader and the secrets parser never panic and never hang, whatever text they get:
//! arbitrary YAML/ERB-ish text, and valid configurations with random edits.

use std::time::{Duration, Instant};

use gantry::config::{LoadOptions, SecretsOptions, load_with_env, secrets};
use proptest::prelude::*;

/// Text made of the characters that matter to YAML, ERB and dotenv.
fn yamlish() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "service: app\n",
        "servers:\n",
        "  - ",
        "1.1.1.1",
        "web:",
        "\n",
        "  ",
        "    ",
        ":",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "&a ",
        "*a",
        "<<: ",
        "!!str ",
        "\"",
        "'",
        "#",
        "<%= ",
        "ENV[\"X\"]",
        " %>",
        "<%",
        "%>",
        "-%>",
        "<%-",
        "proxy:",
        "ssl: true",
        "host: x",
        "env:",
        "secret: [S]",
        "accessories:",
        "x",
        "1",
        "true",
        "~",
        "|\n",
        ">\n",
        "---\n",
        "...\n",
        "\t",
        "$(",
        ")",
        "${X}",
        "\\",
        "=",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|pieces| pieces.concat())
}

fn load_text(text: &str) -> Duration {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("deploy.yml");
    std::fs::write(&path, text).expect("write");
    let started = Instant::now();
    let options = LoadOptions {
        config_file: path,
        destination: None,
    };
    let _ = load_with_env(&options, &|name| (name == "X").then(|| "value".to_string()));
    started.elapsed()
}

const VALID: &[&str] = &[
    include_str!("fixtures/config/valid/03-roles-hash.yml"),
    include_str!("fixtures/config/valid/05-proxy-full.yml"),
    include_str!("fixtures/config/valid/10-accessory-full.yml"),
    include_str!("fixtures/config/valid/19-erb.yml"),
    include_str!("fixtures/config/valid/20-anchors-merge.yml"),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_or_hangs(text in yamlish()) {
        prop_assert!(load_text(&text) < Duration::from_secs(2));
    }

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,400}") {
        prop_assert!(load_text(&text) < Duration::from_secs(2));
    }

    #[test]
    fn edited_valid_configs_never_panic(
        which in 0..VALID.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..8, yamlish()), 1..4),
    ) {
        let mut text = VALID[which].to_string();
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
        prop_assert!(load_text(&text) < Duration::from_secs(2));
    }

    #[test]
    fn the_secrets_parser_never_panics(text in prop_oneof![yamlish(), "\\PC{0,300}"]) {
        let started = Instant::now();
        let _ = secrets::parse_secrets_text(&text, &SecretsOptions { allow_commands: false });
        prop_assert!(started.elapsed() < Duration::from_secs(1));
    }
}
