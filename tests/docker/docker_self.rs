//! berth running in a container itself (static binary, `FROM scratch`, the engine's socket
//! mounted): it finds its own container and prefers the network it shares with a replica
//! that sits on two networks, instead of rejecting the replica as ambiguous.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::docker_common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn berth_in_a_container_prefers_the_network_it_shares() {
    if !require_engine() {
        return;
    }
    let run = RunId::new();
    let _cleanup = run.cleanup();
    let prefix = format!("t{}", run.as_str().replace('-', ""));
    let (shared, other) = (
        Network::create(&run, "shared"),
        Network::create(&run, "other"),
    );
    let replica_image = TestImage::build_plain(&run);
    let config = format!(
        "listeners:\n  web: {{ address: \"0.0.0.0:8080\" }}\n\
         admin: {{ address: \"0.0.0.0:9900\" }}\n\
         docker: {{ enabled: true, endpoint: \"unix:///var/run/docker.sock\", label_prefix: {prefix} }}\n\
         workers: 1\n"
    );
    let berth_image = TestImage::build_berth(&run, &config);
    let berth = ContainerBuilder::new(&run, &berth_image)
        .name("berth")
        .network(&shared)
        .arg("--volume=/var/run/docker.sock:/var/run/docker.sock")
        .start();
    let replica = ContainerBuilder::new(&run, &replica_image)
        .name("rep")
        .env("NAME", "rep")
        .label(&format!("{prefix}.enable"), "true")
        .label(&format!("{prefix}.service"), "api")
        .network(&other)
        .network(&shared)
        .start();

    let admin = SocketAddr::new(berth.ip(&shared), 9900);
    let want = format!("{}:{REPLICA_PORT}", replica.ip(&shared));
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(30);
    let endpoint = loop {
        let doc: Option<serde_json::Value> = match http
            .get(format!("http://{admin}/api/services"))
            .send()
            .await
        {
            Ok(r) => r.json().await.ok(),
            Err(_) => None,
        };
        let endpoint = doc.and_then(|d| d["services"][0]["endpoints"][0].as_object().cloned());
        if let Some(e) = endpoint.filter(|e| e["address"] == want.as_str()) {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "berth never routed {want}; its logs:\n{}",
            berth.logs()
        );
        // The poll interval of this wait (its deadline and message are above).
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let origin = endpoint["origin"].as_str().unwrap_or("");
    assert!(
        origin.contains(&shared.name) && origin.contains("shared with berth"),
        "{origin}"
    );

    let web = SocketAddr::new(berth.ip(&shared), 8080);
    let body = http
        .get(format!("http://{web}/"))
        .send()
        .await
        .expect("through berth in its container")
        .text()
        .await
        .expect("body");
    assert_eq!(body, "rep");
}
