//! A service's path rewrites on the data plane: the route's prefix stripped (when the
//! service strips it), then `replace_path` or `replace_path_regex` (every match replaced),
//! then `add_prefix`; the query is kept. The result must be an origin-form path: it starts
//! with `/`, dot segments are removed again (as before routing, `proxy::target`), and a path
//! the request target cannot carry gets 500 (the service's rewrite is at fault, not the
//! client), logged.

use std::borrow::Cow;

use http::uri::{PathAndQuery, Uri};
use http::Request;
use tracing::warn;

use crate::model::shape::PathRewrite;
use crate::proxy::target;
use crate::state::route;

/// Rewrites `req`'s path in place, the URI's scheme and authority kept: `Ok(true)` when it
/// did (the prefix is then stripped already), `Ok(false)` when the service has no rewrite,
/// `Err` when the result is not a valid path.
pub(super) fn apply<B>(
    rw: &PathRewrite,
    req: &mut Request<B>,
    prefix_len: usize,
    strip: bool,
) -> Result<bool, ()> {
    if rw.replace_path.is_none() && rw.replace_path_regex.is_none() && rw.add_prefix.is_none() {
        return Ok(false);
    }
    let path = rewritten(rw, req.uri().path(), prefix_len, strip);
    let target = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let valid = target.starts_with('/');
    let pq = PathAndQuery::try_from(target.as_str())
        .ok()
        .filter(|_| valid);
    let mut parts = req.uri().clone().into_parts();
    parts.path_and_query = pq;
    let Some(uri) = parts
        .path_and_query
        .is_some()
        .then(|| Uri::from_parts(parts).ok())
        .flatten()
    else {
        warn!(path = %target, "a path rewrite made an invalid request path");
        return Err(());
    };
    *req.uri_mut() = uri;
    match target::normalize(req) {
        true => Ok(true),
        false => Err(()),
    }
}

/// The new path (without the query).
fn rewritten(rw: &PathRewrite, path: &str, prefix_len: usize, strip: bool) -> String {
    let path = match strip && prefix_len > 1 {
        true => route::strip_prefix(path, prefix_len),
        false => path,
    };
    let replaced: Cow<'_, str> = match (&rw.replace_path, &rw.replace_path_regex) {
        (Some(p), _) => Cow::Borrowed(p),
        (None, Some(r)) => r.regex.replace_all(path, r.replacement.as_str()),
        (None, None) => Cow::Borrowed(path),
    };
    match &rw.add_prefix {
        Some(prefix) => format!("{prefix}{replaced}"),
        None => replaced.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shape::rewrite::{path, replace};

    fn rw(
        replace_path: Option<&str>,
        regex: Option<(&str, &str)>,
        add: Option<&str>,
    ) -> PathRewrite {
        PathRewrite {
            replace_path: replace_path.map(|p| path(p, false).expect("path")),
            replace_path_regex: regex.map(|(r, s)| replace(r, s).expect("regex")),
            add_prefix: add.map(|p| path(p, true).expect("prefix")),
        }
    }

    fn run(rw: &PathRewrite, uri: &str, prefix_len: usize, strip: bool) -> Result<String, ()> {
        let mut req = Request::get(uri).body(()).expect("request");
        apply(rw, &mut req, prefix_len, strip)?;
        Ok(req.uri().to_string())
    }

    #[test]
    fn strip_then_replace_then_add_keeping_the_query() {
        let add = rw(None, None, Some("/v1"));
        assert_eq!(
            run(&add, "/api/users?x=1", 4, true),
            Ok("/v1/users?x=1".into())
        );
        assert_eq!(run(&add, "/api", 4, true), Ok("/v1/".into()));
        assert_eq!(run(&add, "/users", 1, false), Ok("/v1/users".into()));
        let both = rw(None, Some(("^/old/(.*)$", "/new/$1")), Some("/v2"));
        assert_eq!(
            run(&both, "/svc/old/a?q", 4, true),
            Ok("/v2/new/a?q".into())
        );
        assert_eq!(run(&both, "/svc/other", 4, true), Ok("/v2/other".into()));
        let fixed = rw(Some("/status"), None, None);
        assert_eq!(run(&fixed, "/anything?x", 1, false), Ok("/status?x".into()));
        let mut req = Request::get("/api/a").body(()).expect("request");
        assert_eq!(apply(&rw(None, None, None), &mut req, 4, true), Ok(false));
        assert_eq!(req.uri(), "/api/a", "no rewrite: the forwarding strips");
    }

    #[test]
    fn the_authority_is_kept_and_results_are_checked() {
        let add = rw(None, None, Some("/v1"));
        assert_eq!(
            run(&add, "http://a.test/x", 1, false),
            Ok("http://a.test/v1/x".into())
        );
        let relative = rw(None, Some(("^/(.*)$", "$1")), None);
        assert_eq!(run(&relative, "/x", 1, false), Err(()));
        let normalized = rw(None, Some(("^/x(.*)$", "/y/..$1")), None);
        assert_eq!(run(&normalized, "/x/z", 1, false), Ok("/z".into()));
    }
}
