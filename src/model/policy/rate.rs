//! Rate limit settings (vocabulary): `average` requests per `period` per client, with bursts
//! of up to `burst` at once (a token bucket: `burst` tokens, refilled at `average` per
//! `period`); the client is its IP (as the allow-list reads it), the value of a header, or
//! the whole service.

use std::time::Duration;

use http::HeaderName;

/// What a client is, for counting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateKey {
    /// The client's IP (see `client_ip`; `forwarded_depth` as the allow-list's).
    Ip,
    /// The value of this request header (clients without it: by IP).
    Header(HeaderName),
    /// Every client together.
    Service,
}

impl std::fmt::Display for RateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip => f.write_str("ip"),
            Self::Header(h) => write!(f, "header:{h}"),
            Self::Service => f.write_str("service"),
        }
    }
}

/// Reads `ip`, `service` or `header:NAME`.
pub fn rate_key(s: &str) -> Result<RateKey, String> {
    match s.trim() {
        "ip" => Ok(RateKey::Ip),
        "service" => Ok(RateKey::Service),
        other => {
            let name = other.strip_prefix("header:").ok_or_else(|| {
                format!("`{other}`: expected ip, service or header:NAME (like header:X-Api-Key)")
            })?;
            HeaderName::try_from(name.trim())
                .map(RateKey::Header)
                .map_err(|_| format!("`{name}` is not a header name"))
        }
    }
}

/// The `rate_limit` policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub average: u32,
    pub period: Duration,
    pub burst: u32,
    pub by: RateKey,
    /// `period / average`: the time one request's token takes to come back.
    pub interval: Duration,
}

impl RateLimit {
    /// Checked settings; `burst` defaults to `average` (a period's worth at once).
    pub fn new(
        average: u32,
        period: Option<Duration>,
        burst: Option<u32>,
        by: RateKey,
    ) -> Result<Self, (&'static str, String)> {
        let period = period.unwrap_or(Duration::from_secs(1));
        if average == 0 {
            return Err(("average", "must be at least 1 request per period".into()));
        }
        if period.is_zero() || period > Duration::from_secs(24 * 3600) {
            return Err((
                "period",
                "must be more than 0 and at most 24h, like 1s or 1m".into(),
            ));
        }
        let burst = burst.unwrap_or(average);
        if burst == 0 {
            return Err(("burst", "must be at least 1".into()));
        }
        let interval = period / average;
        if interval.is_zero() {
            return Err((
                "average",
                "more than one request per nanosecond: lower it".into(),
            ));
        }
        Ok(Self {
            average,
            period,
            burst,
            by,
            interval,
        })
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} per {:?} (burst {}) by {}",
            self.average, self.period, self.burst, self.by
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_settings_are_checked() {
        assert_eq!(rate_key("ip"), Ok(RateKey::Ip));
        assert_eq!(
            rate_key("header:X-Api-Key"),
            Ok(RateKey::Header(HeaderName::from_static("x-api-key")))
        );
        assert!(rate_key("cookie:x")
            .expect_err("cookie")
            .contains("header:NAME"));
        assert!(rate_key("header:bad name").is_err());
        let r = RateLimit::new(100, None, None, RateKey::Ip).expect("valid");
        assert_eq!((r.burst, r.interval), (100, Duration::from_millis(10)));
        assert_eq!(r.to_string(), "100 per 1s (burst 100) by ip");
        assert_eq!(
            RateLimit::new(0, None, None, RateKey::Ip).expect_err("0").0,
            "average"
        );
        let zero = RateLimit::new(1, Some(Duration::ZERO), None, RateKey::Ip);
        assert_eq!(zero.expect_err("period").0, "period");
        assert_eq!(
            RateLimit::new(1, None, Some(0), RateKey::Ip)
                .expect_err("burst")
                .0,
            "burst"
        );
    }
}
