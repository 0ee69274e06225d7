//! `max_request_body` end to end: an upload whose `Content-Length` is over the limit gets
//! 413 without the backend seeing it; a chunked one gets 413 as soon as it passes the limit
//! (the upstream request is aborted, the backend never answers it); both are counted as the
//! client's (`berth_client_body_errors_total{reason="too_large"}`), and a body within the
//! limit goes through whole.

use std::convert::Infallible;

use bytes::Bytes;

use crate::common;

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_limit_get_413() {
    let backend = common::backend("shape-body").await;
    let yaml = common::yaml(&format!(
        "  limited:\n    hosts: [limited.test]\n    max_request_body: 1KiB\n    \
         backends: [\"{b}\"]\n",
        b = backend.addr
    ));
    let server = common::start(&yaml);
    let url = format!("{}/upload", common::base(&server));
    let client = common::client();
    let post = |body: reqwest::Body| {
        client
            .post(&url)
            .header("host", "limited.test")
            .body(body)
            .send()
    };
    let within = post(vec![7u8; 1024].into()).await.expect("upload");
    assert_eq!(within.status(), 200);
    assert_eq!(within.text().await.expect("body"), "1024");

    let hits = backend.hits();
    let declared = post(vec![7u8; 4096].into()).await.expect("upload");
    assert_eq!(declared.status(), 413);
    assert_eq!(
        declared.text().await.expect("body"),
        "request body too large\n"
    );
    assert_eq!(backend.hits(), hits, "refused before the backend is asked");

    let chunks = (0..16).map(|_| Ok::<_, Infallible>(Bytes::from(vec![7u8; 512])));
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let chunked = post(streamed).await.expect("chunked upload");
    assert_eq!(chunked.status(), 413);

    let (status, _, body) = common::curl(
        server.listener("web").expect("web"),
        "limited.test",
        "/upload",
        &["--data-binary", &"x".repeat(2000)],
    );
    assert_eq!((status, body.as_str()), (413, "request body too large\n"));

    let admin = format!("http://{}", server.admin);
    let refused = common::metric(
        &admin,
        "berth_client_body_errors_total{service=\"limited\",reason=\"too_large\"}",
    )
    .await;
    assert_eq!(refused, 3);
    let limited = common::service(&admin, "limited").await;
    assert_eq!(limited["shape"]["max_request_body"], 1024, "{limited}");
}
