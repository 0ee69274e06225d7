//! The checks of rewrites and redirects.

use super::*;

#[test]
fn regexes_are_compiled_with_limits() {
    assert!(regex("^/api/(.*)$").is_ok());
    let e = regex("^/api/(").unwrap_err();
    assert!(e.starts_with("invalid regex"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let e = regex(r"\w{1000}\w{1000}\w{1000}").unwrap_err();
    assert!(e.contains("more than 1048576 bytes"), "{e}");
    let e = regex(&"a".repeat(REGEX_MAX_LEN + 1)).unwrap_err();
    assert!(e.contains("shorten it"), "{e}");
}

#[test]
fn replacements_name_only_existing_groups() {
    assert!(replace("^/a/(.*)$", "/b/$1").is_ok());
    assert!(replace("^/a/(?P<rest>.*)$", "/b/${rest}?x=$$1").is_ok());
    let (field, e) = replace("^/a/(.*)$", "/b/$2").unwrap_err();
    assert_eq!(field, "replacement");
    assert!(e.contains("`$2` names no group"), "{e}");
    let (_, e) = replace("^/a/(?P<rest>.*)$", "/b/$rst").unwrap_err();
    assert!(e.contains("named rest"), "{e}");
    assert_eq!(references("$1x ${a}b $$c ${"), ["1x", "a"]);
    assert_eq!(replace("(", "").unwrap_err().0, "regex");
}

#[test]
fn paths_and_prefixes() {
    assert_eq!(path("/api", true), Ok("/api".into()));
    assert_eq!(path("/", false), Ok("/".into()));
    assert!(path("api", true).unwrap_err().contains("start with `/`"));
    assert!(path("/api/", true).unwrap_err().contains("write `/api`"));
    assert!(path("/api/", false).is_ok());
    assert!(path("/a?b=1", false).is_err());
    assert!(path("/a/../b", false).unwrap_err().contains("segments"));
    assert!(path("/a<b", false).unwrap_err().contains("percent-encode"));
}

#[test]
fn statuses_and_schemes() {
    assert_eq!(redirect_status(308), Ok(308));
    assert!(redirect_status(303).unwrap_err().contains("301 or 308"));
    assert_eq!(scheme("HTTPS"), Ok("https"));
    assert!(scheme("ftp").is_err());
    let r = SchemeRedirect {
        scheme: "https",
        port: Some(8443),
        permanent: true,
    };
    assert_eq!(r.to_string(), "https port 8443 (permanent)");
}
