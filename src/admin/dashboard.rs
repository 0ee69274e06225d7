//! The live dashboard at `/` of the admin listener: one self-contained HTML page (inline CSS
//! and JavaScript, no external asset) that polls `/api/*` and `/metrics` from the browser.
//!
//! Served with a Content-Security-Policy that allows only the page's own inline script and
//! style (by their SHA-256 hashes) and requests to the admin listener itself, and may not be
//! framed. The page inserts API text with `textContent` only: container names are untrusted.

use std::sync::OnceLock;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::Full;

/// The page, embedded in the binary.
const PAGE: &str = include_str!("dashboard.html");

/// The dashboard page with its security headers.
pub fn page() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // Invariant: the policy is ASCII (hashes are base64), always a valid header value.
    let csp = HeaderValue::from_str(policy()).expect("ASCII policy");
    headers.insert("content-security-policy", csp);
    response
}

/// The Content-Security-Policy, computed once: the page's inline `<script>` and `<style>`
/// run because their hashes are listed; nothing else does.
fn policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        format!(
            "default-src 'none'; connect-src 'self'; script-src {}; style-src {}; \
             img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hashes(PAGE, "script"),
            hashes(PAGE, "style")
        )
    })
}

/// `'sha256-…'` of the content of every `<tag>` element of `page`, space-separated.
fn hashes(page: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find(&open) {
        let body = &rest[start + open.len()..];
        let Some(end) = body.find(&close) else { break };
        let digest = ring::digest::digest(&ring::digest::SHA256, &body.as_bytes()[..end]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
        out.push(format!("'sha256-{b64}'"));
        rest = &body[end + close.len()..];
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `src=`/`href=` value in the page: none may load anything from elsewhere.
    fn references(page: &str) -> Vec<String> {
        let mut out = Vec::new();
        for attr in ["src=", "href=", "action="] {
            let mut rest = page;
            while let Some(i) = rest.find(attr) {
                let value = rest[i + attr.len()..].trim_start_matches(['"', '\'']);
                let end = value.find(['"', '\'', ' ', '>']).unwrap_or(value.len());
                out.push(value[..end].to_owned());
                rest = &rest[i + attr.len()..];
            }
        }
        out
    }

    #[test]
    fn page_is_self_contained() {
        for r in references(PAGE) {
            assert!(
                !r.contains("//") && !r.starts_with("http"),
                "the page loads {r}: it must embed everything"
            );
        }
        for url in ["http://", "https://", "url(", "@import"] {
            assert!(!PAGE.contains(url), "the page mentions {url}");
        }
        assert!(!PAGE.contains("innerHTML") && !PAGE.contains("outerHTML"));
        assert!(!PAGE.contains("eval(") && !PAGE.contains("new Function"));
        assert!(!PAGE.contains("<script src") && !PAGE.contains("<link rel=\"stylesheet\""));
    }

    #[test]
    fn policy_lists_one_hash_each_for_the_inline_script_and_style() {
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
        let p = policy();
        assert_eq!(p.matches("'sha256-").count(), 2, "{p}");
        assert!(!p.contains("unsafe"), "{p}");
        assert!(p.starts_with("default-src 'none'; connect-src 'self';"));
    }

    #[test]
    fn page_is_served_as_html_with_security_headers() {
        let r = page();
        let h = r.headers();
        assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(h[CACHE_CONTROL], "no-store");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h["content-security-policy"]
            .to_str()
            .is_ok_and(|v| v == policy()));
    }
}
