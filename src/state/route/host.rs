//! Host name normalisation for the route table: one rule set for route hosts (control plane,
//! may allocate) and request hosts (data plane, allocation-free).
//!
//! Normal form: ASCII-lowercase, no port, no brackets around an IPv6 literal, no trailing dot.
//! Non-ASCII bytes are kept as they are (a Host header is ASCII; IDNs arrive as punycode).

/// Longest host name that can match a route (RFC 1035 allows 253 octets plus a trailing dot).
pub(super) const MAX_HOST_LEN: usize = 255;

/// A route's host pattern after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HostPattern {
    /// `api.example.com`.
    Exact(Box<[u8]>),
    /// `*.example.com`, stored as the suffix with its leading dot: `.example.com`.
    Wildcard(Box<[u8]>),
}

/// Parses a route host (`api.example.com`, `*.example.com`, `10.0.0.1`, `[::1]` or `::1`).
/// Returns `None` if it is empty, too long, has a port, or has a `*` anywhere but a leading
/// `*.` label.
pub(super) fn parse_pattern(host: &str) -> Option<HostPattern> {
    let host = host.trim();
    let host = host.strip_suffix('.').unwrap_or(host);
    let (wildcard, name) = match host.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, host),
    };
    let name = match name.strip_prefix('[') {
        Some(inner) => inner.strip_suffix(']')?,
        None => name,
    };
    let bad_colon = name.contains(':') && (wildcard || name.matches(':').count() < 2);
    if name.is_empty() || name.len() > MAX_HOST_LEN || name.contains('*') || bad_colon {
        return None;
    }
    if name.starts_with('.') || name.contains("..") || name.bytes().any(|b| b.is_ascii_whitespace())
    {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    Some(if wildcard {
        HostPattern::Wildcard(format!(".{lower}").into_bytes().into_boxed_slice())
    } else {
        HostPattern::Exact(lower.into_bytes().into_boxed_slice())
    })
}

/// Normalises a request's `Host` / `:authority` into `buf` and returns the normal form, or
/// `None` if it cannot name any route (empty, malformed IPv6 literal, or too long). Never
/// allocates.
pub(super) fn normalize<'b>(host: &str, buf: &'b mut [u8; MAX_HOST_LEN]) -> Option<&'b [u8]> {
    let name = strip_port(host)?;
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_HOST_LEN {
        return None;
    }
    // One pass (not copy then lowercase): a wide copy read back in narrower words stalls
    // store-to-load forwarding, which measured as a third of the lookup.
    let out = &mut buf[..name.len()];
    for (dst, src) in out.iter_mut().zip(name.bytes()) {
        *dst = src.to_ascii_lowercase();
    }
    Some(out)
}

/// `example.com:8080` → `example.com`; `[::1]:8080` → `::1`; a bare `::1` (not valid in a
/// Host header, but harmless) is kept whole. `None` for an unterminated `[`.
fn strip_port(host: &str) -> Option<&str> {
    if let Some(rest) = host.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        return (after.is_empty() || after.starts_with(':')).then_some(&rest[..end]);
    }
    match host.rfind(':') {
        Some(i) if !host[..i].contains(':') => Some(&host[..i]),
        _ => Some(host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(host: &str) -> Option<String> {
        let mut buf = [0; MAX_HOST_LEN];
        normalize(host, &mut buf).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn normalize_strips_port_case_and_trailing_dot() {
        assert_eq!(
            norm("API.Example.COM:8080").as_deref(),
            Some("api.example.com")
        );
        assert_eq!(norm("example.com.").as_deref(), Some("example.com"));
        assert_eq!(norm("example.com.:443").as_deref(), Some("example.com"));
        assert_eq!(norm("10.0.0.1:80").as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn normalize_handles_ipv6_literals() {
        assert_eq!(norm("[::1]:8080").as_deref(), Some("::1"));
        assert_eq!(norm("[FE80::1]").as_deref(), Some("fe80::1"));
        assert_eq!(norm("::1").as_deref(), Some("::1"));
        assert_eq!(norm("[::1"), None);
        assert_eq!(norm("[::1]x"), None);
    }

    #[test]
    fn normalize_rejects_empty_and_too_long() {
        assert_eq!(norm(""), None);
        assert_eq!(norm(":80"), None);
        assert_eq!(norm(&"a".repeat(MAX_HOST_LEN + 1)), None);
        assert!(norm(&"a".repeat(MAX_HOST_LEN)).is_some());
    }

    #[test]
    fn parse_pattern_accepts_exact_wildcard_and_ip() {
        let exact = |s: &str| Some(HostPattern::Exact(s.as_bytes().into()));
        let wild = |s: &str| Some(HostPattern::Wildcard(s.as_bytes().into()));
        assert_eq!(parse_pattern("API.example.com."), exact("api.example.com"));
        assert_eq!(parse_pattern("*.Example.com"), wild(".example.com"));
        assert_eq!(parse_pattern("[::1]"), exact("::1"));
        assert_eq!(parse_pattern("::1"), exact("::1"));
        assert_eq!(parse_pattern("10.0.0.1"), exact("10.0.0.1"));
    }

    #[test]
    fn parse_pattern_rejects_malformed() {
        for bad in [
            "",
            "*",
            "*.",
            "a.*.com",
            "*example.com",
            "example.com:80",
            "a..b",
            ".a",
            "[::1",
            "a b",
        ] {
            assert_eq!(parse_pattern(bad), None, "{bad:?}");
        }
    }
}
