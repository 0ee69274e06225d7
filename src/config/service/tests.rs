//! Unit tests of static services: defaults, backends, routes and their errors.

use crate::config::parse;
use crate::config::test_support::one;

#[test]
fn services_inherit_defaults() {
    let src = "defaults: { retries: 4, balance: round_robin, timeouts: { request: 5s } }\n\
               services:\n  a: { backends: [127.0.0.1:1] }\n  b: { path: /b, timeout: 1s, retries: 0, backends: [127.0.0.1:2] }\n";
    let c = parse(src, "t.yaml").unwrap();
    let (a, b) = (&c.services["a"].spec, &c.services["b"].spec);
    assert_eq!((a.retries, a.request_timeout.as_secs()), (4, 5));
    assert_eq!(a.balance.to_string(), "round_robin");
    assert_eq!((b.retries, b.request_timeout.as_secs()), (0, 1));
    assert_eq!(c.services["a"].backends[0].weight.get(), 1);
}

#[test]
fn upstream_protocol_defaults_to_http1() {
    use crate::model::UpstreamProtocol;
    let src = "services:\n  a: { backends: [127.0.0.1:1] }\n  b: { upstream_protocol: h2, path: /b, backends: [127.0.0.1:2] }\n";
    let c = parse(src, "t.yaml").unwrap();
    assert_eq!(
        c.services["a"].spec.upstream.protocol,
        UpstreamProtocol::Http1
    );
    assert_eq!(c.services["b"].spec.upstream.protocol, UpstreamProtocol::H2);
    let p = one("services: { a: { upstream_protocol: h3, backends: [127.0.0.1:1] } }\n");
    assert_eq!(p.path, "services.a.upstream_protocol");
}

#[test]
fn hosts_backends_and_routes() {
    let p = one("services: { a: { hosts: [a.*.com], backends: [127.0.0.1:1] } }\n");
    assert_eq!(p.path, "services.a.hosts");
    let p = one("services: { a: { backends: [127.0.0.1:1, 127.0.0.1:1] } }\n");
    assert_eq!(p.path, "services.a.backends[1]");
    assert!(p.message.contains("listed twice"));
    let p = one("services: { a: { backends: [0.0.0.0:1] } }\n");
    assert!(p.message.contains("wildcard"), "{}", p.message);
    let p = one("services:\n  a: { hosts: [x.com], backends: [127.0.0.1:1] }\n  b: { hosts: [X.com], backends: [127.0.0.1:2] }\n");
    assert_eq!((p.path.as_str(), p.line), ("services.b", Some(3)));
    assert!(
        p.message.contains("same route as service `a`"),
        "{}",
        p.message
    );
}

#[test]
fn hsts_is_rendered_from_the_block() {
    let src = "services:\n  a: { hsts: { max_age: 1y, include_subdomains: true, preload: true }, backends: [127.0.0.1:1] }\n  b: { path: /b, hsts: { max_age: 0s }, backends: [127.0.0.1:2] }\n  c: { path: /c, backends: [127.0.0.1:3] }\n";
    let c = parse(src, "t.yaml").unwrap();
    let a = c.services["a"].spec.hsts.as_ref().expect("a has hsts");
    assert_eq!(a.as_str(), "max-age=31557600; includeSubDomains; preload");
    let b = c.services["b"].spec.hsts.as_ref().expect("b has hsts");
    assert_eq!(b.as_str(), "max-age=0", "0 means forget, and is allowed");
    assert_eq!(c.services["c"].spec.hsts, None);
}

#[test]
fn hsts_problems_name_the_field_and_the_fix() {
    let p = one("services:\n  a:\n    hsts: { max_age: 180d, include_subdomains: true, preload: true }\n    backends: [127.0.0.1:1]\n");
    assert_eq!(
        (p.path.as_str(), p.line),
        ("services.a.hsts.preload", Some(3))
    );
    assert!(p.message.contains("at least 1 year"), "{}", p.message);
    assert!(p
        .message
        .contains("raise max_age to 1y or set preload to false"));
    let p =
        one("services: { a: { hsts: { max_age: 2y, preload: true }, backends: [127.0.0.1:1] } }\n");
    assert_eq!(p.path, "services.a.hsts.preload");
    assert!(
        p.message.contains("set include_subdomains to true"),
        "{}",
        p.message
    );
    let p = one("services: { a: { hsts: { max_age: 1500ms }, backends: [127.0.0.1:1] } }\n");
    assert_eq!(p.path, "services.a.hsts.max_age");
    assert!(
        p.message.contains("whole number of seconds"),
        "{}",
        p.message
    );
    let p = one("services: { a: { hsts: { max_age: 1 }, backends: [127.0.0.1:1] } }\n");
    assert_eq!(p.path, "services.a.hsts.max_age");
    assert!(p.message.contains("unit is required"), "{}", p.message);
    let p =
        one("services: { a: { hsts: { include_subdomains: true }, backends: [127.0.0.1:1] } }\n");
    assert_eq!(p.path, "services.a.hsts");
    assert!(
        p.message.contains("missing required key `max_age`"),
        "{}",
        p.message
    );
    let p = one(
        "services: { a: { hsts: { max_age: 1y, subdomains: true }, backends: [127.0.0.1:1] } }\n",
    );
    assert!(p.path.starts_with("services.a.hsts"), "{}", p.path);
    assert!(p.message.contains("include_subdomains"), "{}", p.message);
}
