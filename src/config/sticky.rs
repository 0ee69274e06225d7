//! A static service's `sticky:` (control plane, load time): `true`, `false` or a map of
//! `cookie`, `secure`, `http_only`, `same_site`, `max_age` and `secret`, checked by the rules
//! labels use (`model::sticky`).

use serde::Deserialize;

use super::compress::{ParseValue, Parsed, Toggle};
use super::raw::Span;
use super::validate::Problems;
use crate::model::sticky::{self, SameSite, Sticky, StickyParts};
use crate::model::Layer;

/// A service's `sticky:` map.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSticky {
    pub cookie: Option<String>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
    pub same_site: Option<Parsed<SameSite>>,
    pub max_age: Option<Span>,
    pub secret: Option<String>,
}

impl ParseValue for SameSite {
    const WHAT: &'static str = "lax, strict or none";
    fn parse(s: &str) -> Result<Self, String> {
        sticky::same_site(s)
    }
}

/// The sticky sessions of service `name` at `path`; an L4 service may not have them.
pub(super) fn sticky(
    p: &mut Problems,
    path: &str,
    name: &str,
    raw: Option<Toggle<RawSticky>>,
    layer: Layer,
) -> Option<Sticky> {
    let raw = raw?.settings()?;
    let at = format!("{path}.sticky");
    if layer == Layer::Tcp {
        p.add(at, "sticky sessions use an HTTP cookie; a tcp service can pin clients with balance: hash(client_ip): remove `sticky`");
        return None;
    }
    let parts = StickyParts {
        cookie: raw.cookie.as_deref(),
        secure: raw.secure,
        http_only: raw.http_only,
        same_site: raw.same_site.map(|s| s.0),
        max_age: raw.max_age.map(|s| s.0),
        secret: raw.secret.as_deref(),
    };
    Sticky::new(name, parts)
        .map_err(|(field, e)| p.add(format!("{at}.{field}"), e))
        .ok()
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::config::test_support::one;
    use crate::model::sticky::SameSite;

    #[test]
    fn sticky_takes_true_or_a_map() {
        let src = "services:\n  a: { sticky: true, backends: [127.0.0.1:1] }\n  b: { path: /b, sticky: { cookie: b_srv, secure: true, same_site: none, max_age: 1h, secret: x }, backends: [127.0.0.1:2] }\n";
        let c = parse(src, "t.yaml").unwrap();
        let a = c.services["a"].spec.sticky.as_ref().expect("a is sticky");
        assert_eq!(
            (a.cookie.as_str(), a.http_only, a.keyed),
            ("berth_a", true, false)
        );
        let b = c.services["b"].spec.sticky.as_ref().expect("b is sticky");
        assert_eq!(
            (b.cookie.as_str(), b.same_site, b.keyed),
            ("b_srv", SameSite::None, true)
        );
        assert_eq!(b.max_age.map(|d| d.as_secs()), Some(3600));
    }

    #[test]
    fn sticky_problems_name_the_line_the_field_and_the_fix() {
        let p =
            one("services:\n  a:\n    sticky: { cookie: \"a;b\" }\n    backends: [127.0.0.1:1]\n");
        assert_eq!(
            (p.path.as_str(), p.line),
            ("services.a.sticky.cookie", Some(3))
        );
        assert!(p.message.contains("like berth_app"), "{}", p.message);
        let p = one(
            "services:\n  a:\n    sticky:\n      same_site: none\n    backends: [127.0.0.1:1]\n",
        );
        assert_eq!(p.path, "services.a.sticky.same_site");
        assert!(p.message.contains("set secure"), "{}", p.message);
        let p =
            one("services:\n  a:\n    sticky: { same_site: loose }\n    backends: [127.0.0.1:1]\n");
        assert!(p.message.contains("lax, strict or none"), "{}", p.message);
        assert_eq!(p.line, Some(3));
    }
}
