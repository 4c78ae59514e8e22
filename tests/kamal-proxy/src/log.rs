//! JSON log lines on stdout, in the shape of Go's `slog.NewJSONHandler` that kamal-proxy uses:
//! `{"time":"...","level":"INFO","msg":"Deployed","service":"app-web",...}`.
//!
//! Only the server (`run`) logs; client commands print their result or error instead. Debug
//! lines appear with `--debug`. A log line never fails the caller: a closed stdout is ignored.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

static DEBUG: AtomicBool = AtomicBool::new(false);

/// Turns debug lines on or off (`run --debug`).
pub fn set_debug(enabled: bool) {
    DEBUG.store(enabled, Ordering::Relaxed);
}

/// A line at level DEBUG, shown only with `--debug`.
pub fn debug(msg: &str, fields: &[(&str, Value)]) {
    if DEBUG.load(Ordering::Relaxed) {
        write("DEBUG", msg, fields);
    }
}

/// A line at level INFO.
pub fn info(msg: &str, fields: &[(&str, Value)]) {
    write("INFO", msg, fields);
}

/// A line at level WARN.
pub fn warn(msg: &str, fields: &[(&str, Value)]) {
    write("WARN", msg, fields);
}

/// A line at level ERROR.
pub fn error(msg: &str, fields: &[(&str, Value)]) {
    write("ERROR", msg, fields);
}

fn write(level: &str, msg: &str, fields: &[(&str, Value)]) {
    let line = format_line(OffsetDateTime::now_utc(), level, msg, fields);
    if cfg!(test) {
        // the test harness captures `print!` only
        print!("{line}");
    } else {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(line.as_bytes());
        let _ = stdout.flush();
    }
}

fn format_line(time: OffsetDateTime, level: &str, msg: &str, fields: &[(&str, Value)]) -> String {
    let time = time.format(&Rfc3339).unwrap_or_default();
    let mut line = format!(
        "{{\"time\":{},\"level\":{},\"msg\":{}",
        Value::from(time),
        Value::from(level),
        Value::from(msg)
    );
    for (key, value) in fields {
        line.push_str(&format!(",{}:{}", Value::from(*key), value));
    }
    line.push_str("}\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_are_json_with_time_level_and_message_first() {
        let time = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let line = format_line(
            time,
            "INFO",
            "Deployed",
            &[("service", json!("app-web")), ("targets", json!(["a:80"]))],
        );
        assert_eq!(
            line,
            "{\"time\":\"2023-11-14T22:13:20Z\",\"level\":\"INFO\",\"msg\":\"Deployed\",\"service\":\"app-web\",\"targets\":[\"a:80\"]}\n"
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["msg"], "Deployed");
    }
}
