//! `kamal-proxy list` output: the same table as kamal-proxy v0.9.2, ANSI codes included.
//!
//! Columns `Service Host Path Target State TLS`, sorted by service; each cell padded to its
//! column's width plus two spaces; the header styled `\e[3;94m`, first cells `\e[1;34m`, other
//! cells wrapped in an empty style `\e[m...\e[0m`, whether or not stdout is a terminal. Pure.

use crate::control::ServiceSummary;

const HEADER: &str = "3;94";
const FIRST_COLUMN: &str = "1;34";
const PLAIN: &str = "";

/// The whole table, one line per service after the header.
pub fn render(services: &[ServiceSummary]) -> String {
    let mut sorted: Vec<&ServiceSummary> = services.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut rows: Vec<[&str; 6]> = vec![["Service", "Host", "Path", "Target", "State", "TLS"]];
    rows.extend(sorted.iter().map(|service| {
        [
            service.name.as_str(),
            service.host.as_str(),
            service.path.as_str(),
            service.target.as_str(),
            service.state.as_str(),
            if service.tls { "yes" } else { "no" },
        ]
    }));
    let widths: Vec<usize> = (0..6)
        .map(|column| rows.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (row_number, row) in rows.iter().enumerate() {
        for (column, cell) in row.iter().enumerate() {
            let style = match (row_number, column) {
                (0, _) => HEADER,
                (_, 0) => FIRST_COLUMN,
                _ => PLAIN,
            };
            let pad = widths[column] - cell.len();
            out.push_str(&format!("\x1b[{style}m{cell}\x1b[0m{}  ", " ".repeat(pad)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_kamal_proxys_table() {
        let services = vec![
            ServiceSummary {
                name: "b-web".into(),
                host: "*".into(),
                path: "/".into(),
                target: "0123456789ab:80".into(),
                state: "running".into(),
                tls: false,
            },
            ServiceSummary {
                name: "a".into(),
                host: "a.example.com".into(),
                path: "/api".into(),
                target: "x:3000".into(),
                state: "stopped".into(),
                tls: true,
            },
        ];
        let expected = concat!(
            "\x1b[3;94mService\x1b[0m  \x1b[3;94mHost\x1b[0m           \x1b[3;94mPath\x1b[0m  ",
            "\x1b[3;94mTarget\x1b[0m           \x1b[3;94mState\x1b[0m    \x1b[3;94mTLS\x1b[0m  \n",
            "\x1b[1;34ma\x1b[0m        \x1b[ma.example.com\x1b[0m  \x1b[m/api\x1b[0m  ",
            "\x1b[mx:3000\x1b[0m           \x1b[mstopped\x1b[0m  \x1b[myes\x1b[0m  \n",
            "\x1b[1;34mb-web\x1b[0m    \x1b[m*\x1b[0m              \x1b[m/\x1b[0m     ",
            "\x1b[m0123456789ab:80\x1b[0m  \x1b[mrunning\x1b[0m  \x1b[mno\x1b[0m   \n",
        );
        assert_eq!(render(&services), expected);
    }

    #[test]
    fn an_empty_list_is_the_header() {
        assert!(render(&[]).starts_with("\x1b[3;94mService\x1b[0m  "));
        assert_eq!(render(&[]).lines().count(), 1);
    }
}
