//! Sticky sessions end to end, with curl and its cookie jar as the client: a client stays
//! on one of three backends, gets its cookie once, and fails over to another backend (with
//! a new cookie) when its own is drained through the admin API.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::common::{self, backend, yaml, Backend};

/// One request with the cookie jar `jar`: who answered, and the `Set-Cookie` it got.
async fn visit(web: SocketAddr, jar: PathBuf) -> (String, Option<String>) {
    tokio::task::spawn_blocking(move || {
        let jar = jar.to_str().expect("utf-8 path").to_owned();
        let (status, head, body) = common::curl(web, "s.test", "/", &["-b", &jar, "-c", &jar]);
        assert_eq!(status, 200, "{head}");
        let cookie = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().to_owned())
        });
        (body, cookie)
    })
    .await
    .expect("curl thread")
}

fn addr_of<'a>(backends: &'a [Backend], name: &str) -> &'a Backend {
    let i = ["a", "b", "c"]
        .iter()
        .position(|n| *n == name)
        .expect("a backend's name");
    &backends[i]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stays_on_its_backend_and_fails_over_when_it_is_drained() {
    let backends = vec![backend("a").await, backend("b").await, backend("c").await];
    let list: Vec<String> = backends.iter().map(|b| format!("\"{}\"", b.addr)).collect();
    let server = common::start(&yaml(&format!(
        "  st: {{ balance: round_robin, sticky: {{ cookie: berth_st, max_age: 1h }}, backends: [{}] }}\n",
        list.join(", ")
    )));
    let web = server.listener("web").expect("web");
    let jar = std::env::temp_dir().join(format!("berth-sticky-jar-{}", std::process::id()));
    let _ = std::fs::remove_file(&jar);

    let (first, cookie) = visit(web, jar.clone()).await;
    let cookie = cookie.expect("the first answer sets the cookie");
    assert!(
        cookie.starts_with("berth_st=") && cookie.contains("Max-Age=3600"),
        "{cookie}"
    );
    let home = addr_of(&backends, &first);
    assert!(
        !cookie.contains(&home.addr.port().to_string()),
        "opaque: {cookie}"
    );
    for _ in 0..19 {
        let (who, again) = visit(web, jar.clone()).await;
        assert_eq!(who, first, "round robin is overridden by the cookie");
        assert_eq!(again, None, "a valid cookie is not set again");
    }
    assert_eq!(home.hits(), 20);

    let url = format!(
        "http://{}/api/services/st/endpoints/{}/drain",
        server.admin, home.addr
    );
    let r = common::admin_post(&url).send().await.expect("drain");
    assert_eq!(r.status(), 200);

    let (moved, new_cookie) = visit(web, jar.clone()).await;
    assert_ne!(moved, first, "a drained backend gets no new requests");
    let new_cookie = new_cookie.expect("the failover sets a new cookie");
    assert_ne!(new_cookie, cookie);
    for _ in 0..5 {
        let (who, again) = visit(web, jar.clone()).await;
        assert_eq!((who.as_str(), again), (moved.as_str(), None));
    }
    let _ = std::fs::remove_file(&jar);

    let admin = format!("http://{}", server.admin);
    let doc = common::service(&admin, "st").await;
    let shown = doc["sticky"].as_str().expect("sticky shown");
    assert!(
        shown.starts_with("cookie berth_st; Max-Age=3600; HttpOnly"),
        "{shown}"
    );
}

/// The `cookie` lines the backend's `/headers` saw for a request carrying `cookie`.
async fn cookies_seen(web: SocketAddr, cookie: String) -> Vec<String> {
    tokio::task::spawn_blocking(move || {
        let header = format!("Cookie: {cookie}");
        let (status, head, body) = common::curl(web, "s.test", "/headers", &["-H", &header]);
        assert_eq!(status, 200, "{head}");
        body.lines()
            .filter_map(|l| l.strip_prefix("cookie: "))
            .map(str::to_owned)
            .collect()
    })
    .await
    .expect("curl thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sticky_cookie_never_reaches_the_backend_and_other_cookies_do() {
    let only = backend("only").await;
    let server = common::start(&yaml(&format!(
        "  st: {{ sticky: {{ cookie: berth_st }}, backends: [\"{}\"] }}\n",
        only.addr
    )));
    let web = server.listener("web").expect("web");
    let jar = std::env::temp_dir().join(format!("berth-sticky-strip-{}", std::process::id()));
    let _ = std::fs::remove_file(&jar);
    let (_, set) = visit(web, jar.clone()).await;
    let _ = std::fs::remove_file(&jar);
    let set = set.expect("the first answer sets the cookie");
    let sticky = set.split(';').next().expect("name=value").to_owned();
    assert!(sticky.starts_with("berth_st="), "{sticky}");

    let seen = cookies_seen(web, format!("a=1; {sticky}; b=2")).await;
    assert_eq!(seen, ["a=1; b=2"], "the others arrive, in order");
    let seen = cookies_seen(web, sticky.clone()).await;
    assert!(
        seen.is_empty(),
        "an empty Cookie header is dropped: {seen:?}"
    );
    let seen = cookies_seen(web, "a=1; berth_st_x=2".to_owned()).await;
    assert_eq!(
        seen,
        ["a=1; berth_st_x=2"],
        "a request without it is untouched"
    );
    // An unknown value is berth's cookie all the same: it goes too (and a new one is set).
    let seen = cookies_seen(web, "berth_st=0123456789abcdef; c=3".to_owned()).await;
    assert_eq!(seen, ["c=3"]);
    assert_eq!(only.hits(), 5);
}
