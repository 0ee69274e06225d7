//! One access-log record (data plane builds it, the writer thread formats it).
//!
//! The request's texts (host, path, user agent, referer) are copied once, bounded, into one
//! buffer: a logged request allocates that buffer and the boxed record, nothing more.

use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{HOST, REFERER, USER_AGENT};
use http::{HeaderMap, Method, Request, Version};

use super::trace::TraceId;
use crate::endpoint::Endpoint;

/// Longest path kept in a record.
pub const MAX_PATH: usize = 256;
/// Longest host kept in a record.
pub const MAX_HOST: usize = 256;
/// Longest user agent or referer kept in a record.
pub const MAX_HEADER: usize = 512;

/// One served request.
#[derive(Debug)]
pub struct Record {
    /// When the request arrived.
    pub time: SystemTime,
    pub listener: Arc<str>,
    pub service: Option<Arc<str>>,
    /// The endpoint tried last, if one was: the one that answered, or that failed (its
    /// address and container are logged).
    pub endpoint: Option<Arc<Endpoint>>,
    pub client: IpAddr,
    pub method: Method,
    pub version: Version,
    pub texts: Texts,
    pub status: u16,
    /// Request body bytes read from the client.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// From the request's arrival to the end of its response body.
    pub duration: Duration,
    /// From the request's arrival to the upstream's response head (retries included).
    pub upstream: Option<Duration>,
    pub retries: u8,
    /// Why berth answered itself (`no_route`, `upstream`, ...), or why the response was cut
    /// short (`client_closed`, `upstream_body`).
    pub error: Option<&'static str>,
    pub trace_id: Option<TraceId>,
}

/// The request's texts, bounded, in one buffer.
#[derive(Debug, Default)]
pub struct Texts {
    buf: Vec<u8>,
    host: Range<usize>,
    path: Range<usize>,
    user_agent: Option<Range<usize>>,
    referer: Option<Range<usize>>,
}

impl Texts {
    /// Copies what the log shows of `req`; `extra`: the user agent and referer too.
    pub fn of<B>(req: &Request<B>, extra: bool) -> Self {
        let headers = req.headers();
        let host = headers
            .get(HOST)
            .map(|h| h.as_bytes())
            .or_else(|| req.uri().authority().map(|a| a.as_str().as_bytes()))
            .unwrap_or_default();
        let path = req.uri().path().as_bytes();
        let (agent, referer) = match extra {
            true => (header(headers, &USER_AGENT), header(headers, &REFERER)),
            false => (None, None),
        };
        let size = |t: Option<&[u8]>| t.map_or(0, |t| t.len().min(MAX_HEADER));
        let capacity = host.len().min(MAX_HOST) + path.len().min(MAX_PATH);
        let mut t = Self {
            buf: Vec::with_capacity(capacity + size(agent) + size(referer)),
            ..Self::default()
        };
        t.host = t.push(host, MAX_HOST);
        t.path = t.push(path, MAX_PATH);
        t.user_agent = agent.map(|a| t.push(a, MAX_HEADER));
        t.referer = referer.map(|r| t.push(r, MAX_HEADER));
        t
    }

    fn push(&mut self, text: &[u8], max: usize) -> Range<usize> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&text[..cut(text, max)]);
        start..self.buf.len()
    }

    pub fn host(&self) -> &[u8] {
        &self.buf[self.host.clone()]
    }

    pub fn path(&self) -> &[u8] {
        &self.buf[self.path.clone()]
    }

    pub fn user_agent(&self) -> Option<&[u8]> {
        self.user_agent.clone().map(|r| &self.buf[r])
    }

    pub fn referer(&self) -> Option<&[u8]> {
        self.referer.clone().map(|r| &self.buf[r])
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &http::header::HeaderName) -> Option<&'a [u8]> {
    headers.get(name).map(|v| v.as_bytes())
}

/// Where `text` is cut to at most `max` bytes, never inside a UTF-8 character.
fn cut(text: &[u8], max: usize) -> usize {
    if text.len() <= max {
        return text.len();
    }
    let mut end = max;
    // A UTF-8 continuation byte is 0b10xx_xxxx: back up to the start of its character.
    while end > 0 && text[end] & 0xc0 == 0x80 {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_bounded_on_character_boundaries() {
        let long = format!("/{}é", "a".repeat(MAX_PATH - 2));
        let req = Request::builder()
            .uri(format!(
                "http://example.test{}",
                long.replace('é', "%C3%A9")
            ))
            .header(USER_AGENT, "curl/8")
            .body(())
            .unwrap();
        let t = Texts::of(&req, true);
        assert_eq!(t.host(), b"example.test");
        assert_eq!(t.path().len(), MAX_PATH);
        assert_eq!(t.user_agent(), Some(&b"curl/8"[..]));
        assert_eq!(t.referer(), None);
        let plain = Texts::of(&req, false);
        assert_eq!(plain.user_agent(), None);

        let text = "ab€".as_bytes();
        assert_eq!(cut(text, 3), 2, "never half of €");
        assert_eq!(cut(text, 5), 5);
    }
}
