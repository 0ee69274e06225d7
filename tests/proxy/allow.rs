//! IP allow-lists end to end: curl through an untrusted and a trusted listener (a spoofed
//! `X-Forwarded-For` from an untrusted peer is ignored, a trusted one's is read from the
//! right), the 403 never reaching the backend and counted, the policy in `/api/services`;
//! and an L4 service closing a connection from outside its list.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common;

/// `curl` through `addr` for `host`, with `X-Forwarded-For: xff` when given: status, body.
fn curl(addr: std::net::SocketAddr, host: &str, xff: Option<&str>) -> (u16, String) {
    let header = xff.map(|x| format!("X-Forwarded-For: {x}"));
    let extra: Vec<&str> = header.iter().flat_map(|h| ["-H", h.as_str()]).collect();
    let (status, _, body) = common::curl(addr, host, "/", &extra);
    (status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_lists_admit_by_the_client_address_and_refuse_with_403() {
    let backend = common::backend("office").await;
    let yaml = format!(
        "listeners:\n  web: {{ address: \"127.0.0.1:0\" }}\n  \
         edge: {{ address: \"127.0.0.1:0\", trusted_ips: [127.0.0.1] }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\n\
         docker: {{ enabled: false }}\nworkers: 1\nservices:\n  \
         local: {{ hosts: [local.test], allow: {{ ips: [127.0.0.0/8] }}, backends: [\"{b}\"] }}\n  \
         office: {{ hosts: [office.test], allow: {{ ips: [10.0.0.0/8, \"2001:db8::/32\"] }}, backends: [\"{b}\"] }}\n  \
         deep: {{ hosts: [deep.test], allow: {{ ips: [10.0.0.0/8], forwarded_depth: 2 }}, backends: [\"{b}\"] }}\n",
        b = backend.addr
    );
    let server = common::start(&yaml);
    let (web, edge) = (
        server.listener("web").expect("web"),
        server.listener("edge").expect("edge"),
    );
    assert_eq!(curl(web, "local.test", None), (200, "office".into()));
    let hits = backend.hits();
    assert_eq!(curl(web, "office.test", None), (403, "forbidden\n".into()));
    assert_eq!(
        curl(web, "office.test", Some("10.1.2.3")).0,
        403,
        "an untrusted peer's X-Forwarded-For is not believed"
    );
    assert_eq!(
        backend.hits(),
        hits,
        "a refused request never reaches the backend"
    );
    assert_eq!(curl(edge, "office.test", Some("10.1.2.3")).0, 200);
    assert_eq!(curl(edge, "office.test", Some("2001:db8::7")).0, 200);
    assert_eq!(
        curl(edge, "office.test", Some("10.1.2.3, 203.0.113.5")).0,
        403,
        "the right-most untrusted hop is the client, not a left part the client wrote"
    );
    assert_eq!(
        curl(edge, "deep.test", Some("10.1.2.3, 203.0.113.5")).0,
        200
    );
    assert_eq!(
        curl(edge, "deep.test", Some("203.0.113.5, 10.1.2.3")).0,
        403
    );

    let admin = format!("http://{}", server.admin);
    let denied = common::metric(
        &admin,
        "berth_policy_denied_total{service=\"office\",policy=\"allow\",reason=\"ip\"}",
    )
    .await;
    assert_eq!(denied, 3);
    let office = common::service(&admin, "office").await;
    assert_eq!(
        office["policies"]["allow"]["ips"],
        serde_json::json!(["10.0.0.0/8", "2001:db8::/32"]),
        "{office}"
    );
    assert!(common::service(&admin, "local").await["policies"]["allow"]["ips"].is_array());
}

/// A backend answering every connection with `hi`.
async fn greeter() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.write_all(b"hi").await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn an_l4_service_closes_connections_from_outside_its_list() {
    let b = greeter().await;
    let yaml = format!(
        "listeners:\n  open: {{ address: \"127.0.0.1:0\", protocol: tcp }}\n  \
         shut: {{ address: \"127.0.0.1:0\", protocol: tcp }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\n\
         docker: {{ enabled: false }}\nworkers: 1\nservices:\n  \
         l4open: {{ listener: open, allow: {{ ips: [127.0.0.1] }}, backends: [\"{b}\"] }}\n  \
         l4shut: {{ listener: shut, allow: {{ ips: [10.0.0.0/8] }}, backends: [\"{b}\"] }}\n"
    );
    let server = common::start(&yaml);
    let read_all = |addr| async move {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let mut got = Vec::new();
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read_to_end(&mut got)).await;
        (read.is_ok(), got)
    };
    assert_eq!(
        read_all(server.listener("open").expect("open")).await,
        (true, b"hi".to_vec())
    );
    assert_eq!(
        read_all(server.listener("shut").expect("shut")).await,
        (true, Vec::new()),
        "closed at once, the backend never reached"
    );
    let admin = format!("http://{}", server.admin);
    let denied = common::metric(
        &admin,
        "berth_policy_denied_total{service=\"l4shut\",policy=\"allow\",reason=\"ip\"}",
    )
    .await;
    assert_eq!(denied, 1);
}
