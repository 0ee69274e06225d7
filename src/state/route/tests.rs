//! Unit tests for every matching rule, and a property test against a naive linear matcher.

use super::*;

const ANY: &[&str] = &[];

/// A table from (hosts, prefix) pairs whose targets are their own `"hosts|prefix"` names.
fn table(routes: &[(&[&str], &str)]) -> RouteTable<String> {
    let mut builder = RouteTableBuilder::new();
    for (hosts, path) in routes {
        let name = format!("{}|{path}", hosts.join(","));
        builder.add(hosts, path, name).expect("no conflict");
    }
    builder.build()
}

fn find<'t>(table: &'t RouteTable<String>, host: &str, path: &str) -> Option<&'t str> {
    let host = (!host.is_empty()).then_some(host);
    table.find(host, path).map(|m| m.target.as_str())
}

#[test]
fn exact_beats_wildcard_beats_any_host() {
    let t = table(&[
        (ANY, "/"),
        (&["*.example.com"], "/"),
        (&["api.example.com"], "/"),
    ]);
    assert_eq!(find(&t, "api.example.com", "/x"), Some("api.example.com|/"));
    assert_eq!(find(&t, "web.example.com", "/x"), Some("*.example.com|/"));
    assert_eq!(find(&t, "other.org", "/x"), Some("|/"));
    assert_eq!(find(&t, "", "/x"), Some("|/"));
}

#[test]
fn wildcard_matches_deeper_names_but_not_the_apex() {
    let t = table(&[(&["*.example.com"], "/")]);
    assert_eq!(find(&t, "a.example.com", "/"), Some("*.example.com|/"));
    assert_eq!(find(&t, "a.b.example.com", "/"), Some("*.example.com|/"));
    assert_eq!(find(&t, "example.com", "/"), None);
    assert_eq!(find(&t, ".example.com", "/"), None);
    assert_eq!(find(&t, "aexample.com", "/"), None);
}

#[test]
fn longest_wildcard_suffix_wins() {
    let t = table(&[(&["*.example.com"], "/"), (&["*.b.example.com"], "/")]);
    assert_eq!(find(&t, "a.b.example.com", "/"), Some("*.b.example.com|/"));
    assert_eq!(find(&t, "b.example.com", "/"), Some("*.example.com|/"));
}

#[test]
fn host_match_ignores_case_port_and_trailing_dot() {
    let t = table(&[(&["API.Example.com."], "/")]);
    for host in [
        "api.example.com",
        "API.EXAMPLE.COM:8080",
        "api.example.com.",
        "Api.Example.Com.:443",
    ] {
        assert_eq!(find(&t, host, "/"), Some("API.Example.com.|/"), "{host}");
    }
    assert_eq!(find(&t, "api.example.co", "/"), None);
}

#[test]
fn ipv6_literal_hosts_match_with_or_without_port() {
    let t = table(&[(&["[::1]"], "/"), (&["10.0.0.1"], "/")]);
    assert_eq!(find(&t, "[::1]:8080", "/"), Some("[::1]|/"));
    assert_eq!(find(&t, "[::1]", "/"), Some("[::1]|/"));
    assert_eq!(find(&t, "10.0.0.1:80", "/"), Some("10.0.0.1|/"));
    assert_eq!(find(&t, "[::2]:8080", "/"), None);
}

#[test]
fn malformed_request_host_falls_to_any_host() {
    let t = table(&[(&["a.com"], "/"), (ANY, "/")]);
    assert_eq!(find(&t, "[::1", "/"), Some("|/"));
    assert_eq!(find(&t, &"a".repeat(300), "/"), Some("|/"));
}

#[test]
fn prefix_matches_on_segment_boundaries_only() {
    let t = table(&[(ANY, "/api")]);
    for path in ["/api", "/api/", "/api/x", "/api/x/y"] {
        assert_eq!(find(&t, "", path), Some("|/api"), "{path}");
    }
    for path in ["/apix", "/ap", "/", "/x/api"] {
        assert_eq!(find(&t, "", path), None, "{path}");
    }
}

#[test]
fn prefix_with_trailing_slash_needs_the_slash() {
    let t = table(&[(ANY, "/api/")]);
    assert_eq!(find(&t, "", "/api/"), Some("|/api/"));
    assert_eq!(find(&t, "", "/api/x"), Some("|/api/"));
    assert_eq!(find(&t, "", "/api"), None);
    assert_eq!(find(&t, "", "/apix"), None);
}

#[test]
fn root_prefix_matches_everything() {
    let t = table(&[(ANY, "/")]);
    for path in ["/", "/a", "/a/b/", "//"] {
        assert_eq!(find(&t, "", path), Some("|/"), "{path}");
    }
}

#[test]
fn path_not_starting_with_slash_matches_nothing() {
    let t = table(&[(ANY, "/")]);
    assert_eq!(find(&t, "", "*"), None);
    assert_eq!(find(&t, "", ""), None);
}

#[test]
fn longest_prefix_wins_and_reports_its_length() {
    let t = table(&[(ANY, "/"), (ANY, "/api"), (ANY, "/api/"), (ANY, "/api/v1")]);
    let len = |path| t.find(None, path).map(|m| m.prefix_len);
    assert_eq!(find(&t, "", "/api/v1/users"), Some("|/api/v1"));
    assert_eq!(len("/api/v1/users"), Some(7));
    assert_eq!(find(&t, "", "/api/v2"), Some("|/api/"));
    assert_eq!(find(&t, "", "/api"), Some("|/api"));
    assert_eq!(find(&t, "", "/api/v1x"), Some("|/api/"));
    assert_eq!(find(&t, "", "/other"), Some("|/"));
    assert_eq!(len("/other"), Some(1));
}

#[test]
fn paths_are_case_sensitive() {
    let t = table(&[(ANY, "/Api")]);
    assert_eq!(find(&t, "", "/api"), None);
    assert_eq!(find(&t, "", "/Api/x"), Some("|/Api"));
}

#[test]
fn unmatched_path_falls_back_to_less_specific_hosts() {
    let t = table(&[
        (&["api.example.com"], "/v2"),
        (&["*.example.com"], "/static"),
        (&["*.api.example.com"], "/v3"),
        (ANY, "/"),
    ]);
    assert_eq!(
        find(&t, "api.example.com", "/v2/x"),
        Some("api.example.com|/v2")
    );
    assert_eq!(
        find(&t, "api.example.com", "/static/a"),
        Some("*.example.com|/static")
    );
    assert_eq!(find(&t, "api.example.com", "/other"), Some("|/"));
    assert_eq!(
        find(&t, "x.api.example.com", "/static"),
        Some("*.example.com|/static")
    );
    assert_eq!(
        find(&t, "x.api.example.com", "/v3"),
        Some("*.api.example.com|/v3")
    );
}

#[test]
fn no_host_level_match_without_any_host_routes_is_a_miss() {
    let t = table(&[(&["api.example.com"], "/v2")]);
    assert_eq!(find(&t, "api.example.com", "/v1"), None);
    assert_eq!(find(&t, "", "/v2"), None);
}

#[test]
fn one_route_with_several_hosts() {
    let t = table(&[(&["a.com", "*.b.com"], "/x")]);
    assert_eq!(find(&t, "a.com", "/x"), Some("a.com,*.b.com|/x"));
    assert_eq!(find(&t, "c.b.com", "/x/y"), Some("a.com,*.b.com|/x"));
    assert_eq!(t.len(), 1);
}

#[test]
fn conflict_keeps_the_first_and_names_host_and_path() {
    let mut b = RouteTableBuilder::new();
    b.add(&["a.com", "b.com"], "/api", 1).unwrap();
    let err = b.add(&["c.com", "B.com"], "/api", 2).unwrap_err();
    let expected = RouteError::Conflict {
        host: Some("B.com".into()),
        path: "/api".into(),
    };
    assert_eq!(err, expected);
    assert_eq!(
        err.to_string(),
        "host B.com path /api is already routed to another service"
    );
    // All or nothing: c.com was not added either.
    let t = b.build();
    assert_eq!(t.find(Some("b.com"), "/api").map(|m| *m.target), Some(1));
    assert!(t.find(Some("c.com"), "/api").is_none());
}

#[test]
fn conflict_on_any_host_and_wildcard() {
    let mut b = RouteTableBuilder::new();
    b.add(ANY, "/", 1).unwrap();
    b.add(&["*.a.com"], "/", 2).unwrap();
    let err = b.add(ANY, "/", 3).unwrap_err();
    assert_eq!(
        err.to_string(),
        "any host path / is already routed to another service"
    );
    assert!(matches!(
        b.add(&["*.A.com."], "/", 4),
        Err(RouteError::Conflict { .. })
    ));
    // Different prefix or host level: no conflict.
    b.add(&["*.a.com"], "/x", 5).unwrap();
    b.add(&["x.a.com"], "/", 6).unwrap();
    b.add(ANY, "/api", 7).unwrap();
}

#[test]
fn duplicate_hosts_in_one_route_are_not_a_conflict() {
    let mut b = RouteTableBuilder::new();
    b.add(&["a.com", "A.com."], "/", 1).unwrap();
    assert_eq!(b.build().len(), 1);
}

#[test]
fn invalid_hosts_and_paths_are_refused() {
    let mut b = RouteTableBuilder::new();
    assert!(matches!(
        b.add(&["a.com:80"], "/", 1),
        Err(RouteError::InvalidHost(_))
    ));
    assert!(matches!(
        b.add(&["a.*.com"], "/", 1),
        Err(RouteError::InvalidHost(_))
    ));
    assert!(matches!(
        b.add(ANY, "api", 1),
        Err(RouteError::InvalidPath(_))
    ));
    assert!(matches!(
        b.add(ANY, "/a?b", 1),
        Err(RouteError::InvalidPath(_))
    ));
    assert!(matches!(b.add(ANY, "", 1), Err(RouteError::InvalidPath(_))));
    assert!(b.build().is_empty());
}

#[test]
fn empty_table_finds_nothing() {
    let t = RouteTableBuilder::<u8>::new().build();
    assert!(t.is_empty());
    assert!(t.find(Some("a.com"), "/").is_none());
}

#[test]
fn strip_prefix_keeps_a_leading_slash() {
    assert_eq!(strip_prefix("/api/x", 4), "/x");
    assert_eq!(strip_prefix("/api/x", 5), "/x");
    assert_eq!(strip_prefix("/api", 4), "/");
    assert_eq!(strip_prefix("/api/", 4), "/");
    assert_eq!(strip_prefix("/api/", 5), "/");
    assert_eq!(strip_prefix("/x/y", 1), "/x/y");
    assert_eq!(strip_prefix("/", 1), "/");
    // Not a match of the path: unchanged.
    assert_eq!(strip_prefix("/api", 9), "/api");
    assert_eq!(strip_prefix("/apix", 4), "/apix");
}

#[test]
fn strip_prefix_of_a_found_match() {
    let t = table(&[(ANY, "/api"), (ANY, "/static/")]);
    let strip = |path| strip_prefix(path, t.find(None, path).unwrap().prefix_len);
    assert_eq!(strip("/api/users?"), "/users?");
    assert_eq!(strip("/api"), "/");
    assert_eq!(strip("/static/css/a.css"), "/css/a.css");
}

mod reference {
    //! A naive matcher written from the rules, not from the implementation.

    /// Request host in normal form, or `None`.
    fn normalize(host: &str) -> Option<String> {
        let name = if let Some(rest) = host.strip_prefix('[') {
            let (inner, after) = rest.split_once(']')?;
            if !(after.is_empty() || after.starts_with(':')) {
                return None;
            }
            inner.to_string()
        } else if host.matches(':').count() == 1 {
            host.split(':').next()?.to_string()
        } else {
            host.to_string()
        };
        let name = name.strip_suffix('.').unwrap_or(&name).to_lowercase();
        (!name.is_empty() && name.len() <= 255).then_some(name)
    }

    /// Host specificity of a route for a host: `None` if it does not apply; exact routes
    /// rank above every wildcard, longer wildcards above shorter, any-host lowest.
    fn rank(route_host: Option<&str>, host: Option<&str>) -> Option<usize> {
        let Some(pattern) = route_host else {
            return Some(0);
        };
        let pattern = pattern.strip_suffix('.').unwrap_or(pattern).to_lowercase();
        let host = host?;
        if let Some(suffix) = pattern.strip_prefix('*') {
            let label = host.strip_suffix(suffix)?;
            (!label.is_empty()).then_some(suffix.len())
        } else {
            (pattern == host).then_some(usize::MAX)
        }
    }

    fn prefix_matches(prefix: &str, path: &str) -> bool {
        path.starts_with(prefix)
            && (prefix.ends_with('/')
                || path.len() == prefix.len()
                || path[prefix.len()..].starts_with('/'))
    }

    /// Index into `routes` of the best route and its prefix length.
    pub fn find(
        routes: &[(Option<String>, String)],
        host: Option<&str>,
        path: &str,
    ) -> Option<(usize, usize)> {
        let host = host.and_then(normalize);
        routes
            .iter()
            .enumerate()
            .filter(|(_, (_, prefix))| prefix_matches(prefix, path))
            .filter_map(|(i, (h, prefix))| {
                Some(((rank(h.as_deref(), host.as_deref())?, prefix.len()), i))
            })
            .max_by_key(|(key, _)| *key)
            .map(|((_, len), i)| (i, len))
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn label() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["a", "b", "A", "ab"]).prop_map(str::to_owned)
    }

    fn name() -> impl Strategy<Value = String> {
        prop::collection::vec(label(), 1..4).prop_map(|labels| labels.join("."))
    }

    fn route_host() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            Just(None),
            name().prop_map(Some),
            name().prop_map(|n| Some(format!("*.{n}"))),
        ]
    }

    fn request_host() -> impl Strategy<Value = Option<String>> {
        let decorated =
            (name(), any::<bool>(), prop::option::of(1u16..)).prop_map(|(n, dot, port)| {
                let n = if dot { format!("{n}.") } else { n };
                match port {
                    Some(port) => format!("{n}:{port}"),
                    None => n,
                }
            });
        prop_oneof![Just(None), decorated.prop_map(Some)]
    }

    fn path() -> impl Strategy<Value = String> {
        let segment = prop::sample::select(vec!["", "a", "b", "ab", "A"]);
        (prop::collection::vec(segment, 0..5), any::<bool>()).prop_map(|(segments, slash)| {
            let joined = format!("/{}", segments.join("/"));
            if slash && !joined.ends_with('/') {
                format!("{joined}/")
            } else {
                joined
            }
        })
    }

    proptest! {
        #[test]
        fn find_agrees_with_linear_reference(
            routes in prop::collection::vec((route_host(), path()), 0..40),
            requests in prop::collection::vec((request_host(), path()), 1..40),
        ) {
            let mut builder = RouteTableBuilder::new();
            let mut accepted = Vec::new();
            for (host, path) in &routes {
                let hosts: Vec<&str> = host.iter().map(String::as_str).collect();
                if builder.add(&hosts, path, accepted.len()).is_ok() {
                    accepted.push((host.clone(), path.clone()));
                }
            }
            let table = builder.build();
            for (host, path) in &requests {
                let got = table.find(host.as_deref(), path).map(|m| (*m.target, m.prefix_len));
                let want = reference::find(&accepted, host.as_deref(), path);
                prop_assert_eq!(got, want, "host {:?} path {:?}", host, path);
            }
        }

        #[test]
        fn conflicts_are_exactly_repeated_host_and_path(
            routes in prop::collection::vec((route_host(), path()), 0..40),
        ) {
            let mut builder = RouteTableBuilder::new();
            let mut seen = std::collections::HashSet::new();
            for (host, path) in &routes {
                let hosts: Vec<&str> = host.iter().map(String::as_str).collect();
                let key = (host.as_ref().map(|h| h.to_lowercase()), path.clone());
                prop_assert_eq!(builder.add(&hosts, path, ()).is_ok(), seen.insert(key));
            }
        }
    }
}
