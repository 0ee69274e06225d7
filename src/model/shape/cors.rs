//! Cross-origin resource sharing of a service (vocabulary): which web origins may call it
//! from a browser, with which methods and headers.
//!
//! - `origins`: exact origins (`https://app.example.com`, a port if not the scheme's), a
//!   wildcard over subdomains (`https://*.example.com`: one or more labels), or `*` (any
//!   origin; not with `credentials`, which browsers refuse with `*`). Compared ignoring case.
//! - `methods` (default `GET, HEAD, POST`), `headers` (request headers a call may send; `*`
//!   echoes what the preflight asks for), `expose_headers` (response headers scripts may
//!   read), `credentials` (cookies and authorization; default false), `max_age` (how long a
//!   browser may cache a preflight's answer).
//!
//! Invariant: a [`Cors`] that exists passed these checks, and its header values are rendered
//! once, at load time.

use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Method;

use crate::model::rules::check_host;

/// A service's CORS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cors {
    pub origins: Origins,
    /// `Access-Control-Allow-Methods`.
    pub methods: HeaderValue,
    pub headers: AllowHeaders,
    /// `Access-Control-Expose-Headers`, if any.
    pub expose_headers: Option<HeaderValue>,
    pub credentials: bool,
    /// `Access-Control-Max-Age`, in seconds, if set.
    pub max_age: Option<HeaderValue>,
}

/// Which origins may call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origins {
    /// `*`: every origin.
    Any,
    /// At least one pattern.
    List(Vec<Origin>),
}

/// One allowed origin (lowercase).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `https://app.example.com[:port]`.
    Exact(String),
    /// `https://*.example.com[:port]`: the scheme with `://`, and the host's tail from the
    /// dot on (`.example.com[:port]`).
    Subdomains { scheme: String, tail: String },
}

/// Which request headers a call may send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowHeaders {
    /// None listed: only the CORS-safelisted ones.
    None,
    /// `*`: those the preflight asks for.
    Any,
    /// `Access-Control-Allow-Headers`.
    List(HeaderValue),
}

/// The settings as written; `None`: not given.
#[derive(Debug, Default)]
pub struct Settings<'a> {
    pub origins: &'a [String],
    pub methods: Option<&'a [String]>,
    pub headers: Option<&'a [String]>,
    pub expose_headers: Option<&'a [String]>,
    pub credentials: bool,
    pub max_age: Option<Duration>,
}

/// A problem: the setting it is about (`origins`, `methods`, ...) and why, with the fix.
pub type Problem = (&'static str, String);

impl Cors {
    /// Checks the settings and renders the header values.
    pub fn new(s: &Settings<'_>) -> Result<Self, Problem> {
        let origins = origins(s.origins, s.credentials)?;
        let methods = methods(s.methods.unwrap_or(&[]))?;
        let headers = match s.headers {
            Some([star]) if star == "*" => AllowHeaders::Any,
            Some(list) if !list.is_empty() => AllowHeaders::List(names("headers", list)?),
            _ => AllowHeaders::None,
        };
        let expose_headers = match s.expose_headers {
            Some([star]) if star == "*" && s.credentials => {
                return Err((
                    "expose_headers",
                    STAR_CREDENTIALS.replace("origins", "expose_headers"),
                ))
            }
            Some([star]) if star == "*" => Some(HeaderValue::from_static("*")),
            Some(list) if !list.is_empty() => Some(names("expose_headers", list)?),
            _ => None,
        };
        let max_age = match s.max_age {
            Some(d) if d.subsec_nanos() != 0 => {
                return Err((
                    "max_age",
                    "browsers count whole seconds: use whole seconds, like 10m or 600s".to_owned(),
                ))
            }
            Some(d) => Some(HeaderValue::from(d.as_secs())),
            None => None,
        };
        Ok(Self {
            origins,
            methods,
            headers,
            expose_headers,
            credentials: s.credentials,
            max_age,
        })
    }

    /// Whether `origin` (the request's `Origin` value) may call.
    pub fn allows(&self, origin: &[u8]) -> bool {
        match &self.origins {
            Origins::Any => true,
            Origins::List(list) => list.iter().any(|o| o.matches(origin)),
        }
    }
}

const STAR_CREDENTIALS: &str = "`*` cannot be used with `credentials: true` (browsers refuse a \
     credentialed answer that allows every origin): list the origins";

impl Origin {
    fn matches(&self, origin: &[u8]) -> bool {
        match self {
            Self::Exact(o) => origin.eq_ignore_ascii_case(o.as_bytes()),
            Self::Subdomains { scheme, tail } => {
                let (scheme, tail) = (scheme.as_bytes(), tail.as_bytes());
                let long_enough = origin.len() > scheme.len() + tail.len();
                long_enough
                    && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
                    && origin[origin.len() - tail.len()..].eq_ignore_ascii_case(tail)
                    && origin[scheme.len()..origin.len() - tail.len()]
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(b))
            }
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(o) => f.write_str(o),
            Self::Subdomains { scheme, tail } => write!(f, "{scheme}*{tail}"),
        }
    }
}

fn origins(list: &[String], credentials: bool) -> Result<Origins, Problem> {
    match list {
        [] => Err((
            "origins",
            "empty: list the origins that may call, like https://app.example.com, or `*` for any"
                .to_owned(),
        )),
        [star] if star.trim() == "*" && credentials => {
            Err(("origins", STAR_CREDENTIALS.to_owned()))
        }
        [star] if star.trim() == "*" => Ok(Origins::Any),
        list => list
            .iter()
            .map(|o| origin(o).map_err(|e| ("origins", e)))
            .collect::<Result<_, _>>()
            .map(Origins::List),
    }
}

/// One origin pattern: `scheme://host[:port]`, the host possibly `*.` and a domain.
pub fn origin(text: &str) -> Result<Origin, String> {
    let text = text.trim();
    let shape = "expected an origin like https://app.example.com, https://*.example.com or \
                 http://localhost:3000 (scheme, host and port only)";
    if text == "*" {
        return Err("`*` stands alone: list it as the only origin, or list origins".to_owned());
    }
    if text.eq_ignore_ascii_case("null") {
        return Err("the `null` origin is what sandboxed frames and local files send: allowing it lets any of them call; list real origins".to_owned());
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(format!("`{text}`: {shape}"));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{text}`: the scheme must be http or https"));
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err(format!("`{text}` has more than scheme, host and port (browsers send no path, not even `/`): write `{scheme}://{}`", rest.split(['/', '?', '#']).next().unwrap_or_default()));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p))
            if !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok() =>
        {
            (h, Some(p))
        }
        Some(_) => return Err(format!("`{text}`: {shape}")),
        None => (rest, None),
    };
    let host = check_host(host).map_err(|e| format!("`{text}`: {e}"))?;
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    Ok(match host.strip_prefix('*') {
        Some(domain) => Origin::Subdomains {
            scheme: format!("{scheme}://"),
            tail: format!("{domain}{port}"),
        },
        None => Origin::Exact(format!("{scheme}://{host}{port}")),
    })
}

fn methods(list: &[String]) -> Result<HeaderValue, Problem> {
    if list.is_empty() {
        return Ok(HeaderValue::from_static("GET, HEAD, POST"));
    }
    let mut out: Vec<String> = Vec::new();
    for m in list {
        let upper = m.trim().to_ascii_uppercase();
        if upper == "*" || Method::from_bytes(upper.as_bytes()).is_err() {
            return Err((
                "methods",
                format!("`{m}` is not a method: list methods like GET, POST, PUT, DELETE"),
            ));
        }
        if !out.contains(&upper) {
            out.push(upper);
        }
    }
    joined("methods", &out)
}

/// Header names joined with `, `; `*` is refused in a list of several.
fn names(field: &'static str, list: &[String]) -> Result<HeaderValue, Problem> {
    let mut out: Vec<String> = Vec::new();
    for n in list {
        if n.trim() == "*" {
            let why = "`*` stands alone: list it as the only entry, or list header names";
            return Err((field, why.to_owned()));
        }
        let name = HeaderName::from_bytes(n.trim().as_bytes()).map_err(|_| {
            let why = format!(
                "`{n}` is not a valid header name: use letters, digits and `-`, like X-Request-Id"
            );
            (field, why)
        })?;
        if !out.iter().any(|o| o == name.as_str()) {
            out.push(name.as_str().to_owned());
        }
    }
    joined(field, &out)
}

fn joined(field: &'static str, list: &[String]) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(&list.join(", "))
        .map_err(|_| (field, "not a valid header value".to_owned()))
}

#[cfg(test)]
mod tests;
