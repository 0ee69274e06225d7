//! The request target sent upstream (data plane): origin form, with the route's prefix
//! stripped when the service asks for it.

use http::Uri;

use crate::state::route;

/// The origin-form URI to send upstream, or `None` when the request's URI already is one.
pub fn origin_form(uri: &Uri, prefix_len: usize, strip: bool) -> Option<Uri> {
    let strip = strip && prefix_len > 1;
    if !strip && uri.scheme().is_none() && uri.authority().is_none() {
        return None;
    }
    let path = if strip {
        route::strip_prefix(uri.path(), prefix_len)
    } else {
        uri.path()
    };
    let mut target = String::with_capacity(path.len() + 1 + uri.query().map_or(0, |q| q.len() + 1));
    target.push_str(path);
    if let Some(q) = uri.query() {
        target.push('?');
        target.push_str(q);
    }
    Uri::try_from(target).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("test uri")
    }

    #[test]
    fn origin_form_is_kept_as_is() {
        assert_eq!(origin_form(&uri("/a/b?x=1"), 1, false), None);
        assert_eq!(origin_form(&uri("/a/b?x=1"), 2, false), None);
    }

    #[test]
    fn absolute_form_becomes_origin_form() {
        let got = origin_form(&uri("http://h.example/a?x=1"), 1, false);
        assert_eq!(got, Some(uri("/a?x=1")));
    }

    #[test]
    fn strip_prefix_keeps_a_leading_slash_and_query() {
        assert_eq!(
            origin_form(&uri("/api/users?id=3"), 4, true),
            Some(uri("/users?id=3"))
        );
        assert_eq!(origin_form(&uri("/api"), 4, true), Some(uri("/")));
        assert_eq!(origin_form(&uri("/api/"), 5, true), Some(uri("/")));
    }
}
