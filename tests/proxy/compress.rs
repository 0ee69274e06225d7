//! Response compression end to end, with curl as the client (its own zlib, libbrotli and
//! libzstd decode): each encoding byte for byte, q-values, `Vary`, weak ETags, and what is
//! never compressed (small bodies, images, ranged or already encoded responses, HEAD).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::common::{self, curl, yaml, BoxBody};

/// About 26 KiB of text that compresses well, but not to nothing.
fn page() -> String {
    (0..800)
        .map(|i| format!("<p>line {i:05} of the page {}</p>\n", i * 7919 % 1000))
        .collect()
}

/// A backend answering by path: `/page` (HTML with a length and a strong ETag), `/stream`
/// (the page in chunks, no length), `/small`, `/image`, `/range` (206), `/encoded`
/// (`Content-Encoding: gzip`), `/no-transform`.
async fn backend() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    Ok::<_, Infallible>(answer(req.uri().path()))
                });
                let io = TokioIo::new(stream);
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, task)
}

fn answer(path: &str) -> Response<BoxBody> {
    let full = |b: String| Full::new(Bytes::from(b)).boxed();
    let (status, ty, body, extra): (u16, &str, BoxBody, Option<(&str, &str)>) = match path {
        "/page" => (
            200,
            "text/html; charset=utf-8",
            full(page()),
            Some(("etag", "\"v1\"")),
        ),
        "/stream" => {
            let chunks: Vec<Result<Frame<Bytes>, Infallible>> = page()
                .into_bytes()
                .chunks(4096)
                .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
                .collect();
            (
                200,
                "application/json",
                StreamBody::new(stream::iter(chunks)).boxed(),
                None,
            )
        }
        "/small" => (200, "text/html", full("<p>tiny</p>".repeat(10)), None),
        "/image" => (200, "image/png", full(page()), None),
        "/range" => (
            206,
            "text/plain",
            full(page()),
            Some(("content-range", "bytes 0-40959/99999")),
        ),
        "/encoded" => (
            200,
            "text/plain",
            full(page()),
            Some(("content-encoding", "gzip")),
        ),
        _ => (
            200,
            "text/plain",
            full(page()),
            Some(("cache-control", "no-transform")),
        ),
    };
    let mut response = Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
    let h = response.headers_mut();
    h.insert("content-type", ty.parse().expect("type"));
    if let Some((k, v)) = extra {
        h.insert(k, v.parse().expect("value"));
    }
    response
}

/// The value of header `name` in a curl response head (any case), if present.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// `curl` in a blocking thread (the backend runs on this runtime).
async fn get(
    addr: SocketAddr,
    path: &'static str,
    extra: Vec<&'static str>,
) -> (u16, String, String) {
    tokio::task::spawn_blocking(move || curl(addr, "c.test", path, &extra))
        .await
        .expect("curl thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_encoding_round_trips_byte_for_byte() {
    let (up, _task) = backend().await;
    let server = common::start(&yaml(&format!(
        "  c: {{ compress: true, backends: [\"{up}\"] }}\n"
    )));
    let web = server.listener("web").expect("web");
    for encoding in ["gzip", "br", "zstd"] {
        let accept = Box::leak(format!("Accept-Encoding: {encoding}").into_boxed_str());
        for path in ["/page", "/stream"] {
            let (status, head, body) = get(web, path, vec!["--compressed", "-H", accept]).await;
            assert_eq!(status, 200, "{head}");
            assert_eq!(
                header(&head, "content-encoding"),
                Some(encoding),
                "{path}: {head}"
            );
            assert_eq!(header(&head, "vary"), Some("Accept-Encoding"), "{head}");
            assert_eq!(header(&head, "content-length"), None, "{head}");
            assert!(
                body == page(),
                "{encoding} {path}: the decoded body differs"
            );
        }
        let (_, head, _) = get(web, "/page", vec!["--compressed", "-H", accept]).await;
        assert_eq!(header(&head, "etag"), Some("W/\"v1\""), "{head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn q_values_pick_the_encoding() {
    let (up, _task) = backend().await;
    let server = common::start(&yaml(&format!(
        "  c: {{ compress: {{ encodings: [br, zstd, gzip] }}, backends: [\"{up}\"] }}\n"
    )));
    let web = server.listener("web").expect("web");
    let cases = [
        ("Accept-Encoding: gzip;q=0, br", Some("br")),
        ("Accept-Encoding: gzip, br;q=0.5", Some("gzip")),
        ("Accept-Encoding: gzip, zstd, br", Some("br")),
        ("Accept-Encoding: *;q=0.2, br;q=0", Some("zstd")),
        ("Accept-Encoding: identity", None),
    ];
    for (accept, want) in cases {
        let (_, head, body) = get(web, "/page", vec!["--compressed", "-H", accept]).await;
        assert_eq!(header(&head, "content-encoding"), want, "{accept}: {head}");
        assert_eq!(header(&head, "vary"), Some("Accept-Encoding"), "{head}");
        assert!(body == page(), "{accept}: the body differs");
    }
    // No Accept-Encoding at all: the body as it is, with its length.
    let (_, head, _) = get(web, "/page", vec![]).await;
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert!(header(&head, "content-length").is_some(), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn some_responses_are_never_compressed() {
    let (up, _task) = backend().await;
    let server = common::start(&yaml(&format!(
        "  c: {{ compress: {{ min_size: 1KB }}, backends: [\"{up}\"] }}\n"
    )));
    let web = server.listener("web").expect("web");
    let accept = "Accept-Encoding: gzip, br, zstd";
    for path in ["/small", "/image", "/range", "/no-transform"] {
        let (_, head, _) = get(web, path, vec!["-H", accept]).await;
        assert_eq!(header(&head, "content-encoding"), None, "{path}: {head}");
        assert!(header(&head, "content-length").is_some(), "{path}: {head}");
    }
    // Already encoded by the upstream: passed through untouched (not encoded twice).
    let (_, head, body) = get(web, "/encoded", vec!["-H", accept]).await;
    assert_eq!(header(&head, "content-encoding"), Some("gzip"), "{head}");
    assert_eq!(body, page());
    let (_, head, _) = get(web, "/page", vec!["-I", "-H", accept]).await;
    assert_eq!(header(&head, "content-encoding"), None, "HEAD: {head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_without_compress_are_untouched_and_the_api_shows_it() {
    let (up, _task) = backend().await;
    let server = common::start(&yaml(&format!(
        "  c: {{ compress: {{ encodings: [gzip], types: [text/*] }}, backends: [\"{up}\"] }}\n  \
         plain: {{ path: /plain, strip_prefix: true, backends: [\"{up}\"] }}\n"
    )));
    let web = server.listener("web").expect("web");
    let (_, head, _) = get(web, "/plain/page", vec!["-H", "Accept-Encoding: gzip"]).await;
    assert_eq!(header(&head, "content-encoding"), None, "{head}");
    assert_eq!(header(&head, "vary"), None, "{head}");
    let admin = format!("http://{}", server.admin);
    let doc = common::service(&admin, "c").await;
    assert_eq!(doc["compress"], "gzip from 1024 bytes; types text/*");
    assert_eq!(
        common::service(&admin, "plain").await["compress"],
        serde_json::Value::Null
    );
}
