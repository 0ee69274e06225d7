//! The `log:` section (control plane, load time): berth's own log, the access log and W3C
//! trace context.
//!
//! `log.access_log` is `true`/`false` (the original switch) or a mapping
//! `{ format: common | combined | json, path: FILE }`. `true`, like a mapping without
//! `format`, logs in `json` when `log.format` is `json` and in `common` otherwise, so a JSON
//! log pipeline keeps reading JSON lines. Without `path` the access log goes to stdout; a
//! relative path is taken from the config file's directory. Both take a restart.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::raw;
use super::validate::Problems;
use super::{Log, LogFormat};

/// How each access-log line is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessFormat {
    /// NCSA Common Log Format.
    Common,
    /// Common Log Format, then the quoted referer and user agent.
    Combined,
    /// One JSON object per line.
    Json,
}

impl AccessFormat {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Common => "common",
            Self::Combined => "combined",
            Self::Json => "json",
        }
    }
}

/// Where and how the access log is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessLog {
    pub format: AccessFormat,
    /// Appended to, reopened on `SIGUSR1`; `None`: stdout.
    pub path: Option<PathBuf>,
}

/// `log.trace_context`: what berth does with W3C `traceparent` headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceContext {
    /// Pass `traceparent` and `tracestate` through untouched; log a valid trace id.
    #[default]
    Pass,
    /// Also start a trace for a request without a valid `traceparent` (a new one is sent
    /// upstream and logged; an invalid one and its `tracestate` are replaced).
    Start,
}

impl TraceContext {
    /// The name as written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Start => "start",
        }
    }
}

/// `log.access_log` as written: a switch or a mapping.
#[derive(Debug)]
pub enum RawAccessLog {
    Switch(bool),
    Settings(RawAccessSettings),
}

/// `log.access_log` as a mapping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessSettings {
    pub format: Option<AccessFormat>,
    pub path: Option<String>,
}

impl<'de> Deserialize<'de> for RawAccessLog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawAccessLog;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "true, false, or { format: common | combined | json, path: FILE } \
                     (no path: stdout)",
                )
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawAccessLog, E> {
                Ok(RawAccessLog::Switch(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawAccessLog, A::Error> {
                let m = RawAccessSettings::deserialize(MapAccessDeserializer::new(map))?;
                Ok(RawAccessLog::Settings(m))
            }
        }
        d.deserialize_any(V)
    }
}

/// The typed `log:` section; relative access-log paths are resolved against `base`.
pub(super) fn log(p: &mut Problems, raw: Option<raw::Log>, base: &Path) -> Log {
    let raw = raw.unwrap_or_default();
    let format = match raw.format {
        Some(raw::LogFormat::Json) => LogFormat::Json,
        Some(raw::LogFormat::Text) | None => LogFormat::Text,
    };
    let default_format = match format {
        LogFormat::Json => AccessFormat::Json,
        LogFormat::Text => AccessFormat::Common,
    };
    let access_log = match raw.access_log {
        None | Some(RawAccessLog::Switch(false)) => None,
        Some(RawAccessLog::Switch(true)) => Some(AccessLog {
            format: default_format,
            path: None,
        }),
        Some(RawAccessLog::Settings(s)) => Some(AccessLog {
            format: s.format.unwrap_or(default_format),
            path: s.path.and_then(|path| access_path(p, &path, base)),
        }),
    };
    Log {
        level: raw.level.map_or_else(|| "info".into(), |l| l.0),
        format,
        access_log,
        trace_context: raw.trace_context.unwrap_or_default(),
    }
}

/// The access log's file, checked: a non-empty path that is not a directory.
fn access_path(p: &mut Problems, path: &str, base: &Path) -> Option<PathBuf> {
    const FIELD: &str = "log.access_log.path";
    if path.trim().is_empty() {
        p.add(
            FIELD,
            "an empty path: give a file like /var/log/berth/access.log, or leave `path` out \
             to log to stdout",
        );
        return None;
    }
    let full = base.join(path);
    if full.is_dir() {
        p.add(
            FIELD,
            format!(
                "{} is a directory: name a file in it, like {}",
                full.display(),
                full.join("access.log").display()
            ),
        );
        return None;
    }
    Some(full)
}

#[cfg(test)]
mod tests;
