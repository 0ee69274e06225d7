//! The HTTP route table of one listener: (host, path prefix) → route target.
//!
//! Built on the control plane with a [`RouteTableBuilder`] when a snapshot is built, then read
//! on the data plane with [`RouteTable::find`] once per request. Generic over the target so it
//! depends on nothing else in berth.
//!
//! # Matching
//! 1. **Host levels**, most specific first: the exact host; then `*.suffix` wildcards, longest
//!    suffix first (`*.example.com` matches `a.example.com` and `a.b.example.com`, not
//!    `example.com`); then routes with no host ("any host"). Request hosts are compared
//!    case-insensitively, without port or trailing dot; `[::1]:8080` is the host `::1`.
//! 2. **Longest path prefix** within a level, segment-aware: `/api` matches `/api`, `/api/`
//!    and `/api/x` but not `/apix`; `/api/` matches `/api/` and `/api/x`; `/` matches every
//!    path. Paths are compared case-sensitively and as sent (no percent-decoding).
//! 3. **Fallback**: if a host level matches but none of its prefixes does, the next less
//!    specific level is tried (a shorter wildcard, then any host). So `api.example.com/v2`
//!    plus an any-host `/` catch-all sends `api.example.com/other` to the catch-all, as
//!    Traefik and Envoy users expect; a level never hides routes below it.
//!
//! # Invariants
//! - Every (host pattern, prefix) pair has at most one target: the first [`add`] keeps it, a
//!   later one is refused with [`RouteError::Conflict`] and changes nothing.
//! - [`RouteTable::find`] takes no lock and never allocates: hosts are lowercased into a stack
//!   buffer, and candidate prefixes are slices of the request path probed in hash maps,
//!   longest first, skipping lengths no stored prefix has.
//!
//! [`add`]: RouteTableBuilder::add

mod host;
mod index;
#[cfg(test)]
mod tests;

use host::{HostPattern, MAX_HOST_LEN};
use index::{FxHashMap, Lengths};

/// Why a route could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The same host pattern and prefix are already routed; the earlier route keeps them.
    #[error("{} path {path} is already routed to another service", host_label(.host))]
    Conflict {
        /// The host as given to `add`, `None` for "any host".
        host: Option<String>,
        /// The path prefix.
        path: String,
    },
    /// Not a host name, IP address or leading `*.` wildcard.
    #[error("invalid host {0:?}: expected a name like api.example.com or *.example.com, no port")]
    InvalidHost(String),
    /// Not a path prefix.
    #[error("invalid path prefix {0:?}: must start with '/' and contain no '?', '#' or spaces")]
    InvalidPath(String),
}

fn host_label(host: &Option<String>) -> String {
    match host {
        Some(host) => format!("host {host}"),
        None => "any host".to_owned(),
    }
}

/// A successful lookup.
#[derive(Debug)]
pub struct Match<'a, T> {
    /// The route's target.
    pub target: &'a T,
    /// Length in bytes of the matched prefix, for [`strip_prefix`].
    pub prefix_len: usize,
}

// Manual impls: a derive would needlessly require `T: Clone`.
impl<T> Clone for Match<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Match<'_, T> {}

/// An immutable route table; see the module docs for the matching rules.
#[derive(Debug)]
pub struct RouteTable<T> {
    targets: Vec<T>,
    exact: FxHashMap<Box<[u8]>, Prefixes>,
    /// Keyed by the suffix with its leading dot (`.example.com`).
    wildcard: FxHashMap<Box<[u8]>, Prefixes>,
    wildcard_lens: Lengths,
    any: Prefixes,
}

/// Collects routes, refusing conflicts, then freezes them into a [`RouteTable`].
#[derive(Debug)]
pub struct RouteTableBuilder<T> {
    table: RouteTable<T>,
}

impl<T> Default for RouteTableBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> RouteTableBuilder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        let table = RouteTable {
            targets: Vec::new(),
            exact: FxHashMap::default(),
            wildcard: FxHashMap::default(),
            wildcard_lens: Lengths::default(),
            any: Prefixes::default(),
        };
        Self { table }
    }

    /// Routes `path` (a prefix starting with `/`) on each of `hosts` to `target`.
    ///
    /// `hosts`: empty means any host; each is an exact name or IP (`api.example.com`,
    /// `10.0.0.1`, `[::1]`) or a leading wildcard (`*.example.com`), any case, an optional
    /// trailing dot. Duplicates within `hosts` are ignored.
    ///
    /// All or nothing: on error nothing is added. If any (host, path) pair is already
    /// claimed, returns [`RouteError::Conflict`] naming the first such pair.
    pub fn add<S: AsRef<str>>(
        &mut self,
        hosts: &[S],
        path: &str,
        target: T,
    ) -> Result<(), RouteError> {
        check_path(path)?;
        let mut patterns = Vec::with_capacity(hosts.len());
        for host in hosts {
            let host = host.as_ref();
            let pattern = host::parse_pattern(host)
                .ok_or_else(|| RouteError::InvalidHost(host.to_owned()))?;
            if !patterns.iter().any(|(p, _)| *p == pattern) {
                patterns.push((pattern, host));
            }
        }
        self.check_free(&patterns, path)?;
        let idx = self.table.targets.len();
        self.table.targets.push(target);
        if patterns.is_empty() {
            self.table.any.insert(path, idx);
        }
        for (pattern, _) in patterns {
            self.table.level_mut(pattern).insert(path, idx);
        }
        Ok(())
    }

    /// Freezes the table.
    pub fn build(self) -> RouteTable<T> {
        self.table
    }

    fn check_free(&self, patterns: &[(HostPattern, &str)], path: &str) -> Result<(), RouteError> {
        let conflict = |host: Option<&str>| RouteError::Conflict {
            host: host.map(str::to_owned),
            path: path.to_owned(),
        };
        if patterns.is_empty() && self.table.any.contains(path) {
            return Err(conflict(None));
        }
        for (pattern, host) in patterns {
            if self.table.level(pattern).is_some_and(|p| p.contains(path)) {
                return Err(conflict(Some(host)));
            }
        }
        Ok(())
    }
}

fn check_path(path: &str) -> Result<(), RouteError> {
    let bad = |b: u8| b == b'?' || b == b'#' || b.is_ascii_whitespace() || b.is_ascii_control();
    if !path.starts_with('/') || path.bytes().any(bad) {
        return Err(RouteError::InvalidPath(path.to_owned()));
    }
    Ok(())
}

impl<T> RouteTable<T> {
    /// The route for a request, or `None` (a 404).
    ///
    /// `host`: the request's `Host` / `:authority`, any case, possibly with a port; `None`
    /// or an unparsable host matches only any-host routes. `path`: the request path without
    /// the query; a path not starting with `/` (`*`, authority form) matches nothing.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<Match<'_, T>> {
        let (idx, prefix_len) = self
            .find_by_host(host, path)
            .or_else(|| self.any.longest(path))?;
        // Indices are assigned from `targets.len()` as targets are pushed, so this is `Some`.
        let target = self.targets.get(idx)?;
        Some(Match { target, prefix_len })
    }

    /// Number of routes added (one per successful `add`, whatever its number of hosts).
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the table has no routes at all.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    fn find_by_host(&self, host: Option<&str>, path: &str) -> Option<(usize, usize)> {
        if self.exact.is_empty() && self.wildcard.is_empty() {
            return None;
        }
        let mut buf = [0; MAX_HOST_LEN];
        let host = host::normalize(host?, &mut buf)?;
        let exact = self.exact.get(host).and_then(|p| p.longest(path));
        exact.or_else(|| self.find_wildcard(host, path))
    }

    /// Tries each stored wildcard suffix length that ends `host` at a dot after a non-empty
    /// first label, longest first.
    fn find_wildcard(&self, host: &[u8], path: &str) -> Option<(usize, usize)> {
        let below_first_label = host.len().saturating_sub(1);
        self.wildcard_lens
            .up_to(below_first_label)
            .map(|len| &host[host.len() - len..])
            .filter(|suffix| suffix.first() == Some(&b'.'))
            .find_map(|suffix| self.wildcard.get(suffix)?.longest(path))
    }

    fn level(&self, pattern: &HostPattern) -> Option<&Prefixes> {
        match pattern {
            HostPattern::Exact(host) => self.exact.get(host),
            HostPattern::Wildcard(suffix) => self.wildcard.get(suffix),
        }
    }

    fn level_mut(&mut self, pattern: HostPattern) -> &mut Prefixes {
        match pattern {
            HostPattern::Exact(host) => self.exact.entry(host).or_default(),
            HostPattern::Wildcard(suffix) => {
                self.wildcard_lens.insert(suffix.len());
                self.wildcard.entry(suffix).or_default()
            }
        }
    }
}

/// The path prefixes of one host level.
#[derive(Debug, Default)]
struct Prefixes {
    map: FxHashMap<Box<str>, usize>,
    lens: Lengths,
}

impl Prefixes {
    fn contains(&self, prefix: &str) -> bool {
        self.map.contains_key(prefix)
    }

    fn insert(&mut self, prefix: &str, idx: usize) {
        self.lens.insert(prefix.len());
        self.map.insert(prefix.into(), idx);
    }

    /// The longest stored prefix that matches `path` on a segment boundary, as
    /// (target index, prefix length). Only stored prefix lengths are tried, longest first; a
    /// length `n` is a candidate if `path[..n]` ends the path, ends with `/`, or is followed
    /// by `/`.
    fn longest(&self, path: &str) -> Option<(usize, usize)> {
        if !path.starts_with('/') {
            return None;
        }
        let bytes = path.as_bytes();
        let boundary = |n: usize| {
            n == bytes.len() || bytes.get(n) == Some(&b'/') || bytes.get(n - 1) == Some(&b'/')
        };
        self.lens
            .up_to(path.len())
            .filter(|&n| n > 0 && boundary(n))
            .find_map(|n| Some((*self.map.get(path.get(..n)?)?, n)))
    }
}

/// The path to forward after stripping a matched prefix of `prefix_len` bytes: stripping
/// `/api` or `/api/` from `/api/x` gives `/x`, from `/api` gives `/`, and `/` strips nothing.
/// The result always starts with `/`; the caller appends the query. A `prefix_len` that is
/// not a match of `path` (too long, not on a boundary) returns `path` unchanged.
pub fn strip_prefix(path: &str, prefix_len: usize) -> &str {
    let Some(rest) = path.get(prefix_len..) else {
        return path;
    };
    if rest.is_empty() {
        "/"
    } else if rest.starts_with('/') {
        rest
    } else if prefix_len > 0 && path.as_bytes()[prefix_len - 1] == b'/' {
        // In bounds: `path.get(prefix_len..)` succeeded, so 0 < prefix_len <= path.len().
        // The prefix ended with '/': keep that slash as the start of the forwarded path.
        &path[prefix_len - 1..]
    } else {
        path
    }
}
