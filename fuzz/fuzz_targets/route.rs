//! Route table build and lookup (`berth::state::route`) with arbitrary hosts and paths.
//!
//! Properties: never panics; `add` refuses a conflict exactly when one of its (host pattern,
//! path) pairs was added before, and then changes nothing; a match's prefix is the matched
//! route's path, a prefix of the request path ending on a segment boundary; `strip_prefix`
//! of a match starts with `/`; and every lookup agrees with a naive linear matcher written
//! from the module's rules (exact host, then the longest wildcard suffix, then any host;
//! the longest matching prefix within a level, falling back to the next level).
#![no_main]

use std::collections::HashSet;

use berth::state::route::{strip_prefix, RouteError, RouteTableBuilder};
use libfuzzer_sys::fuzz_target;

/// Reads the text format: `+hosts|path` adds a route (hosts comma-separated, none: any
/// host), `?host|path` looks a request up (`?path` without `|`: no host). Other lines are
/// ignored.
fn read(data: &[u8]) -> Input {
    let text = String::from_utf8_lossy(data);
    let mut input = Input { routes: Vec::new(), requests: Vec::new() };
    for line in text.split('\n') {
        if let Some(route) = line.strip_prefix('+') {
            let (hosts, path) = route.split_once('|').unwrap_or(("", route));
            let hosts = match hosts.is_empty() {
                true => Vec::new(),
                false => hosts.split(',').map(str::to_owned).collect(),
            };
            input.routes.push((hosts, path.to_owned()));
        } else if let Some(request) = line.strip_prefix('?') {
            let (host, path) = match request.split_once('|') {
                Some((host, path)) => (Some(host.to_owned()), path),
                None => (None, request),
            };
            input.requests.push((host, path.to_owned()));
        }
    }
    input
}

#[derive(Debug)]
struct Input {
    routes: Vec<(Vec<String>, String)>,
    requests: Vec<(Option<String>, String)>,
}

/// A route host in normal form, as the module doc describes it: trimmed, no trailing dot,
/// `*.` marks a wildcard (kept as the suffix with its dot), no brackets, ASCII-lowercase.
/// Only called on hosts `add` accepted.
fn pattern(host: &str) -> (bool, String) {
    let host = host.trim();
    let host = host.strip_suffix('.').unwrap_or(host);
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host),
    };
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name)
        .to_ascii_lowercase();
    match wildcard {
        true => (true, format!(".{name}")),
        false => (false, name),
    }
}

/// A request host in normal form: no port, no brackets, no trailing dot, lowercase.
fn request_host(host: &str) -> Option<String> {
    let name = if let Some(rest) = host.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        inner.to_owned()
    } else if host.matches(':').count() == 1 {
        host.split(':').next()?.to_owned()
    } else {
        host.to_owned()
    };
    let name = name.strip_suffix('.').unwrap_or(&name).to_ascii_lowercase();
    (!name.is_empty() && name.len() <= 255).then_some(name)
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    path.starts_with(prefix)
        && (prefix.ends_with('/')
            || path.len() == prefix.len()
            || path[prefix.len()..].starts_with('/'))
}

/// The linear reference: every (pattern, path, target) ranked by (host level, prefix length).
fn reference(
    entries: &[(Option<(bool, String)>, String, usize)],
    host: Option<&str>,
    path: &str,
) -> Option<(usize, usize)> {
    let host = host.and_then(request_host);
    entries
        .iter()
        .filter(|(_, prefix, _)| prefix_matches(prefix, path))
        .filter_map(|(pattern, prefix, target)| {
            let rank = match pattern {
                None => 0,
                Some((false, name)) => (Some(name) == host.as_ref()).then_some(usize::MAX)?,
                Some((true, suffix)) => {
                    let label = host.as_deref()?.strip_suffix(suffix.as_str())?;
                    (!label.is_empty()).then_some(suffix.len())?
                }
            };
            Some(((rank, prefix.len()), *target))
        })
        .max_by_key(|(key, _)| *key)
        .map(|((_, len), target)| (target, len))
}

fuzz_target!(|data: &[u8]| {
    let input = read(data);
    let mut builder = RouteTableBuilder::new();
    // What the reference knows: accepted routes by index, and their (pattern, path) pairs.
    let mut accepted: Vec<&(Vec<String>, String)> = Vec::new();
    let mut entries = Vec::new();
    let mut claimed: HashSet<(Option<(bool, String)>, String)> = HashSet::new();
    for route in &input.routes {
        let (hosts, path) = route;
        let before = format!("{builder:?}");
        let result = builder.add(hosts, path, accepted.len());
        if result.is_err() {
            assert_eq!(format!("{builder:?}"), before, "a refused add changed the table");
        }
        match result {
            Ok(()) => {
                let mut pairs: Vec<Option<(bool, String)>> = hosts.iter().map(|h| Some(pattern(h))).collect();
                if pairs.is_empty() {
                    pairs.push(None);
                }
                let mut seen = Vec::new();
                pairs.retain(|p| !seen.contains(p) && { seen.push(p.clone()); true });
                for p in pairs {
                    let fresh = claimed.insert((p.clone(), path.clone()));
                    assert!(fresh, "add accepted an already claimed pair {p:?} {path:?}");
                    entries.push((p, path.clone(), accepted.len()));
                }
                accepted.push(route);
            }
            Err(RouteError::Conflict { host, path: p }) => {
                assert_eq!(&p, path);
                let key = host.as_deref().map(pattern);
                assert!(claimed.contains(&(key.clone(), path.clone())), "conflict on an unclaimed pair {key:?} {path:?}");
            }
            Err(RouteError::InvalidPath(p)) => {
                assert_eq!(&p, path);
                assert!(!path.starts_with('/') || path.bytes().any(|b| b == b'?' || b == b'#' || b.is_ascii_whitespace() || b.is_ascii_control()));
            }
            Err(RouteError::InvalidHost(h)) => assert!(hosts.contains(&h)),
        }
    }
    let table = builder.build();
    assert_eq!(table.len(), accepted.len());
    for (host, path) in &input.requests {
        let found = table.find(host.as_deref(), path);
        if let Some(m) = found {
            let route_path = &accepted[*m.target].1;
            assert_eq!(path.get(..m.prefix_len), Some(route_path.as_str()), "prefix is not the route's path");
            assert!(prefix_matches(route_path, path), "{route_path:?} is not a segment prefix of {path:?}");
            let stripped = strip_prefix(path, m.prefix_len);
            assert!(stripped.starts_with('/'), "stripped {stripped:?}");
        }
        let got = found.map(|m| (*m.target, m.prefix_len));
        let want = reference(&entries, host.as_deref(), path);
        assert_eq!(got, want, "host {host:?} path {path:?}");
    }
});

