//! Sticky sessions by cookie (vocabulary): a static service's `sticky:` (`true`, or a map of
//! `cookie`, `secure`, `http_only`, `same_site`, `max_age`, `secret`) or the labels
//! `sticky`, `sticky.*`.
//!
//! The cookie names an endpoint by an opaque id, never its address: the first 8 bytes of
//! HMAC-SHA-256 over the service name and the endpoint's address, keyed by `secret` when one
//! is set (then every berth replica and restart gives an endpoint the same id), else by a
//! key drawn at random once per process (ids change with each start; without a secret two
//! replicas behind DNS do not honour each other's cookies). [`StickyIndex`] maps ids back to
//! endpoints; the snapshot builds it once, so a request's lookup is a binary search.

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use http::HeaderValue;
use ring::{digest, hmac, rand::SecureRandom};

/// The cookie's `SameSite` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
            Self::None => "None",
        }
    }
}

/// A service's sticky-session settings.
#[derive(Clone, PartialEq, Eq)]
pub struct Sticky {
    pub cookie: String,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
    /// `None`: a session cookie (gone when the browser closes).
    pub max_age: Option<Duration>,
    /// Whether `secret` was set (ids stable across restarts and replicas).
    pub keyed: bool,
    /// The HMAC key: SHA-256 of the secret, else the process's random key.
    key: [u8; 32],
}

impl fmt::Debug for Sticky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sticky({self})")
    }
}

/// The parts of [`Sticky`] a file or labels give; `None`: the default.
#[derive(Debug, Default)]
pub struct StickyParts<'a> {
    pub cookie: Option<&'a str>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
    pub same_site: Option<SameSite>,
    pub max_age: Option<Duration>,
    pub secret: Option<&'a str>,
}

impl Sticky {
    /// Checked settings for service `service`: the cookie defaults to `berth_<service>`,
    /// `http_only` to true, `same_site` to lax; `SameSite=None` needs `secure` (browsers drop
    /// it otherwise). Errors name their field.
    pub fn new(service: &str, parts: StickyParts<'_>) -> Result<Self, (&'static str, String)> {
        let cookie = match parts.cookie {
            Some(c) => cookie_name(c).map_err(|e| ("cookie", e))?,
            None => format!("berth_{service}"),
        };
        let secure = parts.secure.unwrap_or(false);
        let same_site = parts.same_site.unwrap_or(SameSite::Lax);
        if same_site == SameSite::None && !secure {
            return Err(("same_site", "none needs secure: true (browsers refuse SameSite=None cookies without Secure): set secure or use lax".into()));
        }
        if parts
            .max_age
            .is_some_and(|d| d.subsec_nanos() != 0 || d.is_zero())
        {
            return Err(("max_age", "must be a whole number of seconds above 0, like 1h or 7d; leave it out for a session cookie".into()));
        }
        let key = match parts.secret.map(str::trim) {
            Some("") => {
                return Err((
                    "secret",
                    "empty: give a secret string, or leave it out for a per-process key".into(),
                ))
            }
            // Invariant: a SHA-256 digest is 32 bytes, so the fallback is never taken.
            Some(s) => digest::digest(&digest::SHA256, s.as_bytes())
                .as_ref()
                .try_into()
                .unwrap_or([0; 32]),
            None => *process_key(),
        };
        Ok(Self {
            cookie,
            secure,
            http_only: parts.http_only.unwrap_or(true),
            same_site,
            max_age: parts.max_age,
            keyed: parts.secret.is_some(),
            key,
        })
    }

    /// The endpoint's id in the cookie.
    pub fn endpoint_id(&self, service: &str, addr: SocketAddr) -> u64 {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.key);
        let tag = hmac::sign(&key, format!("{service}\n{addr}").as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&tag.as_ref()[..8]);
        u64::from_be_bytes(first)
    }

    /// The `Set-Cookie` value naming the endpoint `id`, scoped to the route's `path`.
    pub fn set_cookie(&self, id: u64, path: &str) -> Option<HeaderValue> {
        let mut v = format!("{}={id:016x}; Path={path}", self.cookie);
        if let Some(age) = self.max_age {
            v.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if self.http_only {
            v.push_str("; HttpOnly");
        }
        if self.secure {
            v.push_str("; Secure");
        }
        v.push_str("; SameSite=");
        v.push_str(self.same_site.as_str());
        HeaderValue::from_str(&v).ok()
    }
}

impl fmt::Display for Sticky {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cookie {}", self.cookie)?;
        if let Some(age) = self.max_age {
            write!(f, "; Max-Age={}", age.as_secs())?;
        }
        let flags = [(self.http_only, "; HttpOnly"), (self.secure, "; Secure")];
        for (_, flag) in flags.iter().filter(|(on, _)| *on) {
            f.write_str(flag)?;
        }
        let key = if self.keyed {
            "secret"
        } else {
            "per-process key"
        };
        write!(f, "; SameSite={}; ids by {key}", self.same_site.as_str())
    }
}

/// The key of services without a `secret`: random, drawn once per process.
fn process_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        if ring::rand::SystemRandom::new().fill(&mut key).is_err() {
            // No system randomness (never seen on Linux): fall back to the seeded generator.
            key.iter_mut().for_each(|b| *b = fastrand::u8(..));
        }
        key
    })
}

/// A cookie name: an RFC 6265 token.
pub fn cookie_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    match ok {
        true => Ok(s.to_owned()),
        false => Err(format!(
            "`{s}` is not a cookie name: use letters, digits, `_` or `-`, like berth_app"
        )),
    }
}

/// `lax`, `strict` or `none`.
pub fn same_site(s: &str) -> Result<SameSite, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "lax" => Ok(SameSite::Lax),
        "strict" => Ok(SameSite::Strict),
        "none" => Ok(SameSite::None),
        _ => Err("expected lax, strict or none".into()),
    }
}

/// Endpoint ids of one service back to endpoint indexes, and each endpoint's `Set-Cookie`.
#[derive(Debug, Default)]
pub struct StickyIndex {
    /// Sorted by id.
    ids: Vec<(u64, usize)>,
    /// By endpoint index.
    cookies: Vec<Option<HeaderValue>>,
}

impl StickyIndex {
    /// The index of a service's endpoints, at `addrs` in their order.
    pub fn new(
        s: &Sticky,
        service: &str,
        path: &str,
        addrs: impl Iterator<Item = SocketAddr>,
    ) -> Self {
        let mut index = Self::default();
        for (i, addr) in addrs.enumerate() {
            let id = s.endpoint_id(service, addr);
            index.ids.push((id, i));
            index.cookies.push(s.set_cookie(id, path));
        }
        index.ids.sort_unstable();
        index
    }

    /// The endpoint a cookie value names (16 hex digits), if any.
    pub fn find(&self, value: &str) -> Option<usize> {
        if value.len() != 16 {
            return None;
        }
        let id = u64::from_str_radix(value, 16).ok()?;
        let at = self.ids.binary_search_by_key(&id, |(id, _)| *id).ok()?;
        Some(self.ids[at].1)
    }

    /// The `Set-Cookie` value that names endpoint `index`.
    pub fn cookie(&self, index: usize) -> Option<&HeaderValue> {
        self.cookies.get(index)?.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> StickyParts<'static> {
        StickyParts::default()
    }

    #[test]
    fn ids_are_stable_with_a_secret_and_opaque() {
        let with = |secret| StickyParts {
            secret: Some(secret),
            ..parts()
        };
        let a = Sticky::new("app", with("s3cret")).expect("valid");
        let b = Sticky::new("app", with("s3cret")).expect("valid");
        let addr: SocketAddr = "10.0.0.7:8080".parse().expect("addr");
        assert_eq!(a.endpoint_id("app", addr), b.endpoint_id("app", addr));
        let other = Sticky::new("app", with("other")).expect("valid");
        assert_ne!(a.endpoint_id("app", addr), other.endpoint_id("app", addr));
        let cookie = a
            .set_cookie(a.endpoint_id("app", addr), "/")
            .expect("value");
        let cookie = cookie.to_str().expect("ascii");
        assert!(
            cookie.starts_with("berth_app=") && !cookie.contains("10.0.0.7"),
            "{cookie}"
        );
        assert!(
            cookie.ends_with("; Path=/; HttpOnly; SameSite=Lax"),
            "{cookie}"
        );
    }

    #[test]
    fn the_index_finds_endpoints_by_cookie_value() {
        let s = Sticky::new("app", parts()).expect("valid");
        let addrs: Vec<SocketAddr> = (1..=3)
            .map(|p| SocketAddr::from(([10, 0, 0, 1], p)))
            .collect();
        let index = StickyIndex::new(&s, "app", "/", addrs.iter().copied());
        let value = format!("{:016x}", s.endpoint_id("app", addrs[2]));
        assert_eq!(index.find(&value), Some(2));
        assert_eq!(index.find("0000000000000000"), None);
        assert_eq!(index.find("zz"), None);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let p = StickyParts {
            cookie: Some("a b"),
            ..parts()
        };
        assert_eq!(Sticky::new("app", p).unwrap_err().0, "cookie");
        let p = StickyParts {
            same_site: Some(SameSite::None),
            ..parts()
        };
        assert_eq!(Sticky::new("app", p).unwrap_err().0, "same_site");
        let p = StickyParts {
            max_age: Some(Duration::from_millis(1500)),
            ..parts()
        };
        assert_eq!(Sticky::new("app", p).unwrap_err().0, "max_age");
    }
}
