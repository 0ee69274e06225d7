//! The shaping labels (control plane, pure): each is the YAML key it mirrors.
//!
//! - `headers.request.set.<Name>`, `headers.request.add.<Name>` (one header each, the value is
//!   the label's) and `headers.request.remove` (comma-separated names); the same under
//!   `headers.response`.
//! - `cors.origins`, `cors.methods`, `cors.headers`, `cors.expose_headers` (comma-separated),
//!   `cors.credentials`, `cors.max_age`.
//! - `max_request_body`; `replace_path`, `replace_path_regex.regex` and `.replacement`,
//!   `add_prefix`; `redirect_scheme` (with `.port`, `.permanent`), `redirect_regex.regex`,
//!   `.replacement` and `.status`.
//!
//! Read with the config file's rules (`model::shape`); a setting without the one that turns
//! it on is a problem, and so is any of them on an L4 service. Every problem is recorded in
//! `labels`, which rejects the container.

use super::reader::Labels;
use crate::model::shape::cors::{self, Cors};
use crate::model::shape::headers::{Direction, HeaderEdits};
use crate::model::shape::rewrite::{self, PathRewrite, RegexRedirect, Replace, SchemeRedirect};
use crate::model::shape::{Rules, Shape, HTTP_ONLY};
use crate::model::value::{boolean, duration, list, port, size};
use crate::model::Layer;

/// Every suffix this module reads; `<name>` stands for a header name.
pub(super) const SUFFIXES: [&str; 23] = [
    "headers.request.set.<name>",
    "headers.request.add.<name>",
    "headers.request.remove",
    "headers.response.set.<name>",
    "headers.response.add.<name>",
    "headers.response.remove",
    "cors.origins",
    "cors.methods",
    "cors.headers",
    "cors.expose_headers",
    "cors.credentials",
    "cors.max_age",
    "max_request_body",
    "replace_path",
    "replace_path_regex.regex",
    "replace_path_regex.replacement",
    "add_prefix",
    "redirect_scheme",
    "redirect_scheme.port",
    "redirect_scheme.permanent",
    "redirect_regex.regex",
    "redirect_regex.replacement",
    "redirect_regex.status",
];

/// Whether `suffix` is one of the `<name>` families (`headers.request.set.X-Env`).
pub(super) fn in_family(suffix: &str) -> bool {
    SUFFIXES
        .iter()
        .filter_map(|s| s.strip_suffix("<name>"))
        .any(|family| suffix.strip_prefix(family).is_some_and(|n| !n.is_empty()))
}

/// The labels' shaping (problems are recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>, layer: Layer) -> Shape {
    let rules = Rules {
        request_headers: edits(labels, "headers.request", Direction::Request),
        response_headers: edits(labels, "headers.response", Direction::Response),
        cors: cors(labels),
        max_request_body: labels.parse("max_request_body", size),
        rewrite: path_rewrite(labels),
        redirect_scheme: scheme(labels),
        redirect_regex: redirect(labels),
    };
    if let Some(first) = rules.first_set().filter(|_| layer == Layer::Tcp) {
        let key = labels.key(first);
        labels.problem(format!("labels {key}*: {HTTP_ONLY}"));
    }
    Shape::new(rules)
}

fn edits(labels: &mut Labels<'_>, at: &str, direction: Direction) -> HeaderEdits {
    let (set, add) = (entries(labels, at, "set"), entries(labels, at, "add"));
    let remove = labels
        .parse(&format!("{at}.remove"), list)
        .unwrap_or_default();
    HeaderEdits::new(direction, &set, &add, &remove)
        .map_err(|problems| {
            for (field, why) in problems {
                let key = labels.key(&format!("{at}.{field}"));
                labels.problem(format!("label {key}: {why}"));
            }
        })
        .unwrap_or_default()
}

/// The `<at>.<verb>.<Name>` labels as (name, value); an empty value is a problem.
fn entries(labels: &mut Labels<'_>, at: &str, verb: &str) -> Vec<(String, String)> {
    let family = format!("{at}.{verb}.");
    let suffixes: Vec<&str> = labels
        .suffixes()
        .filter(|s| s.strip_prefix(&family).is_some_and(|n| !n.is_empty()))
        .collect();
    let mut out = Vec::new();
    for suffix in suffixes {
        if let Some(value) = labels.parse(suffix, |v| Ok::<_, String>(v.to_owned())) {
            out.push((suffix[family.len()..].to_owned(), value));
        }
    }
    out
}

fn cors(labels: &mut Labels<'_>) -> Option<Cors> {
    let (origins_key, methods_key, headers_key) = ("cors.origins", "cors.methods", "cors.headers");
    let (expose_key, credentials_key, age_key) =
        ("cors.expose_headers", "cors.credentials", "cors.max_age");
    let origins = labels.parse(origins_key, list);
    let methods = labels.parse(methods_key, list);
    let headers = labels.parse(headers_key, list);
    let expose = labels.parse(expose_key, list);
    let credentials = labels.parse(credentials_key, boolean);
    let max_age = labels.parse(age_key, duration);
    if !labels.has(origins_key) {
        let others = [
            methods_key,
            headers_key,
            expose_key,
            credentials_key,
            age_key,
        ];
        labels.orphans(&others, &[origins_key]);
        return None;
    }
    let settings = cors::Settings {
        origins: &origins?,
        methods: methods.as_deref(),
        headers: headers.as_deref(),
        expose_headers: expose.as_deref(),
        credentials: credentials.unwrap_or(false),
        max_age,
    };
    Cors::new(&settings)
        .map_err(|(field, why)| {
            let key = labels.key(&format!("cors.{field}"));
            labels.problem(format!("label {key}: {why}"));
        })
        .ok()
}

fn path_rewrite(labels: &mut Labels<'_>) -> PathRewrite {
    let replace_path = labels.parse("replace_path", |v| rewrite::path(v, false));
    let add_prefix = labels.parse("add_prefix", |v| rewrite::path(v, true));
    let replace_path_regex = replace(labels, "replace_path_regex");
    if replace_path.is_some() && labels.has("replace_path_regex.regex") {
        let (a, b) = (
            labels.key("replace_path"),
            labels.key("replace_path_regex.regex"),
        );
        labels.problem(format!(
            "labels {a} and {b}: `replace_path` already replaces the whole path: keep one of the two"
        ));
    }
    PathRewrite {
        replace_path,
        replace_path_regex,
        add_prefix,
    }
}

/// `<at>.regex` and `<at>.replacement`, which go together.
fn replace(labels: &mut Labels<'_>, at: &str) -> Option<Replace> {
    let (regex_key, replacement_key) = (format!("{at}.regex"), format!("{at}.replacement"));
    let regex = labels.parse(&regex_key, |v| Ok::<_, String>(v.to_owned()));
    // A replacement may be empty (`""` removes what the regex matched): read it as it is.
    let replacement = labels.raw(&replacement_key);
    match (regex, replacement) {
        (Some(regex), Some(replacement)) => rewrite::replace(&regex, replacement)
            .map_err(|(field, why)| {
                let key = labels.key(&format!("{at}.{field}"));
                labels.problem(format!("label {key}: {why}"));
            })
            .ok(),
        (None, None) => None,
        (None, Some(_)) if labels.has(&regex_key) => None,
        (Some(_), None) | (None, Some(_)) => {
            let (a, b) = (labels.key(&regex_key), labels.key(&replacement_key));
            labels.problem(format!(
                "labels {a} and {b} go together: set both, or neither"
            ));
            None
        }
    }
}

fn scheme(labels: &mut Labels<'_>) -> Option<SchemeRedirect> {
    let scheme = labels.parse("redirect_scheme", rewrite::scheme);
    let port = labels.parse("redirect_scheme.port", port);
    let permanent = labels.parse("redirect_scheme.permanent", boolean);
    if !labels.has("redirect_scheme") {
        let others = ["redirect_scheme.port", "redirect_scheme.permanent"];
        labels.orphans(&others, &["redirect_scheme"]);
        return None;
    }
    Some(SchemeRedirect {
        scheme: scheme?,
        port,
        permanent: permanent.unwrap_or(true),
    })
}

fn redirect(labels: &mut Labels<'_>) -> Option<RegexRedirect> {
    let status = labels.parse("redirect_regex.status", |v| {
        let n = v
            .trim()
            .parse::<u32>()
            .map_err(|_| "expected 301, 302, 307 or 308".to_owned())?;
        rewrite::redirect_status(n)
    });
    let replace = replace(labels, "redirect_regex");
    if replace.is_none() && !labels.has("redirect_regex.regex") {
        labels.orphans(&["redirect_regex.status"], &["redirect_regex.regex"]);
    }
    let bad_status = labels.has("redirect_regex.status") && status.is_none();
    Some(RegexRedirect {
        replace: replace.filter(|_| !bad_status)?,
        status: status.unwrap_or(302),
    })
}
