//! `Strict-Transport-Security` of a service (control plane, load time): a static service's
//! `hsts: { max_age, include_subdomains, preload }` or the labels `http.hsts.*`.
//!
//! berth adds the header to the responses it proxies for the service on `https` listeners
//! only (RFC 6797 §7.2: user agents ignore it over plain HTTP), and keeps an upstream's own
//! header when the response has one. Invariants: an [`Hsts`] that exists obeys the preload
//! list's rules when `preload` is on (max-age of at least a year, `includeSubDomains`), and
//! carries its header value rendered once, so the data plane only inserts it.

use std::fmt;
use std::time::Duration;

use http::HeaderValue;

/// The HSTS preload list's least `max-age`: one year of 365 days, in seconds
/// (<https://hstspreload.org/#submission-requirements>).
pub const PRELOAD_MIN_MAX_AGE: u64 = 365 * 24 * 3600;

/// Why HSTS settings cannot be used. Messages name the setting and the fix in words that
/// read right after a config field path and after a label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HstsError {
    #[error(
        "max_age {0:?} is not a whole number of seconds (HSTS counts seconds): \
         use whole seconds, like 1y, 180d or 31536000s"
    )]
    FractionalSeconds(Duration),
    #[error(
        "preload needs a max_age of at least 1 year (31536000s) to be accepted on the HSTS \
         preload list, and this is {0}s: raise max_age to 1y or set preload to false"
    )]
    PreloadMaxAge(u64),
    #[error(
        "preload needs include_subdomains (the HSTS preload list covers every subdomain): \
         set include_subdomains to true or preload to false"
    )]
    PreloadSubdomains,
}

impl HstsError {
    /// The setting the error is about: `max_age` or `preload`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::FractionalSeconds(_) => "max_age",
            Self::PreloadMaxAge(_) | Self::PreloadSubdomains => "preload",
        }
    }
}

/// A service's `Strict-Transport-Security` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Hsts {
    /// `max-age`, in seconds; 0 tells browsers to forget the host's HSTS.
    pub max_age: u64,
    pub include_subdomains: bool,
    pub preload: bool,
    /// The header value, like `max-age=31557600; includeSubDomains`.
    pub value: HeaderValue,
}

impl fmt::Debug for Hsts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Hsts").field(&self.value).finish()
    }
}

impl Hsts {
    /// Checks the settings and renders the header value.
    pub fn new(
        max_age: Duration,
        include_subdomains: bool,
        preload: bool,
    ) -> Result<Self, HstsError> {
        if max_age.subsec_nanos() != 0 {
            return Err(HstsError::FractionalSeconds(max_age));
        }
        let max_age = max_age.as_secs();
        if preload && max_age < PRELOAD_MIN_MAX_AGE {
            return Err(HstsError::PreloadMaxAge(max_age));
        }
        if preload && !include_subdomains {
            return Err(HstsError::PreloadSubdomains);
        }
        let mut text = format!("max-age={max_age}");
        if include_subdomains {
            text.push_str("; includeSubDomains");
        }
        if preload {
            text.push_str("; preload");
        }
        let value = HeaderValue::try_from(text)
            // Invariant: digits, letters, `=`, `;` and spaces are valid header value bytes.
            .expect("an HSTS value is visible ASCII");
        Ok(Self {
            max_age,
            include_subdomains,
            preload,
            value,
        })
    }

    /// The header value as text (for the admin API).
    pub fn as_str(&self) -> &str {
        // Invariant: `new` built the value from a `String`, so it is valid UTF-8.
        self.value.to_str().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn renders_the_header_value_once() {
        let h = Hsts::new(secs(31_536_000), true, true).unwrap();
        assert_eq!(h.value, "max-age=31536000; includeSubDomains; preload");
        assert_eq!(
            Hsts::new(secs(600), false, false).unwrap().value,
            "max-age=600"
        );
        let zero = Hsts::new(Duration::ZERO, false, false).unwrap();
        assert_eq!(zero.as_str(), "max-age=0", "0 is legal: forget the host");
        assert_eq!(
            Hsts::new(secs(60), true, false).unwrap().as_str(),
            "max-age=60; includeSubDomains"
        );
    }

    #[test]
    fn preload_follows_the_preload_lists_rules() {
        let e = Hsts::new(secs(PRELOAD_MIN_MAX_AGE - 1), true, true).unwrap_err();
        assert_eq!(e, HstsError::PreloadMaxAge(31_535_999));
        assert_eq!(e.field(), "preload");
        assert!(e.to_string().contains("raise max_age to 1y"), "{e}");
        let e = Hsts::new(secs(PRELOAD_MIN_MAX_AGE), false, true).unwrap_err();
        assert_eq!(e, HstsError::PreloadSubdomains);
        assert!(
            e.to_string().contains("set include_subdomains to true"),
            "{e}"
        );
        // humantime's year is 365.25 days: `1y` qualifies.
        let year = humantime::parse_duration("1y").unwrap();
        assert!(Hsts::new(year, true, true).is_ok());
    }

    #[test]
    fn max_age_is_whole_seconds() {
        let e = Hsts::new(Duration::from_millis(1500), false, false).unwrap_err();
        assert_eq!(e.field(), "max_age");
        assert!(e.to_string().contains("1.5s"), "{e}");
    }
}
