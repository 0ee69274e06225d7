//! The admin API: each read endpoint's document, and the bearer token that mutations need
//! (403 with none configured, 401 without the right one, 200 with it).

use serde_json::Value;

use crate::common::{self, backend, client, yaml, ADMIN_TOKEN};

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

async fn get_json(url: &str) -> Value {
    let (status, body) = get(url).await;
    assert_eq!(status, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn mutations_need_the_bearer_token() {
    let a = backend("tok-a").await;
    let server = common::start(&yaml(&format!("  tok: {{ backends: [\"{}\"] }}\n", a.addr)));
    let drain = format!(
        "http://{}/api/services/tok/endpoints/{}/drain",
        server.admin, a.addr
    );
    let r = client().post(&drain).send().await.expect("post");
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"berth admin\""
    );
    let r = client()
        .post(&drain)
        .bearer_auth("not-the-token-at-all")
        .send()
        .await;
    assert_eq!(r.expect("post").status(), 401);
    let doc = get_json(&format!("http://{}/api/services/tok", server.admin)).await;
    assert_eq!(
        doc["endpoints"][0]["state"], "routable",
        "refused calls change nothing"
    );
    let r = client().post(&drain).bearer_auth(ADMIN_TOKEN).send().await;
    assert_eq!(r.expect("post").status(), 200);
    let doc = get_json(&format!("http://{}/api/services/tok", server.admin)).await;
    assert_eq!(doc["endpoints"][0]["reason"], "drained by admin");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_mutations_are_refused_and_say_how_to_enable_them() {
    let a = backend("notok-a").await;
    let server = common::start(&format!(
        "listeners:\n  web: {{ address: \"127.0.0.1:0\" }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\ndocker: {{ enabled: false }}\nworkers: 1\n\
         services:\n  notok: {{ backends: [\"{}\"] }}\n",
        a.addr
    ));
    let drain = format!(
        "http://{}/api/services/notok/endpoints/{}/drain",
        server.admin, a.addr
    );
    let r = client().post(&drain).bearer_auth(ADMIN_TOKEN).send().await;
    let r = r.expect("post");
    assert_eq!(r.status(), 403);
    let body = r.text().await.expect("body");
    assert!(
        body.contains("admin.token_file") && body.contains("BERTH_ADMIN_TOKEN"),
        "{body}"
    );
    let doc = get_json(&format!("http://{}/api/services/notok", server.admin)).await;
    assert_eq!(doc["endpoints"][0]["state"], "routable");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn one_service_version_and_rejected_documents() {
    let a = backend("one-a").await;
    let server = common::start(&yaml(&format!(
        "  one: {{ hosts: [one.test], backends: [\"{}\"] }}\n  two: {{ hosts: [two.test], backends: [\"{}\"] }}\n",
        a.addr, a.addr
    )));
    let admin = format!("http://{}", server.admin);
    let doc = get_json(&format!("{admin}/api/services/one")).await;
    assert_eq!(doc["name"], "one");
    assert_eq!(doc["hosts"][0], "one.test");
    assert_eq!(doc["endpoints"][0]["address"], a.addr.to_string());
    let (status, body) = get(&format!("{admin}/api/services/nope")).await;
    assert_eq!(status, 404);
    assert!(body.contains("no service nope"), "{body}");

    let version = get_json(&format!("{admin}/api/version")).await;
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    assert!(version["uptime_seconds"].as_u64().is_some(), "{version}");
    assert!(
        version["started"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')),
        "{version}"
    );

    let rejected = get_json(&format!("{admin}/api/rejected")).await;
    assert!(rejected.is_object(), "{rejected}");
    server.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn config_is_the_effective_one_without_secrets() {
    let a = backend("cfg-a").await;
    let hash = bcrypt::hash("pw", 4).expect("bcrypt");
    let server = common::start(&yaml(&format!(
        "  cfg:\n    hosts: [cfg.test]\n    auth: {{ basic: {{ users: [\"alice:{hash}\"] }} }}\n    backends: [\"{}\"]\n",
        a.addr
    )));
    let (status, body) = get(&format!("http://{}/api/config", server.admin)).await;
    assert_eq!(status, 200, "{body}");
    for secret in [ADMIN_TOKEN, hash.as_str()] {
        assert!(!body.contains(secret), "a secret in /api/config:\n{body}");
    }
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["admin"]["token"]["value"], "<redacted>");
    assert_eq!(doc["admin"]["token"]["source"], "admin.token_file");
    let service = &doc["services"][0];
    assert_eq!(service["settings"]["name"], "cfg");
    assert_eq!(
        service["settings"]["policies"]["basic_auth"]["users"][0],
        "alice"
    );
    assert_eq!(service["backends"][0]["address"], a.addr.to_string());
    // Defaults filled in: what berth runs with, not only what the file says.
    assert_eq!(doc["defaults"]["timeouts"]["connect"], "2s", "{body}");
    assert_eq!(doc["listeners"][0]["protocol"], "http");
    assert_eq!(doc["workers"], 1);
    server.shutdown();
}

#[test]
fn a_bad_token_file_is_refused_with_its_line_and_the_fix() {
    let short = common::temp_config("admin-token-short", "tiny\n");
    let text = format!(
        "listeners:\n  web: {{ address: \"127.0.0.1:0\" }}\nadmin:\n  token_file: \"{}\"\n",
        short.display()
    );
    let e = berth::config::parse(&text, "b.yaml")
        .expect_err("short token")
        .to_string();
    assert!(
        e.contains("admin.token_file") && e.contains("openssl rand"),
        "{e}"
    );
    assert!(e.contains(":4"), "line 4 named: {e}");
    let text = "admin:\n  token_file: /nonexistent/berth-token\n";
    let e = berth::config::parse(text, "b.yaml")
        .expect_err("missing")
        .to_string();
    assert!(
        e.contains("admin.token_file") && e.contains("/nonexistent/berth-token"),
        "{e}"
    );
}
