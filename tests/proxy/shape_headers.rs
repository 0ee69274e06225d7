//! Header edits end to end: what the backend receives (its `/headers` echo) and what the
//! client gets, on proxied answers and on berth's own; a client's `Connection` list cannot
//! take a configured request header away; `/api/services` shows the edits.

use crate::common;

#[tokio::test(flavor = "multi_thread")]
async fn request_and_response_headers_are_edited() {
    let backend = common::backend("shape-headers").await;
    let yaml = common::yaml(&format!(
        "  hdr:\n    hosts: [hdr.test]\n    retries: 0\n    headers:\n      \
         request: {{ set: {{ X-Env: prod }}, add: {{ X-Tag: berth }}, remove: [X-Debug] }}\n      \
         response: {{ set: {{ X-Frame-Options: DENY, Content-Security-Policy: \"default-src 'self'\" }}, add: {{ X-Served-By: berth }}, remove: [X-Backend] }}\n    \
         backends: [\"{b}\"]\n  \
         down:\n    hosts: [down.test]\n    retries: 0\n    \
         headers: {{ response: {{ set: {{ X-Frame-Options: SAMEORIGIN }} }} }}\n    \
         backends: [\"127.0.0.1:1\"]\n",
        b = backend.addr
    ));
    let server = common::start(&yaml);
    let web = server.listener("web").expect("web");
    let (status, head, body) = common::curl(
        web,
        "hdr.test",
        "/headers",
        &[
            "-H",
            "X-Debug: 1",
            "-H",
            "X-Env: dev",
            "-H",
            "X-Tag: client",
            "-H",
            "Connection: X-Env",
        ],
    );
    assert_eq!(status, 200, "{head}");
    assert!(
        body.contains("x-env: prod\n"),
        "set replaces, and Connection cannot remove it: {body}"
    );
    assert!(!body.contains("x-env: dev"), "{body}");
    assert!(
        body.contains("x-tag: client\n") && body.contains("x-tag: berth\n"),
        "add appends: {body}"
    );
    assert!(!body.contains("x-debug"), "{body}");
    assert!(
        body.contains("x-forwarded-for: 127.0.0.1\n"),
        "berth's own headers stay: {body}"
    );
    let head = format!("{}\r\n", head.to_ascii_lowercase());
    assert!(head.contains("x-frame-options: deny\r\n"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'\r\n"),
        "{head}"
    );
    assert!(head.contains("x-served-by: berth\r\n"), "{head}");
    assert!(
        !head.contains("x-backend"),
        "removed from the upstream's answer: {head}"
    );

    let (status, head, _) = common::curl(web, "down.test", "/", &[]);
    assert_eq!(status, 502);
    assert!(
        head.to_ascii_lowercase()
            .contains("x-frame-options: sameorigin"),
        "berth's own answers are edited too: {head}"
    );

    let admin = format!("http://{}", server.admin);
    let hdr = common::service(&admin, "hdr").await;
    let shape = &hdr["shape"];
    assert_eq!(shape["request_headers"]["set"]["x-env"], "prod", "{hdr}");
    assert_eq!(
        shape["response_headers"]["remove"],
        serde_json::json!(["x-backend"])
    );
    assert!(common::service(&admin, "down").await["shape"]["request_headers"].is_null());
}
