//! Forward authentication settings (vocabulary): an auth service (Authelia, Authentik,
//! oauth2-proxy, a service of one's own) asked about every request before it is proxied.
//!
//! berth sends the auth service a `GET` to `url` carrying the client's headers (all, or only
//! `request_headers`) and `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri` and `-For`, the
//! conventions those services read. A 2xx lets the request through with the auth answer's
//! `response_headers` (e.g. `Remote-User`) set on it — the client's own copies of those
//! headers are always removed first, so they cannot be forged; any other answer goes back to
//! the client as it is (a redirect to the login page); no answer within `timeout`, or an
//! error, is answered `failure_status` (503 by default, or 401).

use std::time::Duration;

use http::{HeaderName, Uri};

/// The `auth.forward` policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardAuth {
    /// `http://` or `https://` (verified against the built-in roots).
    pub url: Uri,
    /// Headers of the 2xx answer copied onto the proxied request.
    pub response_headers: Vec<HeaderName>,
    /// The client headers sent to the auth service; empty: all of them.
    pub request_headers: Vec<HeaderName>,
    pub timeout: Duration,
    /// 503 or 401.
    pub failure_status: u16,
}

/// The auth service's time to answer when none is set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

impl ForwardAuth {
    /// Checked settings; the error names the field.
    pub fn new(
        url: &str,
        response_headers: &[String],
        request_headers: &[String],
        timeout: Option<Duration>,
        failure_status: Option<u16>,
    ) -> Result<Self, (&'static str, String)> {
        let uri: Uri = url.trim().parse().map_err(|_| {
            (
                "url",
                format!("`{url}` is not a URL, like http://authelia:9091/api/verify"),
            )
        })?;
        let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
        if !scheme_ok || uri.host().is_none() {
            return Err((
                "url",
                format!("`{url}`: give an http:// or https:// URL with a host"),
            ));
        }
        let names = |field: &'static str, list: &[String]| {
            list.iter()
                .map(|h| {
                    HeaderName::try_from(h.trim())
                        .map_err(|_| (field, format!("`{h}` is not a header name")))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            return Err(("timeout", "must be more than 0, like 5s".into()));
        }
        let failure_status = failure_status.unwrap_or(503);
        if failure_status != 503 && failure_status != 401 {
            return Err(("failure_status", "must be 503 or 401".into()));
        }
        Ok(Self {
            url: uri,
            response_headers: names("response_headers", response_headers)?,
            request_headers: names("request_headers", request_headers)?,
            timeout,
            failure_status,
        })
    }
}

impl std::fmt::Display for ForwardAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.url)?;
        if !self.response_headers.is_empty() {
            let names: Vec<&str> = self
                .response_headers
                .iter()
                .map(HeaderName::as_str)
                .collect();
            write!(f, " (copies {})", names.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ok = ForwardAuth::new(
            "http://authelia:9091/api/verify?rd=https://login.example.com",
            &["Remote-User".into()],
            &[],
            None,
            None,
        )
        .expect("valid");
        assert_eq!((ok.timeout, ok.failure_status), (DEFAULT_TIMEOUT, 503));
        assert_eq!(ok.response_headers[0].as_str(), "remote-user");
        let err = |url: &str, status: Option<u16>| {
            ForwardAuth::new(url, &[], &[], None, status)
                .expect_err(url)
                .0
        };
        assert_eq!(err("authelia:9091", None), "url");
        assert_eq!(err("ftp://a/b", None), "url");
        assert_eq!(err("http://a/b", Some(500)), "failure_status");
        let bad_header = ForwardAuth::new("http://a/", &["bad name".into()], &[], None, None);
        assert_eq!(bad_header.expect_err("header").0, "response_headers");
    }
}
