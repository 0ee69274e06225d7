//! A service's shaping as the admin API shows it (control plane): header edits as name →
//! value maps, CORS with its rendered header values, the body limit in bytes, rewrites and
//! redirects in words. The value of a header whose name says it carries a credential
//! (`Authorization`, `Cookie`, `*token*`, `*secret*`, `*key*`, ...) shows as `"<redacted>"`.

use std::collections::BTreeMap;

use http::header::{HeaderName, HeaderValue};
use serde::Serialize;

use crate::admin::config_doc::REDACTED;
use crate::model::shape::cors::{AllowHeaders, Cors, Origins};
use crate::model::shape::{HeaderEdits, Rules, Shape};

/// `shape` of a service; `null` when it sets nothing.
#[derive(Serialize)]
pub(super) struct ShapeDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_headers: Option<EditsDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_headers: Option<EditsDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cors: Option<CorsDoc>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_request_body: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replace_path: Option<String>,
    /// `REGEX → REPLACEMENT`.
    #[serde(skip_serializing_if = "Option::is_none")]
    replace_path_regex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    add_prefix: Option<String>,
    /// Like `https port 8443 (permanent)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_scheme: Option<String>,
    /// Like `^http://old.test/(.*) → https://new.test/$1 (302)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_regex: Option<String>,
}

#[derive(Serialize)]
struct EditsDoc {
    set: BTreeMap<String, String>,
    add: BTreeMap<String, String>,
    remove: Vec<String>,
}

#[derive(Serialize)]
struct CorsDoc {
    /// `["*"]` for any origin.
    origins: Vec<String>,
    methods: String,
    /// `*`: what the preflight asks for; absent: only the safelisted ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expose_headers: Option<String>,
    credentials: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_age_s: Option<u64>,
}

impl ShapeDoc {
    pub(super) fn of(shape: &Shape) -> Option<Self> {
        let r: &Rules = shape.rules()?;
        let rw = &r.rewrite;
        Some(Self {
            request_headers: EditsDoc::of(&r.request_headers),
            response_headers: EditsDoc::of(&r.response_headers),
            cors: r.cors.as_ref().map(CorsDoc::of),
            max_request_body: r.max_request_body,
            replace_path: rw.replace_path.clone(),
            replace_path_regex: rw.replace_path_regex.as_ref().map(ToString::to_string),
            add_prefix: rw.add_prefix.clone(),
            redirect_scheme: r.redirect_scheme.as_ref().map(ToString::to_string),
            redirect_regex: r
                .redirect_regex
                .as_ref()
                .map(|x| format!("{} ({})", x.replace, x.status)),
        })
    }
}

fn text(v: &HeaderValue) -> String {
    String::from_utf8_lossy(v.as_bytes()).into_owned()
}

/// The value as shown: redacted when the name looks like a credential's.
fn shown(name: &HeaderName, value: &HeaderValue) -> String {
    const SECRET: [&str; 8] = [
        "auth",
        "cookie",
        "token",
        "secret",
        "key",
        "password",
        "session",
        "credential",
    ];
    match SECRET.iter().any(|s| name.as_str().contains(s)) {
        true => REDACTED.to_owned(),
        false => text(value),
    }
}

impl EditsDoc {
    fn of(e: &HeaderEdits) -> Option<Self> {
        let map = |list: &[(HeaderName, HeaderValue)]| {
            list.iter()
                .map(|(n, v)| (n.to_string(), shown(n, v)))
                .collect()
        };
        (!e.is_empty()).then(|| Self {
            set: map(&e.set),
            add: map(&e.add),
            remove: e.remove.iter().map(ToString::to_string).collect(),
        })
    }
}

impl CorsDoc {
    fn of(c: &Cors) -> Self {
        Self {
            origins: match &c.origins {
                Origins::Any => vec!["*".to_owned()],
                Origins::List(list) => list.iter().map(ToString::to_string).collect(),
            },
            methods: text(&c.methods),
            headers: match &c.headers {
                AllowHeaders::None => None,
                AllowHeaders::Any => Some("*".to_owned()),
                AllowHeaders::List(v) => Some(text(v)),
            },
            expose_headers: c.expose_headers.as_ref().map(text),
            credentials: c.credentials,
            max_age_s: c.max_age.as_ref().and_then(|v| text(v).parse().ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        let v = HeaderValue::from_static("Bearer abc");
        for name in ["authorization", "x-api-key", "x-auth-token", "set-cookie"] {
            let n = HeaderName::from_static(name);
            assert_eq!(shown(&n, &v), REDACTED, "{name}");
        }
        assert_eq!(shown(&HeaderName::from_static("x-env"), &v), "Bearer abc");
    }
}
