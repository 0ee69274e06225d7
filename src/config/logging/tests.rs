//! Unit tests of the `log:` section: the access-log switch and mapping, trace context, and
//! the problems bad values get.

use super::*;
use crate::config::parse;
use crate::config::test_support::one;

fn log_of(src: &str) -> Log {
    parse(src, "/etc/berth/berth.yaml").unwrap().log
}

#[test]
fn the_switch_follows_the_log_format() {
    assert_eq!(log_of("").access_log, None);
    assert_eq!(log_of("log: { access_log: false }\n").access_log, None);
    let text = log_of("log: { access_log: true }\n").access_log.unwrap();
    assert_eq!((text.format, text.path), (AccessFormat::Common, None));
    let json = log_of("log: { format: json, access_log: true }\n");
    assert_eq!(json.access_log.unwrap().format, AccessFormat::Json);
    assert_eq!(json.trace_context, TraceContext::Pass);
}

#[test]
fn a_mapping_sets_format_and_path() {
    let src = "log:\n  access_log:\n    format: combined\n    path: /var/log/berth/access.log\n  trace_context: start\n";
    let log = log_of(src);
    let access = log.access_log.unwrap();
    assert_eq!(access.format, AccessFormat::Combined);
    assert_eq!(
        access.path.unwrap(),
        PathBuf::from("/var/log/berth/access.log")
    );
    assert_eq!(log.trace_context, TraceContext::Start);
    let empty = log_of("log: { access_log: {} }\n").access_log.unwrap();
    assert_eq!((empty.format, empty.path), (AccessFormat::Common, None));
}

#[test]
fn a_relative_path_is_taken_from_the_config_directory() {
    let access = log_of("log: { access_log: { path: logs/access.log } }\n")
        .access_log
        .unwrap();
    assert_eq!(
        access.path.unwrap(),
        PathBuf::from("/etc/berth/logs/access.log")
    );
}

#[test]
fn an_unknown_key_names_the_valid_ones() {
    let p = one("log:\n  access_log:\n    formt: json\n");
    assert_eq!(p.path, "log.access_log.formt");
    assert_eq!((p.line, p.column), (Some(3), Some(5)));
    assert!(
        p.message.contains("valid keys here: format, path"),
        "{}",
        p.message
    );
    assert!(
        p.message.contains("did you mean `format`?"),
        "{}",
        p.message
    );
}

#[test]
fn an_unknown_format_lists_the_formats() {
    let p = one("log:\n  access_log: { format: clf }\n");
    assert_eq!(p.path, "log.access_log.format");
    assert_eq!(p.line, Some(2));
    assert!(
        p.message
            .contains("invalid value `clf`: expected one of common, combined, json"),
        "{}",
        p.message
    );
}

#[test]
fn a_wrong_type_says_what_is_expected() {
    let p = one("log: { access_log: yes }\n");
    assert_eq!(p.path, "log.access_log");
    assert!(
        p.message.contains("expected true, false, or { format"),
        "{}",
        p.message
    );
    let p = one("log: { access_log: { format: json, path: [a] } }\n");
    assert_eq!(p.path, "log.access_log.path");
}

#[test]
fn an_unknown_trace_context_lists_the_values() {
    let p = one("log: { trace_context: strat }\n");
    assert_eq!(p.path, "log.trace_context");
    assert!(
        p.message
            .contains("expected one of pass, start (did you mean `start`?)"),
        "{}",
        p.message
    );
}

#[test]
fn an_empty_path_or_a_directory_is_refused_with_the_fix() {
    let p = one("log:\n  access_log: { path: \"\" }\n");
    assert_eq!((p.path.as_str(), p.line), ("log.access_log.path", Some(2)));
    assert!(p.message.contains("leave `path` out"), "{}", p.message);
    let dir = std::env::temp_dir().display().to_string();
    let p = one(&format!("log:\n  access_log: {{ path: \"{dir}\" }}\n"));
    assert_eq!(p.path, "log.access_log.path");
    assert!(p.message.contains("is a directory"), "{}", p.message);
}
