//! CORS end to end, as a browser does it: a preflight (`OPTIONS` with `Origin`,
//! `Access-Control-Request-Method` and `-Headers`) answered by berth without the backend's
//! hit counter moving, 403 for an origin not allowed (counted), and the actual request's
//! `Access-Control-Allow-Origin` with `Vary: Origin` merged.

use crate::common;

fn preflight(web: std::net::SocketAddr, origin: &str) -> (u16, String) {
    let origin = format!("Origin: {origin}");
    let (status, head, _) = common::curl(
        web,
        "cors.test",
        "/api/items",
        &[
            "-X",
            "OPTIONS",
            "-H",
            &origin,
            "-H",
            "Access-Control-Request-Method: PUT",
            "-H",
            "Access-Control-Request-Headers: x-request-id, content-type",
        ],
    );
    (status, format!("{}\r\n", head.to_ascii_lowercase()))
}

#[tokio::test(flavor = "multi_thread")]
async fn preflights_are_answered_by_berth_and_responses_carry_cors_headers() {
    let backend = common::backend("shape-cors").await;
    let yaml = common::yaml(&format!(
        "  cors:\n    hosts: [cors.test]\n    cors:\n      \
         origins: [\"https://app.test\", \"https://*.example.test\"]\n      \
         methods: [GET, PUT]\n      headers: [X-Request-Id, Content-Type]\n      \
         expose_headers: [X-Total]\n      credentials: true\n      max_age: 10m\n    \
         backends: [\"{b}\"]\n  \
         cors-auth:\n    hosts: [auth.test]\n    cors: {{ origins: \"https://app.test\", credentials: true }}\n    \
         auth: {{ basic: {{ users: [\"alice:$2y$05$yhoqlRUGoumjWjkivgbRL.KlL2YTDy2DqrrrGu41yftJTanaE9jd2\"] }} }}\n    \
         backends: [\"{b}\"]\n",
        b = backend.addr
    ));
    let server = common::start(&yaml);
    let web = server.listener("web").expect("web");
    let hits = backend.hits();
    let (status, head) = preflight(web, "https://app.test");
    assert_eq!(status, 204, "{head}");
    for want in [
        "access-control-allow-origin: https://app.test\r\n",
        "access-control-allow-methods: get, put\r\n",
        "access-control-allow-headers: x-request-id, content-type\r\n",
        "access-control-allow-credentials: true\r\n",
        "access-control-max-age: 600\r\n",
        "vary: origin\r\n",
    ] {
        assert!(head.contains(want), "{want:?} in {head}");
    }
    let (status, head) = preflight(web, "https://evil.test");
    assert_eq!(status, 403, "{head}");
    assert!(!head.contains("access-control-allow-origin"), "{head}");
    assert_eq!(backend.hits(), hits, "preflights never reach the backend");

    let (status, head, _) = common::curl(
        web,
        "cors.test",
        "/",
        &["-H", "Origin: https://a.b.example.test"],
    );
    assert_eq!(status, 200);
    let head = format!("{}\r\n", head.to_ascii_lowercase());
    assert!(
        head.contains("access-control-allow-origin: https://a.b.example.test\r\n"),
        "{head}"
    );
    assert!(
        head.contains("access-control-expose-headers: x-total\r\n"),
        "{head}"
    );
    assert!(head.contains("vary: origin\r\n"), "{head}");
    let (_, head, _) = common::curl(web, "cors.test", "/", &["-H", "Origin: https://evil.test"]);
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{head}"
    );
    let (status, _, _) = common::curl(
        web,
        "cors.test",
        "/",
        &["-X", "OPTIONS", "-H", "Origin: https://app.test"],
    );
    assert_eq!(
        status, 200,
        "an OPTIONS without Access-Control-Request-Method is forwarded"
    );
    assert_eq!(backend.hits(), hits + 3);

    let (status, head, _) = common::curl(
        web,
        "auth.test",
        "/",
        &[
            "-X",
            "OPTIONS",
            "-H",
            "Origin: https://app.test",
            "-H",
            "Access-Control-Request-Method: GET",
        ],
    );
    assert_eq!(status, 204, "preflights come before authentication: {head}");
    let (status, head, _) =
        common::curl(web, "auth.test", "/", &["-H", "Origin: https://app.test"]);
    assert_eq!(status, 401);
    assert!(
        head.to_ascii_lowercase()
            .contains("access-control-allow-origin: https://app.test"),
        "a refusal carries CORS headers, so the page can read it: {head}"
    );

    let admin = format!("http://{}", server.admin);
    let denied = common::metric(
        &admin,
        "berth_policy_denied_total{service=\"cors\",policy=\"cors\",reason=\"origin\"}",
    )
    .await;
    assert_eq!(denied, 1);
    let cors = &common::service(&admin, "cors").await["shape"]["cors"];
    assert_eq!(
        cors["origins"],
        serde_json::json!(["https://app.test", "https://*.example.test"])
    );
    assert_eq!(cors["max_age_s"], 600);
}
