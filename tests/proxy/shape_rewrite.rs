//! Rewrites and redirects end to end: the path the backend receives (its `x-path` answer
//! header) after `strip_prefix` → `replace_path(_regex)` → `add_prefix`, and the status and
//! `Location` of per-service scheme and regex redirects, which never reach the backend, and
//! their count in `berth_redirects_total` under the service and its rule.

use crate::common;

#[tokio::test(flavor = "multi_thread")]
async fn paths_are_rewritten_in_order_and_redirects_answered() {
    let backend = common::backend("shape-rewrite").await;
    let yaml = common::yaml(&format!(
        "  prefixed: {{ hosts: [rw.test], path: /api, strip_prefix: true, add_prefix: /v1, backends: [\"{b}\"] }}\n  \
         regex: {{ hosts: [rx.test], path: /svc, strip_prefix: true, replace_path_regex: {{ regex: \"^/old/(.*)$\", replacement: /new/$1 }}, add_prefix: /v2, backends: [\"{b}\"] }}\n  \
         fixed: {{ hosts: [fixed.test], replace_path: /status, backends: [\"{b}\"] }}\n  \
         secure: {{ hosts: [secure.test], redirect_scheme: https, backends: [\"{b}\"] }}\n  \
         moved: {{ hosts: [old.test], redirect_regex: {{ regex: \"^http://old.test/moved/(.*)\", replacement: \"https://new.test/$1\", status: 307 }}, backends: [\"{b}\"] }}\n",
        b = backend.addr
    ));
    let server = common::start(&yaml);
    let web = server.listener("web").expect("web");
    let path_seen = |host: &str, path: &str| {
        let (status, head, _) = common::curl(web, host, path, &[]);
        assert_eq!(status, 200, "{host}{path}: {head}");
        let line = head
            .lines()
            .find_map(|l| l.strip_prefix("x-path: "))
            .unwrap_or_else(|| panic!("no x-path in {head}"));
        line.trim().to_owned()
    };
    assert_eq!(path_seen("rw.test", "/api/users?id=3"), "/v1/users");
    assert_eq!(path_seen("rw.test", "/api"), "/v1/");
    assert_eq!(path_seen("rw.test", "/api/a/../b"), "/v1/b");
    assert_eq!(path_seen("rx.test", "/svc/old/x"), "/v2/new/x");
    assert_eq!(path_seen("rx.test", "/svc/other"), "/v2/other");
    assert_eq!(path_seen("fixed.test", "/anything"), "/status");
    assert_eq!(path_seen("old.test", "/nope"), "/nope", "no match: proxied");

    let hits = backend.hits();
    let location = |head: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix("location: "))
            .map(|l| l.trim().to_owned())
    };
    let (status, head, _) = common::curl(web, "secure.test", "/p?q=1", &[]);
    assert_eq!(status, 301, "{head}");
    assert_eq!(
        location(&head).as_deref(),
        Some("https://secure.test/p?q=1")
    );
    let (status, head, _) = common::curl(web, "secure.test", "/form", &["-X", "POST"]);
    assert_eq!(status, 308, "{head}");
    assert_eq!(location(&head).as_deref(), Some("https://secure.test/form"));
    let (status, head, _) = common::curl(web, "old.test", "/moved/a/b?c=d", &[]);
    assert_eq!(status, 307, "{head}");
    assert_eq!(location(&head).as_deref(), Some("https://new.test/a/b?c=d"));
    assert_eq!(backend.hits(), hits, "redirects never reach the backend");

    let admin = format!("http://{}", server.admin);
    let moved = common::service(&admin, "moved").await;
    assert_eq!(
        moved["shape"]["redirect_regex"],
        "^http://old.test/moved/(.*) → https://new.test/$1 (307)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn service_redirects_are_counted_by_service_and_rule() {
    let backend = common::backend("shape-redirect-count").await;
    let yaml = common::yaml(&format!(
        "  rdc-scheme: {{ hosts: [rdc-s.test], redirect_scheme: https, backends: [\"{b}\"] }}\n  \
         rdc-regex: {{ hosts: [rdc-r.test], redirect_regex: {{ regex: \"^http://rdc-r.test/a/(.*)\", replacement: \"http://rdc-r.test/b/$1\" }}, backends: [\"{b}\"] }}\n",
        b = backend.addr
    ));
    let server = common::start(&yaml);
    let web = server.listener("web").expect("web");
    for _ in 0..2 {
        assert_eq!(common::curl(web, "rdc-s.test", "/x", &[]).0, 301);
    }
    assert_eq!(common::curl(web, "rdc-r.test", "/a/1", &[]).0, 302);
    assert_eq!(
        common::curl(web, "rdc-r.test", "/b/1", &[]).0,
        200,
        "proxied"
    );

    let admin = format!("http://{}", server.admin);
    let series = |service: &str, rule: &str| {
        format!("berth_redirects_total{{listener=\"web\",service=\"{service}\",rule=\"{rule}\"}} ")
    };
    let scheme = series("rdc-scheme", "redirect_scheme");
    assert_eq!(common::metric(&admin, &scheme).await, 2);
    let regex = series("rdc-regex", "redirect_regex");
    assert_eq!(common::metric(&admin, &regex).await, 1);
    let never = series("rdc-regex", "redirect_scheme");
    assert_eq!(common::metric(&admin, &never).await, 0);
}
