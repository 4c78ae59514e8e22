//! Go's duration syntax, as kamal-proxy's flags accept it and its error messages print it.
//!
//! Input: flag values such as `30s`, `1m30s`, `500ms`, `1.5h` or `0`. Output: a
//! [`std::time::Duration`], and back to Go's `Duration.String()` form (`30s`, `1m30s`, `1h0m0s`,
//! `500ms`), because Kamal and gantry match on messages like "... timeout (30s)". Negative
//! durations are refused: no kamal-proxy flag has a use for them.

use std::time::Duration;

use thiserror::Error;

/// A flag value that is not a Go duration.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("time: invalid duration \"{0}\"")]
pub struct InvalidDuration(String);

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration (`time.ParseDuration`): a sequence of decimal numbers, each with an
/// optional fraction and a unit suffix; `0` alone needs no unit.
pub fn parse(text: &str) -> Result<Duration, InvalidDuration> {
    let invalid = || InvalidDuration(text.to_string());
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    let mut rest = rest;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, after) = rest.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(invalid());
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_end);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale)
            .ok_or_else(invalid)?;
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| invalid())?
        };
        total = total
            .checked_add(whole.checked_mul(scale).ok_or_else(invalid)?)
            .ok_or_else(invalid)?;
        let mut place = scale;
        for digit in fraction.chars() {
            place /= 10;
            let digit = u128::from(digit.to_digit(10).ok_or_else(invalid)?);
            total += digit * place;
        }
        rest = next;
    }
    let nanos = u64::try_from(total).map_err(|_| invalid())?;
    Ok(Duration::from_nanos(nanos))
}

/// Formats like Go's `Duration.String()`.
pub fn format(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    match nanos {
        0 => "0s".to_string(),
        1..1_000 => format!("{nanos}ns"),
        1_000..1_000_000 => format!("{}µs", decimal(nanos, 1_000, 3)),
        1_000_000..1_000_000_000 => format!("{}ms", decimal(nanos, 1_000_000, 6)),
        _ => {
            let whole_seconds = nanos / 1_000_000_000;
            let hours = whole_seconds / 3600;
            let minutes = whole_seconds % 3600 / 60;
            let seconds = decimal(
                whole_seconds % 60 * 1_000_000_000 + nanos % 1_000_000_000,
                1_000_000_000,
                9,
            );
            if hours > 0 {
                format!("{hours}h{minutes}m{seconds}s")
            } else if minutes > 0 {
                format!("{minutes}m{seconds}s")
            } else {
                format!("{seconds}s")
            }
        }
    }
}

/// `value / unit` with its fraction, trailing zeros trimmed (`1500, 1000, 3` gives `1.5`).
fn decimal(value: u128, unit: u128, digits: usize) -> String {
    let whole = value / unit;
    let fraction = value % unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:0digits$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_kamal_sends() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("2µs"), Ok(Duration::from_micros(2)));
        assert_eq!(parse("3us"), Ok(Duration::from_micros(3)));
    }

    #[test]
    fn refuses_what_go_refuses() {
        for text in ["", "30", "s", "1x", "-1s", "1.2.3s", "."] {
            assert_eq!(
                parse(text),
                Err(InvalidDuration(text.to_string())),
                "{text:?}"
            );
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_secs(30)), "30s");
        assert_eq!(format(Duration::from_secs(90)), "1m30s");
        assert_eq!(format(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(500)), "500ms");
        assert_eq!(format(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(format(Duration::from_nanos(42)), "42ns");
    }

    #[test]
    fn format_and_parse_round_trip() {
        for nanos in [1, 999, 1_000, 1_500_000, 30_000_000_000, 5_400_000_000_123] {
            let duration = Duration::from_nanos(nanos);
            assert_eq!(parse(&format(duration)), Ok(duration));
        }
    }
}
