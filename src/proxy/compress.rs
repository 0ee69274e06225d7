//! Response compression (data plane): gzip, Brotli or zstd, negotiated per request.
//!
//! Per request of a service with `compress`: [`wanted`] reads `Accept-Encoding` (q-values,
//! `*`, `identity`; `q=0` refuses) and picks the service's encoding with the highest q (a
//! tie goes to the service's order, by default br, zstd, gzip); HEAD and upgrade requests
//! are left alone. [`Wanted::apply`] then judges the response: it is compressible when its
//! status has a body (not 1xx, 204, 206, 304), it carries no `Content-Encoding` or
//! `Content-Range`, no `Cache-Control: no-transform`, its `Content-Type` is in the service's
//! `types` (never `text/event-stream`), and its `Content-Length`, when given, is at least
//! `min_size` (a streamed body without one is compressed: its size is unknown until its
//! end). A compressible response gets `Vary: Accept-Encoding` whether or not this client
//! takes an encoding; a compressed one gets `Content-Encoding`, loses `Content-Length`
//! and `Accept-Ranges`, and its strong `ETag` becomes weak (`W/`), as nginx does. The body
//! streams through [`coder::Coder`].
//!
//! A service without `compress` pays one `Option` test per request.

use http::header::{
    HeaderValue, ACCEPT_ENCODING, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH,
    CONTENT_RANGE, CONTENT_TYPE, ETAG, VARY,
};
use http::{HeaderMap, Method, Request, Response};
use http_body_util::Either;

use crate::model::compress::{Compress, Encoding};
use crate::proxy::error::ProxyBody;
use crate::proxy::headers;

pub mod coder;

/// What a request to a compressing service takes.
#[derive(Clone, Copy, Debug)]
pub struct Wanted<'a> {
    settings: &'a Compress,
    /// `None`: this client takes none of the service's encodings (`Vary` is still set).
    encoding: Option<Encoding>,
}

/// The request's compression; `None` when its response is to be left alone (HEAD,
/// upgrades).
#[inline]
pub fn wanted<'a, B>(settings: &'a Compress, req: &Request<B>) -> Option<Wanted<'a>> {
    if req.method() == Method::HEAD || headers::is_upgrade(req.headers()) {
        return None;
    }
    let encoding = negotiate(&settings.encodings, req.headers());
    Some(Wanted { settings, encoding })
}

impl Wanted<'_> {
    /// The response, compressed when it may be (see the module doc).
    pub fn apply(self, mut response: Response<ProxyBody>) -> Response<ProxyBody> {
        let compressible = matches!(response.body(), Either::Left(_))
            && eligible(
                self.settings,
                response.status().as_u16(),
                response.headers(),
            );
        if !compressible {
            return response;
        }
        let h = response.headers_mut();
        add_vary(h);
        let Some(encoding) = self.encoding else {
            return response;
        };
        h.insert(CONTENT_ENCODING, encoding.header());
        h.remove(CONTENT_LENGTH);
        h.remove(ACCEPT_RANGES);
        weaken_etag(h);
        response.map(|body| match body {
            Either::Left(upstream) => Either::Left(upstream.encode(coder::Coder::new(encoding))),
            generated => generated,
        })
    }
}

/// Whether a response with this status and these headers may be compressed.
fn eligible(settings: &Compress, status: u16, h: &HeaderMap) -> bool {
    let no_body = status < 200 || matches!(status, 204 | 206 | 304);
    let text = |name| h.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let encoded =
        text(CONTENT_ENCODING).is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    let no_transform = h
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-transform"));
    let small = text(CONTENT_LENGTH)
        .and_then(|l| l.trim().parse::<u64>().ok())
        .is_some_and(|len| len < settings.min_size);
    !no_body
        && !encoded
        && !no_transform
        && !small
        && !h.contains_key(CONTENT_RANGE)
        && text(CONTENT_TYPE).is_some_and(|t| settings.compressible(t))
}

/// The offered encoding the client weighs highest (q > 0); ties go to `offer`'s order.
pub fn negotiate(offer: &[Encoding], h: &HeaderMap) -> Option<Encoding> {
    let star = q_of(h, "*");
    let mut best: Option<(Encoding, u16)> = None;
    for &e in offer {
        let q = q_of(h, e.as_str())
            .or_else(|| (e == Encoding::Gzip).then(|| q_of(h, "x-gzip")).flatten())
            .or(star)
            .unwrap_or(0);
        if q > 0 && best.map_or(true, |(_, b)| q > b) {
            best = Some((e, q));
        }
    }
    best.map(|(e, _)| e)
}

/// The q-value (in thousandths) `Accept-Encoding` gives `coding`, if it names it.
fn q_of(h: &HeaderMap, coding: &str) -> Option<u16> {
    h.get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|item| {
            let mut parts = item.split(';');
            let name = parts.next()?.trim();
            if !name.eq_ignore_ascii_case(coding) {
                return None;
            }
            let q = parts.find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim().eq_ignore_ascii_case("q").then(|| qvalue(v.trim()))
            });
            Some(q.unwrap_or(1000))
        })
}

/// `1`, `0.5`, `0.125` in thousandths; anything else refuses (0).
fn qvalue(v: &str) -> u16 {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits = frac.len() <= 3 && frac.bytes().all(|b| b.is_ascii_digit());
    let thousandths = match (int, digits) {
        ("0", true) => thousandths(frac),
        ("1", true) if frac.bytes().all(|b| b == b'0') => 1000,
        _ => 0,
    };
    thousandths.min(1000)
}

/// `"5"` → 500, `"125"` → 125.
fn thousandths(frac: &str) -> u16 {
    frac.bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |n, b| n * 10 + u16::from(b - b'0'))
}

/// Adds `Vary: Accept-Encoding` unless the response varies on it (or on everything).
fn add_vary(h: &mut HeaderMap) {
    let covered = h
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim() == "*" || f.trim().eq_ignore_ascii_case("accept-encoding"));
    if !covered {
        h.append(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// A strong `ETag` becomes weak: the compressed bytes are another representation.
fn weaken_etag(h: &mut HeaderMap) {
    let Some(tag) = h.get(ETAG) else {
        return;
    };
    if tag.as_bytes().starts_with(b"W/") {
        return;
    }
    let mut weak = b"W/".to_vec();
    weak.extend_from_slice(tag.as_bytes());
    if let Ok(v) = HeaderValue::from_bytes(&weak) {
        h.insert(ETAG, v);
    }
}

#[cfg(test)]
mod tests;
