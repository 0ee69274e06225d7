//! Value parsers (vocabulary): the one reading of each kind of setting value, shared by the
//! YAML file and by labels, so `drain: 30s` and `berth.drain=30s` accept exactly the same.
//!
//! Each is a plain `fn(&str) -> Result<T, String>` (input trimmed first). The message says
//! what would be valid and does not repeat the value: the caller names where the value came
//! from (`label berth.drain=soon: …`, or `invalid duration `soon`: …` at the file's line).
//! Invariant: nothing here panics on any input.

use std::time::Duration;

use super::rules::{check_host, check_path};

/// `true` or `false`, any case.
pub fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// A whole number in `lo..=hi` (`hi` = `u32::MAX`: no upper bound).
pub fn int_in(lo: u32, hi: u32) -> impl Fn(&str) -> Result<u32, String> {
    move |s| {
        s.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| match hi {
                u32::MAX => format!("expected a whole number of at least {lo}"),
                _ => format!("expected a whole number from {lo} to {hi}"),
            })
    }
}

/// A port, 1..=65535.
pub fn port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| "expected a port 1..=65535".to_owned())
}

/// A duration with a unit, like `500ms`, `30s`, `2m`, `1h 30m` (a bare number is refused:
/// `30` could mean seconds or milliseconds).
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!("a unit is required, like {s}s or {s}ms"));
    }
    humantime::parse_duration(s)
        .map_err(|_| "expected a number and a unit like 500ms, 30s, 2m".to_owned())
}

/// A duration that must not be zero (a zero timeout or interval would fail or spin).
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    duration(s).and_then(|d| {
        (!d.is_zero())
            .then_some(d)
            .ok_or_else(|| "must be longer than 0, like 500ms or 30s".to_owned())
    })
}

/// A size in bytes with a unit: `512B`, `64KB`, `10MB`, `1GB` (powers of 1000) or `64KiB`,
/// `10MiB`, `1GiB` (powers of 1024), any case, a space allowed before the unit (a bare
/// number is refused, as for durations).
pub fn size(s: &str) -> Result<u64, String> {
    const UNITS: [(&str, u64); 7] = [
        ("b", 1),
        ("kb", 1_000),
        ("mb", 1_000_000),
        ("gb", 1_000_000_000),
        ("kib", 1 << 10),
        ("mib", 1 << 20),
        ("gib", 1 << 30),
    ];
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(digits);
    let unit = unit.trim().to_ascii_lowercase();
    let scale = UNITS.iter().find(|(u, _)| *u == unit).map(|(_, n)| *n);
    match (number.parse::<u64>(), scale) {
        (Ok(n), None) if unit.is_empty() => Err(format!("a unit is required, like {n}B or {n}MB")),
        (Ok(n), Some(scale)) => n
            .checked_mul(scale)
            .ok_or_else(|| "too large: at most 16EB".to_owned()),
        _ => Err(
            "expected a whole number and a unit like 512KB, 10MB or 1GiB \
                  (KB, MB, GB: powers of 1000; KiB, MiB, GiB: powers of 1024)"
                .to_owned(),
        ),
    }
}

/// A data rate, bytes per second: a [`size`] then `/s`, like `240B/s`, `1KB/s` or
/// `64KiB/s` (more than zero), or `off` (`None`).
pub fn rate(s: &str) -> Result<Option<u64>, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let per_second = s.len().checked_sub(2).and_then(|at| {
        s.get(at..)
            .filter(|unit| unit.eq_ignore_ascii_case("/s"))
            .and_then(|_| s.get(..at))
    });
    let Some(amount) = per_second else {
        return Err("expected a rate like 240B/s or 1KB/s (a size per second), or off".to_owned());
    };
    match size(amount)? {
        0 => Err("must be more than 0B/s (off turns it off)".to_owned()),
        n => Ok(Some(n)),
    }
}

/// `200` or `200-399`: an inclusive range of HTTP statuses within `100..=599`.
pub fn status_range(s: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = s.split_once('-').unwrap_or((s, s));
    let code = |c: &str| {
        c.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    match (code(lo), code(hi)) {
        (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
        _ => Err("expected a status like 200 or a range like 200-399, within 100..=599".into()),
    }
}

/// An IP network: a CIDR like `10.0.0.0/8`, or a single IP (a /32 or /128).
pub fn ip_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("invalid IP or network `{s}`: expected an IP like 10.0.0.1 or a CIDR like 10.0.0.0/8")
        })
}

/// Comma-separated IP networks ([`ip_net`]).
pub fn ip_nets(s: &str) -> Result<Vec<ipnet::IpNet>, String> {
    list(s)?.iter().map(|n| ip_net(n)).collect()
}

/// A comma-separated list: items trimmed, duplicates dropped (first kept), empty items
/// rejected.
pub fn list(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for item in s.split(',').map(str::trim) {
        if item.is_empty() {
            return Err("empty entry in the comma-separated list: remove the extra comma".into());
        }
        if !out.iter().any(|o| o == item) {
            out.push(item.to_owned());
        }
    }
    Ok(out)
}

/// Comma-separated host patterns, normalised by [`check_host`] (lowercase, `*.` wildcards),
/// duplicates dropped.
pub fn hosts(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for host in list(s)? {
        // The file's wording names its `hosts` field; in a list value the value is the field.
        let host = check_host(&host).map_err(|e| e.replace("omit `hosts`", "omit the label"))?;
        if !out.contains(&host) {
            out.push(host);
        }
    }
    Ok(out)
}

/// A route path prefix: [`check_path`], and no control characters (the route table refuses
/// them).
pub fn path_prefix(s: &str) -> Result<String, String> {
    if let Some(why) = check_path(s) {
        return Err(why);
    }
    no_control(s)?;
    Ok(s.to_owned())
}

/// A request path for a health check: starts with `/`, may carry a query, no spaces,
/// control characters or fragment.
pub fn request_path(s: &str) -> Result<String, String> {
    let s = s.trim();
    let plain = !s.contains('#') && !s.contains(char::is_whitespace);
    if !s.starts_with('/') || !plain {
        return Err(
            "expected a request path starting with `/`, without spaces or `#`, like /healthz"
                .to_owned(),
        );
    }
    no_control(s)?;
    // What the probe sends must be a request target `http` accepts: `<`, `>`, `"` or a
    // backtick would make every probe fail.
    if http::uri::PathAndQuery::try_from(s).is_err() || http::Request::get(s).body(()).is_err() {
        return Err(
            "not a valid request target: percent-encode characters like < > \" and ` \
             (e.g. %3C for <)"
                .to_owned(),
        );
    }
    Ok(s.to_owned())
}

fn no_control(s: &str) -> Result<(), String> {
    match s.chars().any(char::is_control) {
        true => Err("control characters are not allowed in a path".to_owned()),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(boolean("TRUE"), Ok(true));
        assert!(boolean("yes").is_err());
        assert_eq!(int_in(1, 1000)("1000"), Ok(1000));
        assert_eq!(
            int_in(1, 5)("-1"),
            Err("expected a whole number from 1 to 5".into())
        );
        assert_eq!(
            int_in(1, u32::MAX)("0"),
            Err("expected a whole number of at least 1".into())
        );
        assert_eq!(port("65535"), Ok(65535));
        assert!(port("0").is_err() && port("65536").is_err() && port("+").is_err());
        assert_eq!(duration("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert!(duration("30").unwrap_err().contains("like 30s or 30ms"));
        assert!(duration("5 parsecs")
            .unwrap_err()
            .contains("500ms, 30s, 2m"));
        assert!(positive_duration("0ms")
            .unwrap_err()
            .contains("longer than 0"));
        assert_eq!(list("a, b,a"), Ok(vec!["a".into(), "b".into()]));
        assert!(list("a,,b").unwrap_err().contains("extra comma"));
        assert_eq!(
            hosts("A.com,a.com, *.B.com"),
            Ok(vec!["a.com".into(), "*.b.com".into()])
        );
        assert!(path_prefix("/a\u{1}b").unwrap_err().contains("control"));
        assert!(request_path("/h?x=1").is_ok());
        assert!(request_path("h").is_err() && request_path("/a#b").is_err());
        assert!(request_path("/a\u{7f}").is_err());
        // Found by fuzzing: characters `http` refuses in a request target.
        for bad in ["/a>b", "/a<b", "/a`b", "/h?x=\"y\"", "/h?a<b"] {
            let e = request_path(bad).expect_err(bad);
            assert!(e.contains("percent-encode"), "{bad}: {e}");
        }
        assert!(request_path("/a%3Cb?q=%22x%22").is_ok());
    }

    #[test]
    fn rates() {
        assert_eq!(rate("240B/s"), Ok(Some(240)));
        assert_eq!(rate(" 1KB/s "), Ok(Some(1_000)));
        assert_eq!(rate("64 KiB/S"), Ok(Some(64 << 10)));
        assert_eq!(rate("OFF"), Ok(None));
        assert!(rate("0B/s").unwrap_err().contains("more than 0"));
        assert!(rate("240/s").unwrap_err().contains("like 240B"));
        for bad in ["", "/s", "1KB", "1KB/m", "fast", "1.5KB/s", "-1B/s", "é/s"] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(size("10MB"), Ok(10_000_000));
        assert_eq!(size(" 10 mib "), Ok(10 << 20));
        assert_eq!(size("512B"), Ok(512));
        assert_eq!(size("1GiB"), Ok(1 << 30));
        assert_eq!(size("0KB"), Ok(0));
        assert!(size("10").unwrap_err().contains("like 10B or 10MB"));
        for bad in [
            "",
            "MB",
            "1.5MB",
            "-1MB",
            "10 parsecs",
            "99999999999999999999GB",
        ] {
            assert!(size(bad).is_err(), "{bad}");
        }
        assert!(size("99999999999GB").unwrap_err().contains("too large"));
    }

    #[test]
    fn status_ranges() {
        assert_eq!(status_range("200"), Ok((200, 200)));
        assert_eq!(status_range("200-399"), Ok((200, 399)));
        for bad in ["", "99", "600", "399-200", "2xx", "200-"] {
            assert!(status_range(bad).is_err(), "{bad}");
        }
    }
}
