//! The compression and sticky-session labels: `compress*`, `sticky*`, their defaults, and
//! their problems (the same rules as the file's `compress:` and `sticky:`).

use super::*;
use crate::model::compress::{Encoding, DEFAULT_MIN_SIZE};
use crate::model::sticky::SameSite;

#[test]
fn compress_labels_turn_compression_on() {
    assert!(service(container()).compress.is_none());
    let c = service(container().label("berth.compress", "true"));
    let c = c.compress.expect("compression");
    assert_eq!((c.encodings.len(), c.min_size), (3, DEFAULT_MIN_SIZE));
    let c = service(
        container()
            .label("berth.compress.encodings", "gzip, br")
            .label("berth.compress.min_size", "4KB")
            .label("berth.compress.types", "text/*, application/*+json"),
    );
    let c = c.compress.expect("a setting turns it on");
    assert_eq!(c.encodings, [Encoding::Gzip, Encoding::Br]);
    assert_eq!((c.min_size, c.types.len()), (4000, 2), "4KB = 4000 bytes");
    let off = service(container().label("berth.compress", "false"));
    assert!(off.compress.is_none());
}

#[test]
fn bad_compress_labels_reject_the_container_with_the_fix() {
    let reason = rejected(container().label("berth.compress.encodings", "gzip, lzma"));
    assert!(
        reason.contains("label berth.compress.encodings=gzip, lzma: unknown encoding `lzma`"),
        "{reason}"
    );
    let reason = rejected(container().label("berth.compress.min_size", "big"));
    assert!(reason.contains("like 512KB, 10MB or 1GiB"), "{reason}");
    let reason = rejected(container().label("berth.compress.min_size", "1024"));
    assert!(
        reason.contains("label berth.compress.min_size=1024: a unit is required, like 1024B"),
        "{reason}"
    );
    let reason = rejected(container().label("berth.compress.types", "html"));
    assert!(reason.contains("expected type/subtype"), "{reason}");
    let reason = rejected(container().label("berth.compres", "true"));
    assert!(reason.contains("did you mean berth.compress?"), "{reason}");
    let reason = rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.compress", "true"),
    );
    assert!(reason.contains("compression applies to HTTP"), "{reason}");
}

#[test]
fn sticky_labels_set_the_cookie() {
    assert!(service(container()).sticky.is_none());
    let s = service(container().label("berth.sticky", "true"));
    let s = s.sticky.expect("sticky");
    assert_eq!(
        (s.cookie.as_str(), s.http_only, s.secure),
        ("berth_web-1", true, false)
    );
    let s = service(
        container()
            .label("berth.service", "app")
            .label("berth.sticky.cookie", "berth_app")
            .label("berth.sticky.secure", "true")
            .label("berth.sticky.same_site", "strict")
            .label("berth.sticky.max_age", "1h")
            .label("berth.sticky.secret", "s3cret"),
    );
    let s = s.sticky.expect("a setting turns it on");
    assert_eq!(
        (s.cookie.as_str(), s.same_site, s.keyed),
        ("berth_app", SameSite::Strict, true)
    );
    assert_eq!(s.max_age.map(|d| d.as_secs()), Some(3600));
}

#[test]
fn bad_sticky_labels_reject_the_container_with_the_fix() {
    let reason = rejected(container().label("berth.sticky.cookie", "a=b"));
    assert!(reason.contains("is not a cookie name"), "{reason}");
    let reason = rejected(container().label("berth.sticky.same_site", "none"));
    assert!(
        reason.contains("label berth.sticky.same_site: none needs secure"),
        "{reason}"
    );
    let reason = rejected(container().label("berth.sticky.max_age", "1500ms"));
    assert!(reason.contains("label berth.sticky.max_age"), "{reason}");
    let reason = rejected(
        container()
            .label("berth.tcp.listener", "pg")
            .label("berth.sticky", "true"),
    );
    assert!(
        reason.contains("sticky sessions use an HTTP cookie"),
        "{reason}"
    );
}

#[test]
fn a_sticky_secret_is_never_shown() {
    let s = service(container().label("berth.sticky.secret", "hunter2"));
    let s = s.sticky.expect("sticky");
    assert!(!format!("{s:?} {s}").contains("hunter2"));
}
