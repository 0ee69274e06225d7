//! Forward authentication end to end with curl and a small auth service of the test's own,
//! following the Authelia/oauth2-proxy conventions: a signed-in client passes with
//! `Remote-User` copied to the backend (a forged one from the client removed), others get
//! the auth service's redirect to its login page; an auth service that is down or slow is
//! answered 503 (or 401 when configured), all counted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::common;

/// The auth service: `Cookie: session=alice` passes as alice; `/slow` answers after 3 s;
/// anything else is sent to the login page with the original URL it was told about.
async fn auth_service() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<Incoming>| async move {
                    if req.uri().path() == "/slow" {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let response = if h("cookie") == "session=alice" {
                        Response::builder()
                            .status(200)
                            .header("remote-user", "alice")
                            .header("remote-groups", "admins")
                            .body(Full::new(Bytes::new()))
                    } else {
                        let to = format!(
                            "https://login.test/?rd={}://{}{}&method={}&for={}",
                            h("x-forwarded-proto"),
                            h("x-forwarded-host"),
                            h("x-forwarded-uri"),
                            h("x-forwarded-method"),
                            h("x-forwarded-for"),
                        );
                        Response::builder()
                            .status(302)
                            .header("location", to)
                            .body(Full::new(Bytes::from_static(b"sign in first")))
                    };
                    Ok::<_, Infallible>(response.expect("response"))
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// `curl` for `host` and `path`: status, head (lowercase), body.
fn curl(addr: SocketAddr, host: &str, path: &str, extra: &[&str]) -> (u16, String, String) {
    let (status, head, body) = common::curl(addr, host, path, extra);
    (status, head.to_lowercase(), body)
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_auth_passes_signed_in_clients_and_returns_the_login_redirect() {
    let backend = common::backend("app").await;
    let auth = auth_service().await;
    let dead = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead_addr = dead.local_addr().expect("addr");
    drop(dead);
    let yaml = common::yaml(&format!(
        "  app:\n    hosts: [app.test]\n    \
         auth: {{ forward: {{ url: \"http://{auth}/verify\", response_headers: [Remote-User, Remote-Groups] }} }}\n    \
         backends: [\"{b}\"]\n  \
         down:\n    hosts: [down.test]\n    auth: {{ forward: {{ url: \"http://{dead_addr}/\" }} }}\n    \
         backends: [\"{b}\"]\n  \
         slow:\n    hosts: [slow.test]\n    \
         auth: {{ forward: {{ url: \"http://{auth}/slow\", timeout: 500ms, failure_status: 401 }} }}\n    \
         backends: [\"{b}\"]\n",
        b = backend.addr
    ));
    let server = common::start(&yaml);
    let web = server.listener("web").expect("web");

    let (status, head, body) = curl(web, "app.test", "/private?x=1", &["-X", "DELETE"]);
    assert_eq!((status, body.as_str()), (302, "sign in first"));
    assert!(
        head.contains("location: https://login.test/?rd=http://app.test/private?x=1&method=delete")
            || head.contains(
                "location: https://login.test/?rd=http://app.test/private?x=1&method=DELETE"
            ),
        "the auth service was told the original method, host and URI: {head}"
    );
    assert!(head.contains("&for=127.0.0.1"), "{head}");
    assert_eq!(
        backend.hits(),
        0,
        "a refused request never reaches the backend"
    );

    let forged = ["-H", "Cookie: session=alice", "-H", "Remote-User: root"];
    let (status, _, headers) = curl(web, "app.test", "/headers", &forged);
    assert_eq!(status, 200);
    let headers = headers.to_lowercase();
    assert!(headers.contains("remote-user: alice"), "{headers}");
    assert!(headers.contains("remote-groups: admins"), "{headers}");
    assert!(
        !headers.contains("remote-user: root"),
        "the client's copy is removed: {headers}"
    );

    let (status, _, body) = curl(web, "down.test", "/", &[]);
    assert_eq!(
        (status, body.as_str()),
        (503, "authentication service unavailable\n")
    );
    assert_eq!(
        curl(web, "slow.test", "/", &[]).0,
        401,
        "timeout, answered 401 as configured"
    );

    let admin = format!("http://{}", server.admin);
    let denied = |service: &'static str, reason: &'static str| {
        let admin = admin.clone();
        async move {
            let series = format!(
                "berth_policy_denied_total{{service=\"{service}\",policy=\"forward_auth\",reason=\"{reason}\"}}"
            );
            common::metric(&admin, &series).await
        }
    };
    assert_eq!(denied("app", "denied").await, 1);
    assert_eq!(denied("down", "error").await, 1);
    assert_eq!(denied("slow", "timeout").await, 1);
}
