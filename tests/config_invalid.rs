//! Every mistake under tests/fixtures/config/invalid/ is refused with the expected rendered
//! diagnostics (golden insta snapshots, no colour, fixed width). A fixture `NAME.DEST.yml` next
//! to `NAME.yml` makes the test load `NAME.yml` with `-d DEST`.

use std::path::{Path, PathBuf};

use gantry::config::{ConfigError, LoadOptions, load_with_env};
use miette::{GraphicalReportHandler, GraphicalTheme};

const INVALID: &str = "tests/fixtures/config/invalid";

fn render(error: &ConfigError) -> String {
    let handler = GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in &error.errors {
        handler
            .render_report(&mut out, diagnostic)
            .expect("rendering succeeds");
        out.push('\n');
    }
    format!("{error}\n\n{out}")
}

fn load(path: &Path, destination: Option<&str>) -> Result<gantry::config::Loaded, ConfigError> {
    let options = LoadOptions {
        config_file: path.to_path_buf(),
        destination: destination.map(str::to_string),
    };
    load_with_env(&options, &|_| None)
}

#[test]
fn every_invalid_fixture_is_refused_with_its_diagnostics() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(INVALID)
        .expect("fixtures")
        .map(|entry| entry.expect("entry").path())
        .collect();
    paths.sort();
    let mut count = 0;
    for path in &paths {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let (name, base, destination) = match stem.split_once('.') {
            Some((base, destination)) => (
                format!("{base}_{destination}"),
                Path::new(INVALID).join(format!("{base}.yml")),
                Some(destination),
            ),
            None if paths.iter().any(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with(&format!("{stem}.")) && n.matches('.').count() == 2
                })
            }) =>
            {
                continue;
            }
            None => (stem.to_string(), path.clone(), None),
        };
        let error = match load(&base, destination) {
            Ok(_) => panic!("{} loaded but should not", path.display()),
            Err(error) => error,
        };
        assert!(!error.errors.is_empty());
        for diagnostic in &error.errors {
            assert!(
                diagnostic.help.is_some(),
                "{} has no help: {}",
                path.display(),
                diagnostic.message
            );
        }
        insta::assert_snapshot!(format!("invalid_{name}"), render(&error));
        count += 1;
    }
    assert!(count >= 15, "only {count} invalid fixtures");
}

#[test]
fn all_errors_of_a_file_are_reported_at_once() {
    let error = load(&Path::new(INVALID).join("many-errors.yml"), None).expect_err("invalid");
    let codes: Vec<&str> = error.errors.iter().map(|e| e.code.as_str()).collect();
    for expected in [
        "gantry::config::unknown_key",
        "gantry::config::duplicate_host",
        "gantry::config::invalid_value",
        "gantry::config::missing_key",
    ] {
        assert!(
            codes.contains(&expected),
            "{expected} missing from {codes:?}"
        );
    }
    assert!(error.errors.len() >= 6, "{codes:?}");
}

#[test]
fn a_missing_destination_file_names_its_path() {
    let error =
        load(&Path::new(INVALID).join("dest-error.yml"), Some("nowhere")).expect_err("missing");
    assert_eq!(error.errors.len(), 1);
    assert_eq!(
        error.errors[0].code.as_str(),
        "gantry::config::file_not_found"
    );
    assert!(
        error.errors[0].message.contains("dest-error.nowhere.yml"),
        "{}",
        error.errors[0].message
    );
}

#[test]
fn errors_in_a_destination_file_point_into_that_file() {
    let error =
        load(&Path::new(INVALID).join("dest-error.yml"), Some("staging")).expect_err("invalid");
    let location = error.errors[0].location.clone().expect("location");
    assert!(
        location.ends_with("dest-error.staging.yml:5:3"),
        "{location}"
    );
}
