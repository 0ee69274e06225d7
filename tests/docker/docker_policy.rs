//! Policies from labels against a real engine: a container labelled with an allow-list is
//! served with it (its clients inside the list pass, the others get 403), one labelled with
//! Basic auth users asks for credentials, and a container with a bad policy label is rejected
//! alone while the others serve.

use crate::docker_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_labels_apply_and_a_bad_one_rejects_only_its_container() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let image = TestImage::build_plain(&run);
    let net = Network::create(&run, "net");
    let b = Berth::start(&run, "defaults: { slow_start: 0s }\n");
    let start = |name: &str, host: &str, ips: &str| {
        ContainerBuilder::new(&run, &image)
            .name(name)
            .env("NAME", name)
            .label(&b.label("enable"), "true")
            .label(&b.label("http.hosts"), host)
            .label(&b.label("allow.ips"), ips)
            .network(&net)
            .start()
    };
    let inside = start("inside", "inside.test", "127.0.0.0/8, ::1");
    let outside = start("outside", "outside.test", "10.0.0.0/8");
    let bad = start("bad", "bad.test", "10.0.0.0/33");
    // Cost 4, the least bcrypt allows: the test checks the policy, not the hash.
    let hash = bcrypt::hash("secret", 4).expect("bcrypt");
    let locked = ContainerBuilder::new(&run, &image)
        .name("locked")
        .env("NAME", "locked")
        .label(&b.label("enable"), "true")
        .label(&b.label("http.hosts"), "locked.test")
        .label(&b.label("auth.basic.users"), &format!("alice:{hash}"))
        .network(&net)
        .start();
    let http = client();
    b.wait_routable(&http, &run.name("inside"), &[&inside.id])
        .await;
    b.wait_routable(&http, &run.name("outside"), &[&outside.id])
        .await;
    b.wait_routable(&http, &run.name("locked"), &[&locked.id])
        .await;
    wait_for(CONVERGE, "bad rejected", || async {
        let ids = b.rejected_ids(&http).await;
        match ids.contains(&bad.id) {
            true => Ok(()),
            false => Err(format!("{ids:?}")),
        }
    })
    .await;
    let get = |host: &'static str| {
        let http = http.clone();
        let url = b.url("/");
        async move {
            let r = http
                .get(url)
                .header("host", host)
                .send()
                .await
                .expect("GET");
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    let (status, body) = get("inside.test").await;
    assert_eq!((status, body.as_str()), (200, "inside"));
    assert_eq!(get("outside.test").await, (403, "forbidden\n".to_owned()));
    assert_eq!(
        get("bad.test").await.0,
        404,
        "the rejected container is not routed"
    );
    let rejected: serde_json::Value = http
        .get(b.admin_url("/api/rejected"))
        .send()
        .await
        .expect("rejected")
        .json()
        .await
        .expect("JSON");
    let reason = rejected.to_string();
    assert!(
        reason.contains("allow.ips") && reason.contains("10.0.0.0/33"),
        "{reason}"
    );
}
