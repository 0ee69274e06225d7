//! Access-log lines (writer thread): NCSA Common Log Format, Combined, and JSON.
//!
//! `common`: `CLIENT - - [10/Oct/2000:13:55:36 +0000] "GET /path HTTP/1.1" 200 2326`, the
//! time in UTC, the bytes those of the response body (0 when there is none, as nginx
//! writes). `combined` adds `"REFERER" "USER-AGENT"` (`"-"` when absent). Quoted fields are
//! escaped as nginx does: `"`, `\`, control characters and bytes from 0x7f are written
//! `\xHH`, so a line can neither be broken nor forged. `json` writes one object per line
//! through serde_json (its escaping), with every field of [`Record`].

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::record::Record;
use super::trace;
use crate::config::AccessFormat;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The writer's clock: the last second written, in RFC 3339 and CLF, rendered once per
/// second.
#[derive(Debug, Default)]
pub struct Clock {
    second: Option<u64>,
    /// `2000-10-10T13:55:36`.
    iso: String,
    /// `10/Oct/2000:13:55:36 +0000`.
    clf: String,
}

impl Clock {
    /// Renders `time`'s second unless it is the last one; returns its milliseconds.
    fn tick(&mut self, time: SystemTime) -> u32 {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        if self.second != Some(since.as_secs()) {
            self.second = Some(since.as_secs());
            let iso = humantime::format_rfc3339_seconds(time).to_string();
            self.clf = clf_time(&iso);
            self.iso = iso.trim_end_matches('Z').to_owned();
        }
        since.subsec_millis()
    }

    /// `time` as `10/Oct/2000:13:55:36 +0000`.
    fn clf(&mut self, time: SystemTime) -> &str {
        self.tick(time);
        &self.clf
    }

    /// `time` as `2000-10-10T13:55:36.250Z`.
    fn rfc3339(&mut self, time: SystemTime) -> Rfc3339<'_> {
        let millis = self.tick(time);
        Rfc3339(&self.iso, millis)
    }
}

/// A time in RFC 3339 with milliseconds, serialised without an allocation.
struct Rfc3339<'a>(&'a str, u32);

impl Serialize for Rfc3339<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}.{:03}Z", self.0, self.1))
    }
}

/// CLF's time, from its RFC 3339 form `2000-10-10T13:55:36Z`.
fn clf_time(iso: &str) -> String {
    let month = iso
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    let part = |r: std::ops::Range<usize>| iso.get(r).unwrap_or("00");
    format!(
        "{}/{month}/{}:{} +0000",
        part(8..10),
        part(0..4),
        part(11..19)
    )
}

/// Appends `record`'s line in `format` (with its newline) to `out`.
pub fn line(format: AccessFormat, record: &Record, clock: &mut Clock, out: &mut Vec<u8>) {
    match format {
        AccessFormat::Common => clf(record, clock, out, false),
        AccessFormat::Combined => clf(record, clock, out, true),
        AccessFormat::Json => json(record, clock, out),
    }
    out.push(b'\n');
}

/// Common (and with `combined`, Combined) Log Format.
fn clf(r: &Record, clock: &mut Clock, out: &mut Vec<u8>, combined: bool) {
    use std::io::Write;
    // Writing to a `Vec` never fails.
    let _ = write!(out, "{} - - [{}] \"", r.client, clock.clf(r.time));
    escape(r.method.as_str().as_bytes(), out);
    out.push(b' ');
    escape(r.texts.path(), out);
    let _ = write!(
        out,
        " {}\" {} {}",
        protocol(r.version),
        r.status,
        r.bytes_out
    );
    if combined {
        quoted(r.texts.referer(), out);
        quoted(r.texts.user_agent(), out);
    }
}

/// ` "TEXT"`, escaped, or ` "-"`.
fn quoted(text: Option<&[u8]>, out: &mut Vec<u8>) {
    out.extend_from_slice(b" \"");
    match text {
        Some(t) if !t.is_empty() => escape(t, out),
        _ => out.push(b'-'),
    }
    out.push(b'"');
}

/// `text` with `"`, `\`, control characters and bytes from 0x7f as `\xHH` (nginx's escape).
pub fn escape(text: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text {
        match b {
            b'"' | b'\\' | 0..=0x1f | 0x7f..=0xff => {
                out.extend_from_slice(&[
                    b'\\',
                    b'x',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]);
            }
            _ => out.push(b),
        }
    }
}

/// One JSON line; absent values are `null`.
#[derive(Serialize)]
struct Json<'a> {
    time: Rfc3339<'a>,
    listener: &'a str,
    service: Option<&'a str>,
    endpoint: Option<&'a str>,
    container: Option<&'a str>,
    client: std::net::IpAddr,
    method: &'a str,
    host: std::borrow::Cow<'a, str>,
    path: std::borrow::Cow<'a, str>,
    protocol: &'static str,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    duration_ms: f64,
    upstream_ms: Option<f64>,
    retries: u8,
    error: Option<&'a str>,
    user_agent: Option<std::borrow::Cow<'a, str>>,
    referer: Option<std::borrow::Cow<'a, str>>,
    trace_id: Option<&'a str>,
}

fn json(r: &Record, clock: &mut Clock, out: &mut Vec<u8>) {
    let lossy = String::from_utf8_lossy;
    let origin = r.endpoint.as_ref().map(|e| e.origin());
    let mut hex = [0u8; 32];
    let trace_id = r.trace_id.map(|id| {
        trace::write_hex(&id, &mut hex);
        // Invariant: hex digits are ASCII.
        std::str::from_utf8(&hex).unwrap_or_default()
    });
    let line = Json {
        time: clock.rfc3339(r.time),
        listener: &r.listener,
        service: r.service.as_deref(),
        endpoint: r.endpoint.as_ref().map(|e| &**e.label()),
        container: origin.as_deref().filter(|c| !c.is_empty()),
        client: r.client,
        method: r.method.as_str(),
        host: lossy(r.texts.host()),
        path: lossy(r.texts.path()),
        protocol: protocol(r.version),
        status: r.status,
        bytes_in: r.bytes_in,
        bytes_out: r.bytes_out,
        duration_ms: millis(r.duration),
        upstream_ms: r.upstream.map(millis),
        retries: r.retries,
        error: r.error,
        user_agent: r.texts.user_agent().map(lossy),
        referer: r.texts.referer().map(lossy),
        trace_id,
    };
    // Serialising plain strings and numbers into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
}

/// The request line's protocol, as HTTP/1.1 writes it.
fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Milliseconds, to the microsecond.
fn millis(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1e3
}

#[cfg(test)]
mod tests;
