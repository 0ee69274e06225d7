//! `in_flight.per_client`: a client with its cap of requests in flight gets 429 for one
//! more, while another client is served; the cap frees as its requests end.

use std::time::Duration;

use crate::common;

#[tokio::test(flavor = "multi_thread")]
async fn a_client_at_its_cap_gets_429_and_others_are_served() {
    let backend = common::backend("capped").await;
    let yaml = common::yaml(&format!(
        "  capped:\n    in_flight: {{ per_client: 2 }}\n    backends: [\"{}\"]\n",
        backend.addr
    ));
    let server = common::start(&yaml);
    let base = common::base(&server);
    let a = common::client_from("127.0.0.1");
    let slow = |c: reqwest::Client| {
        let url = format!("{base}/slow?ms=1500");
        tokio::spawn(async move { c.get(url).send().await.expect("slow").status().as_u16() })
    };
    let (s1, s2) = (slow(a.clone()), slow(a.clone()));
    crate::wait::wait_until(
        Duration::from_secs(5),
        "two requests at the backend",
        || async { backend.hits() == 2 },
    )
    .await;
    let third = a.get(format!("{base}/")).send().await.expect("third");
    assert_eq!(third.status(), 429);
    assert_eq!(third.headers()["retry-after"], "1");
    let b = common::client_from("127.0.0.2");
    assert_eq!(
        b.get(format!("{base}/")).send().await.expect("b").status(),
        200
    );
    assert_eq!((s1.await.expect("s1"), s2.await.expect("s2")), (200, 200));
    assert_eq!(
        a.get(format!("{base}/"))
            .send()
            .await
            .expect("again")
            .status(),
        200
    );
    let admin = format!("http://{}", server.admin);
    let denied = common::metric(
        &admin,
        "berth_policy_denied_total{service=\"capped\",policy=\"in_flight\",reason=\"per_client\"}",
    )
    .await;
    assert_eq!(denied, 1);
}
