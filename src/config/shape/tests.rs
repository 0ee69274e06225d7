//! A static service's shaping settings: parsed into `model::shape`, and every problem with
//! its field path, line and fix.

use crate::config::parse;
use crate::config::test_support::{one, problems};
use crate::model::shape::cors::{AllowHeaders, Origins};
use crate::model::shape::Rules;

fn rules(block: &str) -> Rules {
    let src = format!("services:\n  a:\n    backends: [127.0.0.1:1]\n{block}");
    let c = parse(&src, "t.yaml").unwrap_or_else(|e| panic!("{e}"));
    let spec = &c.services["a"].spec;
    spec.shape.rules().cloned().expect("shaped")
}

#[test]
fn every_setting_is_read() {
    let r = rules(
        "    headers:\n      request: { set: { X-Env: prod }, add: { X-Tag: a }, remove: [X-Debug] }\n      response: { set: { X-Frame-Options: DENY, Content-Security-Policy: \"default-src 'self'\" }, remove: Server }\n    cors: { origins: [\"https://*.example.com\"], methods: [GET, PUT], headers: \"*\", credentials: true, max_age: 10m }\n    max_request_body: 10MB\n    replace_path_regex: { regex: \"^/old/(.*)$\", replacement: \"/new/$1\" }\n    add_prefix: /v1\n    redirect_scheme: https\n    redirect_regex: { regex: \"^http://old.test/(.*)\", replacement: \"https://new.test/$1\", status: 308 }\n",
    );
    assert_eq!(r.request_headers.set[0].0, "x-env");
    assert_eq!(r.request_headers.add[0].1, "a");
    assert_eq!(r.request_headers.remove[0], "x-debug");
    assert_eq!(r.response_headers.set.len(), 2);
    assert_eq!(r.response_headers.remove[0], "server");
    let cors = r.cors.expect("cors");
    assert!(matches!(cors.origins, Origins::List(ref l) if l.len() == 1));
    assert_eq!(cors.headers, AllowHeaders::Any);
    assert_eq!(cors.methods, "GET, PUT");
    assert_eq!(cors.max_age, Some(http::HeaderValue::from(600u64)));
    assert_eq!(r.max_request_body, Some(10_000_000));
    assert_eq!(r.rewrite.add_prefix.as_deref(), Some("/v1"));
    assert!(r.rewrite.replace_path_regex.is_some());
    let scheme = r.redirect_scheme.expect("scheme redirect");
    assert_eq!(
        (scheme.scheme, scheme.port, scheme.permanent),
        ("https", None, true)
    );
    assert_eq!(r.redirect_regex.expect("regex redirect").status, 308);
    let r = rules("    redirect_scheme: { scheme: HTTPS, port: 8443, permanent: false }\n    replace_path: /x\n");
    let scheme = r.redirect_scheme.expect("scheme redirect");
    assert_eq!((scheme.port, scheme.permanent), (Some(8443), false));
    assert_eq!(r.rewrite.replace_path.as_deref(), Some("/x"));
}

#[test]
fn no_settings_no_shape() {
    let c = parse("services:\n  a: { backends: [127.0.0.1:1] }\n", "t.yaml").expect("valid");
    assert!(!c.services["a"].spec.shape.any());
}

fn problem(block: &str) -> (String, Option<usize>, String) {
    let p = one(&format!(
        "services:\n  a:\n    backends: [127.0.0.1:1]\n{block}"
    ));
    (p.path, p.line, p.message)
}

#[test]
fn header_problems_name_the_entry_and_the_fix() {
    let (path, line, msg) =
        problem("    headers:\n      request:\n        set: { X-Forwarded-For: 1.2.3.4 }\n");
    assert_eq!(path, "services.a.headers.request.set.X-Forwarded-For");
    assert_eq!(line, Some(6));
    assert!(msg.contains("trusted_ips"), "{msg}");
    let (path, _, msg) =
        problem("    headers: { response: { remove: [Server, Transfer-Encoding] } }\n");
    assert_eq!(path, "services.a.headers.response.remove");
    assert!(msg.contains("hop-by-hop"), "{msg}");
    let (_, _, msg) = problem("    headers: { response: { set: { \"X Bad\": 1 } } }\n");
    assert!(msg.contains("not a valid header name"), "{msg}");
    let (_, _, msg) = problem("    headers: { request: { set: { Host: a.test } } }\n");
    assert!(msg.contains("route by `hosts`"), "{msg}");
    let (path, _, msg) = problem("    headers: { request: { sets: { X-A: b } } }\n");
    assert!(path.starts_with("services.a.headers.request"), "{path}");
    assert!(msg.contains("set"), "{msg}");
}

#[test]
fn cors_problems() {
    let (path, line, msg) = problem("    cors:\n      origins: \"*\"\n      credentials: true\n");
    assert_eq!((path.as_str(), line), ("services.a.cors.origins", Some(5)));
    assert!(msg.contains("list the origins"), "{msg}");
    let (path, _, msg) = problem("    cors: { origins: [\"https://app.test/\"] }\n");
    assert_eq!(path, "services.a.cors.origins");
    assert!(msg.contains("write `https://app.test`"), "{msg}");
    let (path, _, _) = problem("    cors: { methods: [GET] }\n");
    assert!(path.starts_with("services.a.cors"), "{path}");
}

#[test]
fn size_rewrite_and_redirect_problems() {
    let (path, line, msg) = problem("    max_request_body: 10\n");
    assert_eq!(
        (path.as_str(), line),
        ("services.a.max_request_body", Some(4))
    );
    assert!(msg.contains("like 10B or 10MB"), "{msg}");
    let (path, _, msg) = problem("    add_prefix: /api/\n");
    assert_eq!(path, "services.a.add_prefix");
    assert!(msg.contains("write `/api`"), "{msg}");
    let (path, _, msg) = problem("    replace_path_regex: { regex: \"^/a/(\", replacement: /b }\n");
    assert_eq!(path, "services.a.replace_path_regex.regex");
    assert!(msg.contains("invalid regex"), "{msg}");
    let (path, _, msg) =
        problem("    replace_path_regex: { regex: \"^/a/(.*)\", replacement: /b/$2 }\n");
    assert_eq!(path, "services.a.replace_path_regex.replacement");
    assert!(msg.contains("names no group"), "{msg}");
    let (path, _, msg) =
        problem("    replace_path: /a\n    replace_path_regex: { regex: a, replacement: /b }\n");
    assert_eq!(path, "services.a.replace_path_regex");
    assert!(msg.contains("keep one"), "{msg}");
    let (path, _, msg) =
        problem("    redirect_regex: { regex: a, replacement: /b, status: 303 }\n");
    assert_eq!(path, "services.a.redirect_regex.status");
    assert!(msg.contains("301 or 308"), "{msg}");
    let (path, _, msg) = problem("    redirect_scheme: ftp\n");
    assert_eq!(path, "services.a.redirect_scheme");
    assert!(msg.contains("https or http"), "{msg}");
    let (path, _, msg) = problem(
        "    redirect_regex: { regex: \"\\\\w{1000}\\\\w{1000}\\\\w{1000}\", replacement: /b }\n",
    );
    assert_eq!(path, "services.a.redirect_regex.regex");
    assert!(msg.contains("simplify it"), "{msg}");
}

#[test]
fn an_l4_service_takes_no_shaping() {
    let src = "listeners:\n  db: { address: \"127.0.0.1:0\", protocol: tcp }\nservices:\n  a: { listener: db, max_request_body: 1MB, backends: [127.0.0.1:1] }\n";
    let all = problems(src);
    assert!(
        all.iter()
            .any(|p| p.path == "services.a.max_request_body" && p.message.contains("L4")),
        "{all:#?}"
    );
}
