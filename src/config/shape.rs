//! A static service's shaping (control plane, load time): `headers`, `cors`,
//! `max_request_body`, `replace_path`, `replace_path_regex`, `add_prefix`, `redirect_scheme`
//! and `redirect_regex`, checked with the rules labels use (`model::shape`); every problem is
//! recorded with its field path.

pub mod raw;

use super::raw::Service;
use super::validate::Problems;
use crate::model::shape::cors::{self, Cors};
use crate::model::shape::headers::{Direction, HeaderEdits};
use crate::model::shape::rewrite::{self, PathRewrite, RegexRedirect, SchemeRedirect};
use crate::model::shape::{Rules, Shape, HTTP_ONLY};
use crate::model::Layer;

/// The shaping of the service at `path`, taken out of `s` (an L4 service may have none).
pub(super) fn shape(p: &mut Problems, path: &str, s: &mut Service, layer: Layer) -> Shape {
    let (request_headers, response_headers) = match s.headers.take() {
        Some(h) => (
            edits(
                p,
                &format!("{path}.headers.request"),
                h.request,
                Direction::Request,
            ),
            edits(
                p,
                &format!("{path}.headers.response"),
                h.response,
                Direction::Response,
            ),
        ),
        None => Default::default(),
    };
    let rules = Rules {
        request_headers,
        response_headers,
        cors: s.cors.take().and_then(|c| cors(p, path, c)),
        max_request_body: s.max_request_body.take().map(|m| m.0),
        rewrite: path_rewrite(p, path, s),
        redirect_scheme: s.redirect_scheme.take().and_then(|r| scheme(p, path, r)),
        redirect_regex: s.redirect_regex.take().and_then(|r| redirect(p, path, r)),
    };
    if let Some(first) = rules.first_set().filter(|_| layer == Layer::Tcp) {
        p.add(format!("{path}.{first}"), HTTP_ONLY);
    }
    Shape::new(rules)
}

fn edits(p: &mut Problems, at: &str, raw: Option<raw::Edits>, d: Direction) -> HeaderEdits {
    let Some(raw) = raw else {
        return HeaderEdits::default();
    };
    let pairs = |m: Option<super::raw::UniqueMap<String>>| -> Vec<(String, String)> {
        m.map(|m| m.0.into_iter().collect()).unwrap_or_default()
    };
    let remove = raw.remove.map(|r| r.0).unwrap_or_default();
    HeaderEdits::new(d, &pairs(raw.set), &pairs(raw.add), &remove)
        .map_err(|problems| {
            for (field, why) in problems {
                p.add(format!("{at}.{field}"), why);
            }
        })
        .unwrap_or_default()
}

fn cors(p: &mut Problems, path: &str, raw: raw::Cors) -> Option<Cors> {
    let settings = cors::Settings {
        origins: &raw.origins.0,
        methods: raw.methods.as_ref().map(|m| m.0.as_slice()),
        headers: raw.headers.as_ref().map(|m| m.0.as_slice()),
        expose_headers: raw.expose_headers.as_ref().map(|m| m.0.as_slice()),
        credentials: raw.credentials.unwrap_or(false),
        max_age: raw.max_age.map(|m| m.0),
    };
    Cors::new(&settings)
        .map_err(|(field, why)| p.add(format!("{path}.cors.{field}"), why))
        .ok()
}

fn path_rewrite(p: &mut Problems, path: &str, s: &mut Service) -> PathRewrite {
    let mut checked = |field: &str, text: Option<String>, prefix: bool| {
        let text = text?;
        rewrite::path(&text, prefix)
            .map_err(|why| p.add(format!("{path}.{field}"), why))
            .ok()
    };
    let replace_path = checked("replace_path", s.replace_path.take(), false);
    let add_prefix = checked("add_prefix", s.add_prefix.take(), true);
    let regex = s.replace_path_regex.take();
    if regex.is_some() && replace_path.is_some() {
        p.add(
            format!("{path}.replace_path_regex"),
            "`replace_path` already replaces the whole path: keep one of the two",
        );
    }
    let replace_path_regex = regex.and_then(|r| {
        rewrite::replace(&r.regex, &r.replacement)
            .map_err(|(field, why)| p.add(format!("{path}.replace_path_regex.{field}"), why))
            .ok()
    });
    PathRewrite {
        replace_path,
        replace_path_regex,
        add_prefix,
    }
}

fn scheme(p: &mut Problems, path: &str, raw: raw::SchemeRedirect) -> Option<SchemeRedirect> {
    if raw.port == Some(0) {
        p.add(
            format!("{path}.redirect_scheme.port"),
            "expected a port 1..=65535",
        );
        return None;
    }
    let scheme = rewrite::scheme(&raw.scheme)
        .map_err(|why| p.add(format!("{path}.redirect_scheme"), why))
        .ok()?;
    Some(SchemeRedirect {
        scheme,
        port: raw.port,
        permanent: raw.permanent.unwrap_or(true),
    })
}

fn redirect(p: &mut Problems, path: &str, raw: raw::RegexRedirect) -> Option<RegexRedirect> {
    let at = format!("{path}.redirect_regex");
    let status = rewrite::redirect_status(raw.status.unwrap_or(302))
        .map_err(|why| p.add(format!("{at}.status"), why))
        .ok();
    let replace = rewrite::replace(&raw.regex, &raw.replacement)
        .map_err(|(field, why)| p.add(format!("{at}.{field}"), why))
        .ok();
    Some(RegexRedirect {
        replace: replace?,
        status: status?,
    })
}

#[cfg(test)]
mod tests;
