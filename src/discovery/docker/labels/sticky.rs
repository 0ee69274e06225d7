//! The sticky-session labels (control plane, pure): `sticky` (`true`/`false`), and
//! `sticky.cookie`, `sticky.secure`, `sticky.http_only`, `sticky.same_site`,
//! `sticky.max_age` and `sticky.secret`, each of which turns sticky sessions on too. Read
//! with the config file's rules ([`Sticky::new`]); every problem is recorded in `labels`,
//! which rejects the container.

use super::reader::Labels;
use crate::model::sticky::{self, Sticky, StickyParts};
use crate::model::value::{boolean, duration};
use crate::model::Layer;

/// Every suffix this module reads.
pub(super) const SUFFIXES: [&str; 7] = [
    "sticky",
    "sticky.cookie",
    "sticky.secure",
    "sticky.http_only",
    "sticky.same_site",
    "sticky.max_age",
    "sticky.secret",
];

/// The labels' sticky sessions for service `name`, `None` when off (problems are recorded
/// in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>, name: &str, layer: Layer) -> Option<Sticky> {
    let [on_key, cookie_key, secure_key, http_only_key, same_site_key, max_age_key, secret_key] =
        SUFFIXES;
    let on = labels.parse(on_key, boolean);
    let cookie = labels.parse(cookie_key, sticky::cookie_name);
    let secure = labels.parse(secure_key, boolean);
    let http_only = labels.parse(http_only_key, boolean);
    let same_site = labels.parse(same_site_key, sticky::same_site);
    let max_age = labels.parse(max_age_key, duration);
    let secret = labels.raw(secret_key);
    let any = SUFFIXES[1..].iter().any(|k| labels.has(k));
    if on == Some(false) || (!labels.has(on_key) && !any) {
        return None;
    }
    if layer == Layer::Tcp {
        let key = labels.key(on_key);
        labels.problem(format!(
            "labels {key}*: sticky sessions use an HTTP cookie; a tcp service can pin \
             clients with balance=hash(client_ip): remove them"
        ));
        return None;
    }
    let parts = StickyParts {
        cookie: cookie.as_deref(),
        secure,
        http_only,
        same_site,
        max_age,
        secret,
    };
    Sticky::new(name, parts)
        .map_err(|(field, e)| {
            let key = labels.key(&format!("sticky.{field}"));
            labels.problem(format!("label {key}: {e}"));
        })
        .ok()
}
