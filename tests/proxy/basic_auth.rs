//! Basic authentication end to end with curl: no or wrong credentials get 401 with the
//! realm's challenge and never reach the backend; right ones pass, with `Authorization`
//! removed for the backend when the service says so; the allow-list is checked first.

use crate::common;

/// `curl` for `host` and `path`, with `-u user_pass` when given: status, head, body.
fn curl(
    addr: std::net::SocketAddr,
    host: &str,
    path: &str,
    user_pass: Option<&str>,
) -> (u16, String, String) {
    let extra: Vec<&str> = user_pass.iter().flat_map(|u| ["-u", *u]).collect();
    common::curl(addr, host, path, &extra)
}

fn line(user: &str, password: &str) -> String {
    // Cost 4, the least bcrypt allows: the tests check the policy, not the hash's strength.
    format!("{user}:{}", bcrypt::hash(password, 4).expect("bcrypt"))
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_answers_401_until_the_right_credentials_come() {
    let backend = common::backend("private").await;
    let file = common::temp_config(
        "basic-auth",
        &format!(
            "# staff\n{}\n{}\n",
            line("alice", "secret"),
            line("bob", "hunter2")
        ),
    );
    let yaml = format!(
        "listeners:\n  web: {{ address: \"127.0.0.1:0\" }}\n\
         admin: {{ address: \"127.0.0.1:0\" }}\n\
         docker: {{ enabled: false }}\nworkers: 1\nservices:\n  \
         private:\n    hosts: [private.test]\n    \
         auth: {{ basic: {{ users_file: \"{file}\", realm: staff, remove_header: true }} }}\n    \
         backends: [\"{b}\"]\n  \
         keep:\n    hosts: [keep.test]\n    \
         auth: {{ basic: {{ users: [\"{carol}\"] }} }}\n    backends: [\"{b}\"]\n  \
         office:\n    hosts: [office.test]\n    allow: {{ ips: [10.0.0.0/8] }}\n    \
         auth: {{ basic: {{ users: [\"{carol}\"] }} }}\n    backends: [\"{b}\"]\n",
        file = file.display(),
        carol = line("carol", "pw"),
        b = backend.addr
    );
    let server = common::start(&yaml);
    let web = server.listener("web").expect("web");

    let (status, head, body) = curl(web, "private.test", "/", None);
    assert_eq!((status, body.as_str()), (401, "unauthorized\n"));
    assert!(
        head.contains("www-authenticate: Basic realm=\"staff\", charset=\"UTF-8\""),
        "{head}"
    );
    assert_eq!(curl(web, "private.test", "/", Some("alice:wrong")).0, 401);
    assert_eq!(
        curl(web, "private.test", "/", Some("mallory:secret")).0,
        401
    );
    assert_eq!(backend.hits(), 0, "no refused request reached the backend");

    let (status, _, headers) = curl(web, "private.test", "/headers", Some("alice:secret"));
    assert_eq!(status, 200);
    assert!(
        !headers.to_lowercase().contains("authorization"),
        "removed: {headers}"
    );
    for _ in 0..20 {
        assert_eq!(curl(web, "private.test", "/", Some("bob:hunter2")).0, 200);
    }
    let (status, _, headers) = curl(web, "keep.test", "/headers", Some("carol:pw"));
    assert_eq!(status, 200);
    assert!(
        headers.to_lowercase().contains("authorization: basic"),
        "kept: {headers}"
    );
    assert_eq!(
        curl(web, "office.test", "/", Some("carol:pw")).0,
        403,
        "the allow-list comes first"
    );

    let admin = format!("http://{}", server.admin);
    let denied = |reason: &'static str| {
        let admin = admin.clone();
        async move {
            let series = format!(
                "berth_policy_denied_total{{service=\"private\",policy=\"basic_auth\",reason=\"{reason}\"}}"
            );
            common::metric(&admin, &series).await
        }
    };
    assert_eq!(denied("missing").await, 1);
    assert_eq!(denied("invalid").await, 2);
    let private = common::service(&admin, "private").await;
    assert_eq!(
        private["policies"]["basic_auth"]["realm"], "staff",
        "{private}"
    );
    assert_eq!(
        private["policies"]["basic_auth"]["users"],
        serde_json::json!(["alice", "bob"]),
        "names only, never hashes: {private}"
    );
}
