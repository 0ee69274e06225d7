//! Arbitrary text as a configuration file: `berth::config::parse` never panics; a refusal
//! is `Invalid` with at least one problem, each with a message and, when placed, a 1-based
//! position inside the text; an accepted text parses the same way twice.
//!
//! The file is trusted (SECURITY.md), and the certificate, key and CA paths in it are read
//! from disk. So that the fuzzer never reads `/dev/zero` or a FIFO, a text is skipped when
//! one of them (any string under a `cert`, `key` or `ca` key, as YAML reads it) could leave
//! the working directory (has a `/` or starts with `.` or `~`), and when YAML reads it but
//! not as a plain value tree (so the check cannot be made).
#![no_main]

use berth::config::{parse, ConfigError};
use libfuzzer_sys::fuzz_target;
use serde_yaml::Value;

/// Whether parsing `text` could read a file outside the working directory.
fn reads_outside(text: &str) -> bool {
    match serde_yaml::from_str::<Value>(text) {
        Ok(tree) => names_outside(&tree),
        // A syntax error: berth stops before reading any file.
        Err(_) => serde_yaml::from_str::<serde::de::IgnoredAny>(text).is_ok(),
    }
}

fn names_outside(v: &Value) -> bool {
    let outside = |v: &Value| match v {
        Value::String(s) => {
            let s = s.trim();
            s.contains('/') || s.starts_with(['.', '~'])
        }
        Value::Tagged(t) => names_outside(&t.value) || matches!(&t.value, Value::String(_)),
        _ => false,
    };
    match v {
        Value::Mapping(m) => m.iter().any(|(k, v)| {
            let path_key = matches!(k.as_str(), Some("cert" | "key" | "ca"));
            (path_key && outside(v)) || names_outside(k) || names_outside(v)
        }),
        Value::Sequence(s) => s.iter().any(names_outside),
        Value::Tagged(t) => names_outside(&t.value),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if reads_outside(text) {
        return;
    }
    match parse(text, "fuzz.yaml") {
        Ok(config) => {
            let again = parse(text, "fuzz.yaml").expect("a text accepted once is accepted again");
            assert_eq!(format!("{config:?}"), format!("{again:?}"));
        }
        Err(ConfigError::Io { .. }) => panic!("parse does no I/O on the file itself"),
        Err(e @ ConfigError::Invalid { .. }) => {
            let problems = e.problems();
            assert!(!problems.is_empty(), "an Invalid error holds a problem");
            // YAML breaks lines at LF, CR and CRLF.
            let lines = text.bytes().filter(|&b| b == b'\n' || b == b'\r').count() + 1;
            for p in problems {
                assert!(!p.message.trim().is_empty(), "empty message: {p:?}");
                if let Some(line) = p.line {
                    // libyaml places an error at the end of the stream on the line after the text.
                    assert!((1..=lines + 1).contains(&line), "line out of the text: {p:?}");
                }
                if let Some(column) = p.column {
                    assert!(column >= 1, "columns are 1-based: {p:?}");
                }
                let _ = p.render("fuzz.yaml");
            }
            let _ = e.to_string();
        }
    }
});
