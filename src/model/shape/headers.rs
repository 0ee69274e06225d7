//! Header edits of a service (vocabulary): `set`, `add` and `remove`, for the request sent to
//! the backend (`headers.request`) or the response sent to the client (`headers.response`).
//!
//! They apply in that order: `remove`, then `set` (replaces every value), then `add` (one
//! more value). Some headers are berth's, and no service may set, add or remove them: the
//! hop-by-hop headers (RFC 9110 §7.6.1: `Connection`, `Keep-Alive`, `TE`, `Trailer`,
//! `Transfer-Encoding`, `Upgrade`, every `Proxy-*`), the body's framing (`Content-Length`),
//! `Host`, and in requests the forwarding headers berth writes from what it saw
//! (`X-Forwarded-For/-Proto/-Host`, `X-Real-IP`, `Forwarded`): a label must not be able to
//! defeat `trusted_ips`. Invariant: [`HeaderEdits`] that exist name each header once.

use http::header::{HeaderName, HeaderValue};

/// Which message the edits are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// The edits of one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    pub remove: Vec<HeaderName>,
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
}

/// Hop-by-hop headers: berth's, per connection.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What berth writes for the backend from what it saw of the client.
const FORWARDING: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-real-ip",
    "forwarded",
];

/// One problem: the entry it is about (`set.X-Env`, `remove`) and why, with the fix.
pub type Problem = (String, String);

impl HeaderEdits {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }

    /// Checked edits from names and values as written; every problem found, else the edits.
    pub fn new(
        direction: Direction,
        set: &[(String, String)],
        add: &[(String, String)],
        remove: &[String],
    ) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut edits = Self::default();
        for name in remove {
            match header_name(direction, name) {
                Ok(n) => edits.remove.push(n),
                Err(e) => problems.push(("remove".to_owned(), e)),
            }
        }
        for (list, out, verb) in [(set, &mut edits.set, "set"), (add, &mut edits.add, "add")] {
            for (name, value) in list {
                let at = format!("{verb}.{name}");
                let checked = header_name(direction, name)
                    .and_then(|n| header_value(&n, value).map(|v| (n, v)));
                match checked {
                    Ok(pair) => out.push(pair),
                    Err(e) => problems.push((at, e)),
                }
            }
        }
        problems.extend(edits.clashes());
        match problems.is_empty() {
            true => Ok(edits),
            false => Err(problems),
        }
    }

    /// A header named twice: removed and set or added, or both set and added.
    fn clashes(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut seen: Vec<(&HeaderName, &str)> = Vec::new();
        let names = (self.remove.iter().map(|n| (n, "remove")))
            .chain(self.set.iter().map(|(n, _)| (n, "set")))
            .chain(self.add.iter().map(|(n, _)| (n, "add")));
        for (name, verb) in names {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                let why = match (*first, verb) {
                    ("set", "add") => "`set` replaces every value and `add` appends one: keep one",
                    _ if *first == verb => {
                        "it is listed twice (header names ignore case): keep one"
                    }
                    _ => "an edit of a removed header makes no sense: keep one",
                };
                out.push((
                    format!("{verb}.{name}"),
                    format!("{name} is also in `{first}`: {why}"),
                ));
            } else {
                seen.push((name, verb));
            }
        }
        out
    }
}

/// A header name a service may edit (see the module doc), lowercased.
pub fn header_name(direction: Direction, name: &str) -> Result<HeaderName, String> {
    let name = name.trim();
    let parsed = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        format!(
            "`{name}` is not a valid header name: use letters, digits and `-`, like X-Frame-Options"
        )
    })?;
    let lower = parsed.as_str();
    if HOP_BY_HOP.contains(&lower) || lower.starts_with("proxy-") {
        return Err(format!(
            "{name} is a hop-by-hop header, which berth manages per connection \
             (RFC 9110 §7.6.1): remove it from the list"
        ));
    }
    if lower == "content-length" {
        return Err(format!(
            "{name} is the body's framing, which berth keeps as the message has it: remove it"
        ));
    }
    if lower == "host" {
        return Err(format!(
            "{name} is the host berth routed by, sent to the backend as the client sent it: \
             remove it (route by `hosts` instead)"
        ));
    }
    if direction == Direction::Request && FORWARDING.contains(&lower) {
        return Err(format!(
            "{name} is written by berth from the client it saw, and believed only from \
             trusted_ips: a service cannot set, add or remove it; remove it from the list"
        ));
    }
    Ok(parsed)
}

/// A header value: visible ASCII, spaces and tabs, no line breaks.
pub fn header_value(name: &HeaderName, value: &str) -> Result<HeaderValue, String> {
    let ascii = value.is_ascii().then_some(value).ok_or(());
    ascii
        .and_then(|v| HeaderValue::from_str(v).map_err(|_| ()))
        .map_err(|_| {
            format!(
            "the value of {name} is not a valid header value: use visible ASCII characters and \
             spaces, without line breaks (percent-encode anything else)"
        )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn edits_are_checked_and_lowercased() {
        let e = HeaderEdits::new(
            Direction::Response,
            &pairs(&[("X-Frame-Options", "DENY")]),
            &pairs(&[("Link", "</a>; rel=preload")]),
            &["Server".to_owned()],
        )
        .expect("valid edits");
        assert_eq!(e.set[0].0, "x-frame-options");
        assert_eq!(e.add[0].1, "</a>; rel=preload");
        assert_eq!(e.remove[0], "server");
        assert!(!e.is_empty() && HeaderEdits::default().is_empty());
    }

    #[test]
    fn berths_headers_are_refused_with_the_reason() {
        let req = Direction::Request;
        for (name, why) in [
            ("Connection", "hop-by-hop"),
            ("Transfer-Encoding", "hop-by-hop"),
            ("Upgrade", "hop-by-hop"),
            ("Keep-Alive", "hop-by-hop"),
            ("TE", "hop-by-hop"),
            ("Trailer", "hop-by-hop"),
            ("Proxy-Authorization", "hop-by-hop"),
            ("Host", "route by `hosts`"),
            ("Content-Length", "framing"),
            ("X-Forwarded-For", "trusted_ips"),
            ("X-Real-IP", "trusted_ips"),
            ("Forwarded", "trusted_ips"),
            ("X Env", "not a valid header name"),
        ] {
            let e = header_name(req, name).expect_err(name);
            assert!(e.contains(why), "{name}: {e}");
        }
        assert!(header_name(Direction::Response, "X-Forwarded-For").is_ok());
        let name = HeaderName::from_static("x-a");
        assert!(header_value(&name, "a\r\nb").is_err());
        assert!(header_value(&name, "é").is_err());
    }

    #[test]
    fn a_header_named_twice_is_a_problem() {
        let e = HeaderEdits::new(
            Direction::Request,
            &pairs(&[("X-A", "1"), ("x-b", "2")]),
            &pairs(&[("x-a", "3")]),
            &["X-B".to_owned(), "Connection".to_owned()],
        )
        .expect_err("clashes");
        let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["remove", "set.x-b", "add.x-a"], "{e:?}");
        assert!(e[2].1.contains("`set` replaces"), "{e:?}");
    }
}
