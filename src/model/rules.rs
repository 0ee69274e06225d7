//! Syntax rules for names, host patterns and path prefixes (control plane).
//!
//! Shared by the file's validation and, later, by label parsing, so a static service and a
//! container's labels accept exactly the same values. Each check returns the operator-facing
//! message on failure: it quotes the bad value and shows a valid one.

/// `None` if `name` is a valid listener or service name, else why not.
pub fn check_name(kind: &str, name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    (!ok).then(|| {
        format!(
            "invalid {kind} name `{name}`: use letters, digits, `-`, `_` or `.`, like `web` or `api-v2`"
        )
    })
}

/// The normalised (lowercase) host pattern, or why it is invalid. A pattern is a host name,
/// optionally with `*.` as its whole first label (`*.example.com`).
pub fn check_host(host: &str) -> Result<String, String> {
    let h = host.trim().to_ascii_lowercase();
    if h.is_empty() {
        return Err("empty host name: remove it, or omit `hosts` to match any host".into());
    }
    if h == "*" {
        return Err("`*` alone is not a host pattern: omit `hosts` to match any host".into());
    }
    if let Some((name, port)) = h.rsplit_once(':') {
        if port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "host `{host}` has a port: hosts match without the port, write `{name}`"
            ));
        }
    }
    let name = h.strip_prefix("*.").unwrap_or(&h);
    if name.contains('*') {
        return Err(format!(
            "invalid host pattern `{host}`: `*` is allowed only as the whole first label, like *.example.com"
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!(
            "invalid host name `{host}`: expected dot-separated labels of letters, digits and `-`, \
             like api.example.com or *.example.com"
        ));
    }
    Ok(h)
}

/// `Ok` with the name (lowercase, no trailing dot) if a certificate can be ordered for `name`
/// by ACME with the challenges berth answers (HTTP-01, TLS-ALPN-01), else why not.
pub fn acme_name(name: &str) -> Result<String, String> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!("`{name}` is an IP address, not a DNS name"));
    }
    let h = check_host(name.strip_suffix('.').unwrap_or(name))?;
    if h.starts_with("*.") {
        return Err(format!(
            "`{name}` is a wildcard: a wildcard certificate needs the DNS-01 challenge, which \
             berth does not answer; list the names, or give a certificate file"
        ));
    }
    if h.parse::<std::net::IpAddr>().is_ok()
        || h.split('.').all(|l| l.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(format!("`{name}` is an IP address, not a DNS name"));
    }
    if !h.contains('.') || h.contains('_') {
        return Err(format!(
            "`{name}` is not a public DNS name (one label, or an `_`): a CA cannot check it"
        ));
    }
    Ok(h)
}

/// `None` if `path` is a valid path prefix, else why not.
pub fn check_path(path: &str) -> Option<String> {
    if !path.starts_with('/') {
        return Some(format!(
            "path `{path}` must start with `/`, like /{}",
            path.trim_start_matches('/')
        ));
    }
    if path.contains(['?', '#']) || path.contains(char::is_whitespace) {
        return Some(format!(
            "path `{path}` must be a plain path prefix without spaces, `?` or `#`, like /api"
        ));
    }
    None
}

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance between two short strings.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(check_host("API.Example.com"), Ok("api.example.com".into()));
        assert_eq!(check_host("*.example.com"), Ok("*.example.com".into()));
        assert!(check_host("a.*.com")
            .unwrap_err()
            .contains("only as the whole first label"));
        assert!(check_host("*example.com").is_err());
        assert!(check_host("example.com:8080")
            .unwrap_err()
            .contains("write `example.com`"));
        assert!(check_host("*").unwrap_err().contains("omit `hosts`"));
        assert!(check_host("bad host").is_err());
        assert!(check_host("-a.com").is_err());
        assert!(check_host("a..com").is_err());
    }

    #[test]
    fn paths() {
        assert_eq!(check_path("/"), None);
        assert_eq!(check_path("/api/v2"), None);
        assert!(check_path("api").unwrap().contains("like /api"));
        assert!(check_path("/a?b=1").is_some());
    }

    #[test]
    fn names() {
        assert_eq!(check_name("listener", "web-1"), None);
        assert!(check_name("service", "a,b").is_some());
        assert!(check_name("service", "").is_some());
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("webb", &["web", "internal"]), Some("web"));
        assert_eq!(suggest("hots", &["hosts", "path"]), Some("hosts"));
        assert_eq!(suggest("zzzz", &["web", "internal"]), None);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn acme_names_are_plain_dns_names() {
        assert_eq!(
            acme_name("Shop.Example.com."),
            Ok("shop.example.com".into())
        );
        let why = |n: &str| acme_name(n).expect_err(n);
        assert!(why("*.example.com").contains("DNS-01"));
        for ip in ["192.0.2.1", "::1", "2001:db8::1", "[::1]"] {
            assert!(why(ip).contains("is an IP address"), "{ip}: {}", why(ip));
        }
        assert!(why("localhost").contains("not a public DNS name"));
        assert!(why("_acme.example.com").contains("not a public DNS name"));
        assert!(why("a b.example.com").contains("invalid host name"));
    }
}
