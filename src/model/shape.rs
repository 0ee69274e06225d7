//! Shaping a service's requests and responses (vocabulary): header edits, CORS, a request
//! body limit, path rewrites and redirects, set by a static service's YAML or by labels
//! with the same names and the same checks.
//!
//! - `headers.request` / `headers.response`: `set`, `add` and `remove` headers ([`headers`]).
//! - `cors`: allowed origins, methods, headers; preflights answered by berth ([`cors`]).
//! - `max_request_body`: a size; a larger request body gets 413.
//! - `replace_path`, `replace_path_regex`, `add_prefix`: the path the backend receives,
//!   after `strip_prefix` ([`rewrite`]).
//! - `redirect_scheme`, `redirect_regex`: answered by berth with a redirect ([`rewrite`]).
//!
//! A request meets them in a fixed order: redirects (scheme, then regex), the CORS preflight,
//! the access policies (`model::policy`), the body limit, the path rewrites, the request
//! header edits; its response gets the response header edits, then the CORS headers.
//!
//! Invariant: a service that sets none of them carries `Shape::default()`, and the data plane
//! tests one `Option` per request ([`Shape::any`]); a [`Rules`] that exists holds at least
//! one setting, each already checked.

pub mod cors;
pub mod headers;
pub mod rewrite;

pub use cors::Cors;
pub use headers::HeaderEdits;
pub use rewrite::{PathRewrite, RegexRedirect, SchemeRedirect};

/// A service's shaping: `None` when it sets nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Shape(Option<Box<Rules>>);

/// Every shaping setting of one service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    /// Edits of the request sent to the backend.
    pub request_headers: HeaderEdits,
    /// Edits of the response sent to the client.
    pub response_headers: HeaderEdits,
    pub cors: Option<Cors>,
    /// The most bytes a request body may have.
    pub max_request_body: Option<u64>,
    pub rewrite: PathRewrite,
    pub redirect_scheme: Option<SchemeRedirect>,
    pub redirect_regex: Option<RegexRedirect>,
}

impl Rules {
    /// The names of the settings present, in the order of the module doc's list.
    pub fn names(&self) -> Vec<&'static str> {
        let set = [
            (
                !self.request_headers.is_empty() || !self.response_headers.is_empty(),
                "headers",
            ),
            (self.cors.is_some(), "cors"),
            (self.max_request_body.is_some(), "max_request_body"),
            (self.rewrite.replace_path.is_some(), "replace_path"),
            (
                self.rewrite.replace_path_regex.is_some(),
                "replace_path_regex",
            ),
            (self.rewrite.add_prefix.is_some(), "add_prefix"),
            (self.redirect_scheme.is_some(), "redirect_scheme"),
            (self.redirect_regex.is_some(), "redirect_regex"),
        ];
        set.into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name)
            .collect()
    }

    /// The name of the first setting present (for "applies to HTTP only" problems).
    pub fn first_set(&self) -> Option<&'static str> {
        self.names().first().copied()
    }
}

impl Shape {
    /// The service's shaping; nothing when `rules` sets nothing.
    pub fn new(rules: Rules) -> Self {
        Self(rules.first_set().map(|_| Box::new(rules)))
    }

    /// Whether any setting is present (the data plane's one test per request).
    #[inline]
    pub fn any(&self) -> bool {
        self.0.is_some()
    }

    /// The settings, when any is present.
    #[inline]
    pub fn rules(&self) -> Option<&Rules> {
        self.0.as_deref()
    }
}

/// Why an L4 service cannot be shaped.
pub const HTTP_ONLY: &str =
    "shapes HTTP requests and responses; an L4 (tcp, tls-passthrough) service forwards bytes: remove it";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_is_no_shape() {
        assert!(!Shape::new(Rules::default()).any());
        assert_eq!(Shape::default(), Shape::new(Rules::default()));
        let limited = Shape::new(Rules {
            max_request_body: Some(10),
            ..Rules::default()
        });
        assert!(limited.any());
        assert_eq!(
            limited.rules().and_then(Rules::first_set),
            Some("max_request_body")
        );
    }
}
