//! The routing table: which service answers a request, by host and path prefix.
//!
//! Input: every service's normalized hosts and path prefixes. Output: lookups by request host
//! and path, and the conflict check that a deploy runs before it switches. Pure: no I/O, no
//! locks; the router rebuilds the table whenever a service is added or removed.
//!
//! Rules (kamal-proxy v0.9.2):
//! - the host bucket is the exact host, else `*.<rest>` for `<first-label>.<rest>`, else the
//!   wildcard host `""`; once a bucket is chosen, no other bucket is tried;
//! - in a bucket the longest matching prefix wins, matched on whole path segments (`/api`
//!   matches `/api` and `/api/x`, not `/apix`);
//! - a (host, prefix) pair belongs to one service only.

use std::collections::BTreeMap;

/// One (host, prefix) pair and the service that owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Binding {
    prefix: String,
    service: String,
}

/// Every service's bindings, grouped by host.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    by_host: BTreeMap<String, Vec<Binding>>,
}

/// The service that matched a request and the prefix it matched on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub service: &'a str,
    pub prefix: &'a str,
}

impl RouteTable {
    /// Builds the table from `(service name, hosts, path prefixes)` triples.
    pub fn build<'a>(
        services: impl IntoIterator<Item = (&'a str, &'a [String], &'a [String])>,
    ) -> Self {
        let mut by_host: BTreeMap<String, Vec<Binding>> = BTreeMap::new();
        for (service, hosts, prefixes) in services {
            for host in hosts {
                for prefix in prefixes {
                    by_host.entry(host.clone()).or_default().push(Binding {
                        prefix: prefix.clone(),
                        service: service.to_string(),
                    });
                }
            }
        }
        for bindings in by_host.values_mut() {
            bindings.sort_by(|a, b| {
                b.prefix
                    .len()
                    .cmp(&a.prefix.len())
                    .then(a.service.cmp(&b.service))
            });
        }
        RouteTable { by_host }
    }

    /// The service for a request's `Host` header (a port is ignored) and path.
    pub fn lookup(&self, host_header: &str, path: &str) -> Option<RouteMatch<'_>> {
        let bindings = self.bindings_for_host(strip_port(host_header))?;
        let path = with_trailing_slash(path);
        bindings
            .iter()
            .find(|binding| path.starts_with(&with_trailing_slash(&binding.prefix)))
            .map(|binding| RouteMatch {
                service: &binding.service,
                prefix: &binding.prefix,
            })
    }

    /// Another service that already owns one of these (host, prefix) pairs, if any.
    pub fn conflict(&self, service: &str, hosts: &[String], prefixes: &[String]) -> Option<&str> {
        hosts.iter().find_map(|host| {
            self.by_host.get(host)?.iter().find_map(|binding| {
                (prefixes.contains(&binding.prefix) && binding.service != service)
                    .then_some(binding.service.as_str())
            })
        })
    }

    fn bindings_for_host(&self, host: &str) -> Option<&[Binding]> {
        if let Some(bindings) = self.by_host.get(host) {
            return Some(bindings);
        }
        if let Some(dot) = host.find('.').filter(|&dot| dot > 0)
            && let Some(bindings) = self.by_host.get(&format!("*{}", &host[dot..]))
        {
            return Some(bindings);
        }
        self.by_host.get("").map(Vec::as_slice)
    }
}

/// The host part of a `Host` header: `example.com:8080` gives `example.com`, `[::1]:80` gives
/// `::1`; anything else is returned unchanged.
fn strip_port(host: &str) -> &str {
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed
            .split_once("]:")
            .map_or(host, |(address, _)| address);
    }
    match host.split_once(':') {
        Some((name, port)) if !name.is_empty() && !port.contains(':') => name,
        _ => host,
    }
}

fn with_trailing_slash(path: &str) -> String {
    if path.ends_with('/') {
        path.to_string()
    } else {
        format!("{path}/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(services: &[(&str, &[&str], &[&str])]) -> RouteTable {
        let owned: Vec<(String, Vec<String>, Vec<String>)> = services
            .iter()
            .map(|(name, hosts, prefixes)| {
                (
                    name.to_string(),
                    hosts.iter().map(|h| h.to_string()).collect(),
                    prefixes.iter().map(|p| p.to_string()).collect(),
                )
            })
            .collect();
        RouteTable::build(
            owned.iter().map(|(name, hosts, prefixes)| {
                (name.as_str(), hosts.as_slice(), prefixes.as_slice())
            }),
        )
    }

    fn service_for<'a>(table: &'a RouteTable, host: &str, path: &str) -> Option<&'a str> {
        table.lookup(host, path).map(|found| found.service)
    }

    #[test]
    fn routes_by_exact_host_then_wildcard_then_default() {
        let table = table(&[
            ("default", &[""], &["/"]),
            ("exact", &["app.example.com"], &["/"]),
            ("wildcard", &["*.example.com"], &["/"]),
        ]);
        assert_eq!(service_for(&table, "app.example.com", "/"), Some("exact"));
        assert_eq!(
            service_for(&table, "app.example.com:8080", "/x"),
            Some("exact")
        );
        assert_eq!(
            service_for(&table, "other.example.com", "/"),
            Some("wildcard")
        );
        assert_eq!(service_for(&table, "example.org", "/"), Some("default"));
        assert_eq!(service_for(&table, "10.77.0.11", "/"), Some("default"));
    }

    #[test]
    fn longest_prefix_wins_on_whole_segments() {
        let table = table(&[
            ("root", &[""], &["/"]),
            ("api", &[""], &["/api"]),
            ("v2", &[""], &["/api/v2"]),
        ]);
        assert_eq!(service_for(&table, "h", "/api"), Some("api"));
        assert_eq!(service_for(&table, "h", "/api/users"), Some("api"));
        assert_eq!(service_for(&table, "h", "/api/v2/users"), Some("v2"));
        assert_eq!(service_for(&table, "h", "/apix"), Some("root"));
        assert_eq!(
            table.lookup("h", "/api/x").map(|found| found.prefix),
            Some("/api")
        );
    }

    #[test]
    fn a_chosen_host_bucket_does_not_fall_back() {
        let table = table(&[
            ("default", &[""], &["/"]),
            ("api", &["app.example.com"], &["/api"]),
        ]);
        assert_eq!(service_for(&table, "app.example.com", "/api"), Some("api"));
        assert_eq!(service_for(&table, "app.example.com", "/"), None);
        assert_eq!(
            service_for(&table, "other.example.com", "/"),
            Some("default")
        );
    }

    #[test]
    fn nothing_matches_an_empty_table() {
        assert_eq!(service_for(&RouteTable::default(), "h", "/"), None);
    }

    #[test]
    fn conflicts_only_with_another_service_on_the_same_host_and_prefix() {
        let table = table(&[("web", &["a.example.com", ""], &["/"])]);
        let hosts = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            table.conflict("other", &hosts(&["a.example.com"]), &hosts(&["/"])),
            Some("web")
        );
        assert_eq!(
            table.conflict("other", &hosts(&[""]), &hosts(&["/"])),
            Some("web")
        );
        assert_eq!(
            table.conflict("web", &hosts(&["a.example.com"]), &hosts(&["/"])),
            None
        );
        assert_eq!(
            table.conflict("other", &hosts(&["a.example.com"]), &hosts(&["/api"])),
            None
        );
        assert_eq!(
            table.conflict("other", &hosts(&["b.example.com"]), &hosts(&["/"])),
            None
        );
    }

    #[test]
    fn strips_ports_like_go_split_host_port() {
        assert_eq!(strip_port("example.com:80"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port(":80"), ":80");
    }
}
