//! The `http.hsts.max_age`, `http.hsts.include_subdomains` and `http.hsts.preload` labels:
//! the `Strict-Transport-Security` header of a container's service (control plane, pure).
//!
//! `http.hsts.max_age` (a duration, `0s` allowed) turns the header on; the two flags
//! default to `false` and mean nothing without it, so either alone is a problem. The rules
//! are the config file's ([`Hsts::new`]): `preload` needs a max-age of a year and
//! `include_subdomains`. Every problem is recorded in `labels`, which rejects the container.

use super::reader::Labels;
use crate::model::value::{boolean, duration};
use crate::model::Hsts;

/// Every suffix this module reads.
pub(super) const SUFFIXES: [&str; 3] = [
    "http.hsts.max_age",
    "http.hsts.include_subdomains",
    "http.hsts.preload",
];

/// The labels' HSTS header, `None` when `http.hsts.max_age` is absent (problems are
/// recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>) -> Option<Hsts> {
    let [max_age_key, subdomains_key, preload_key] = SUFFIXES;
    let max_age = labels.parse(max_age_key, duration);
    let include_subdomains = labels.parse(subdomains_key, boolean);
    let preload = labels.parse(preload_key, boolean);
    if !labels.has(max_age_key) {
        let flags: Vec<String> = [subdomains_key, preload_key]
            .into_iter()
            .filter(|s| labels.has(s))
            .map(|s| labels.key(s))
            .collect();
        let (noun, verb, pronoun) = match flags.len() {
            0 => return None,
            1 => ("label", "has", "it"),
            _ => ("labels", "have", "them"),
        };
        let msg = format!(
            "{noun} {} {verb} no effect without {}, which turns HSTS on: \
             set it (like 1y) or remove {pronoun}",
            flags.join(" and "),
            labels.key(max_age_key),
        );
        labels.problem(msg);
        return None;
    }
    // A flag with a bad value is reported already; judging the rest would only add noise.
    let bad_flag = |present: bool, parsed: Option<bool>| present && parsed.is_none();
    if bad_flag(labels.has(subdomains_key), include_subdomains)
        || bad_flag(labels.has(preload_key), preload)
    {
        return None;
    }
    let hsts = Hsts::new(
        max_age?,
        include_subdomains.unwrap_or(false),
        preload.unwrap_or(false),
    );
    hsts.map_err(|e| {
        let suffix = format!("http.hsts.{}", e.field());
        let value = labels.raw(&suffix).unwrap_or_default();
        let msg = format!("label {}={value}: {e}", labels.key(&suffix));
        labels.problem(msg);
    })
    .ok()
}
