//! From YAML text to the raw layer, with errors an operator can act on (control plane).
//!
//! Two passes: first the text alone (so a syntax error is reported as such, never as a
//! confusing value error from a half-read document), then the raw structs through
//! `serde_path_to_error`, which gives the field path. serde's messages are rewritten where
//! they are vague: an unknown key names the key itself in the path and lists the valid keys
//! with a "did you mean", an unknown enum value lists the valid ones. Invariant: the
//! returned [`Problem`] always carries the parser's line and column when it reported one.

use serde::de::IgnoredAny;

use super::error::Problem;
use super::raw;
use crate::model::rules::suggest;

/// Parses `source` into the raw layer. An empty file (or only comments) is an empty config.
pub fn parse_raw(source: &str) -> Result<raw::Config, Problem> {
    if let Err(e) = serde_yaml::from_str::<IgnoredAny>(source) {
        if e.to_string() == "EOF while parsing a value" {
            return Ok(raw::Config::default());
        }
        return Err(syntax_problem(source, &e));
    }
    let deserializer = serde_yaml::Deserializer::from_str(source);
    match serde_path_to_error::deserialize::<_, Option<raw::Config>>(deserializer) {
        Ok(config) => Ok(config.unwrap_or_default()),
        Err(e) => Err(value_problem(e)),
    }
}

fn positioned(path: String, message: String, e: &serde_yaml::Error) -> Problem {
    let location = e.location();
    Problem {
        path,
        line: location.as_ref().map(|l| l.line()),
        column: location.as_ref().map(|l| l.column()),
        message,
    }
}

/// `e`'s message without the ` at line L column C` that the problem carries anyway.
fn bare_message(e: &serde_yaml::Error) -> String {
    let text = e.to_string();
    match e.location() {
        Some(l) => text.replacen(
            &format!(" at line {} column {}", l.line(), l.column()),
            "",
            1,
        ),
        None => text,
    }
}

fn syntax_problem(source: &str, e: &serde_yaml::Error) -> Problem {
    let mut message = format!("YAML syntax error: {}", bare_message(e));
    let line_text = e
        .location()
        .and_then(|l| source.lines().nth(l.line().saturating_sub(1)));
    if line_text.is_some_and(|t| t.contains('\t')) {
        message.push_str("; YAML does not allow tabs for indentation, use spaces");
    } else if message.contains("mapping values are not allowed") {
        message.push_str("; quote a value that contains `: `, or check the indentation");
    } else if message.contains("did not find expected") {
        message.push_str("; check the indentation and closing brackets or quotes above");
    }
    positioned(String::new(), message, e)
}

fn value_problem(e: serde_path_to_error::Error<serde_yaml::Error>) -> Problem {
    let path = match e.path().to_string() {
        p if p == "." => String::new(),
        p => p,
    };
    let inner = e.inner();
    let mut message = bare_message(inner);
    // serde_yaml prefixes its own copy of the path (or of a parent of it); the problem
    // carries the path separately.
    let mut prefix = path.as_str();
    while !prefix.is_empty() {
        if let Some(rest) = message.strip_prefix(&format!("{prefix}: ")) {
            message = rest.to_owned();
            break;
        }
        prefix = super::locate::parent(prefix);
    }
    let (path, message) = rewrite(path, message);
    positioned(path, message, inner)
}

/// Makes serde's generic messages specific.
fn rewrite(path: String, message: String) -> (String, String) {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let Some((key, expected)) = rest.split_once('`') else {
            return (path, message);
        };
        let valid = ticked(expected);
        // serde_path_to_error already names the unknown key; serde_yaml may not have.
        let path = match path.is_empty() {
            true => key.to_owned(),
            false if path == key || path.ends_with(&format!(".{key}")) => path,
            false => format!("{path}.{key}"),
        };
        let message = match valid.is_empty() {
            true => format!("unknown key `{key}`: this section takes no keys"),
            false => format!(
                "unknown key `{key}`; valid keys here: {}{}",
                valid.join(", "),
                did_you_mean(key, &valid)
            ),
        };
        return (path, message);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        if let Some((value, expected)) = rest.split_once('`') {
            let valid = ticked(expected);
            let message = format!(
                "invalid value `{value}`: expected one of {}{}",
                valid.join(", "),
                did_you_mean(value, &valid)
            );
            return (path, message);
        }
    }
    if let Some((got, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "))
    {
        return (
            path,
            format!("invalid type: {got}, expected {}", plain(expected)),
        );
    }
    if let Some(rest) = message.strip_prefix("duplicate field `") {
        let key = rest.trim_end_matches('`');
        return (
            path,
            format!("key `{key}` is given twice in this section: keep one"),
        );
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let key = rest.trim_end_matches('`');
        return (path, format!("missing required key `{key}`"));
    }
    (path, message)
}

/// serde's type names in words an operator knows.
fn plain(expected: &str) -> &str {
    match expected {
        e if e.starts_with("struct ") || e == "a map" => "a section of `key: value` entries",
        "a sequence" => "a list, like [a, b] or one `- item` per line",
        "a boolean" => "true or false",
        "usize" | "u64" | "u32" => "a whole number, 0 or more",
        e => e,
    }
}

/// The back-ticked words of serde's `expected one of `a`, `b``.
fn ticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

fn did_you_mean(word: &str, valid: &[&str]) -> String {
    suggest(word, valid).map_or_else(String::new, |s| format!(" (did you mean `{s}`?)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(src: &str) -> Problem {
        parse_raw(src).unwrap_err()
    }

    #[test]
    fn empty_and_null_files_are_empty_configs() {
        for src in ["", "# nothing\n", "~\n", "---\n"] {
            assert!(parse_raw(src).is_ok(), "{src:?}");
        }
    }

    #[test]
    fn unknown_key_names_itself_and_the_valid_keys() {
        let p = problem("services:\n  api:\n    hots: [a.b]\n");
        assert_eq!(p.path, "services.api.hots");
        assert_eq!((p.line, p.column), (Some(3), Some(5)));
        assert!(
            p.message.contains("valid keys here: listener, hosts"),
            "{}",
            p.message
        );
        assert!(p.message.contains("did you mean `hosts`?"), "{}", p.message);
    }

    #[test]
    fn unknown_top_level_key() {
        let p = problem("listners: {}\n");
        assert_eq!(p.path, "listners");
        assert!(
            p.message.contains("did you mean `listeners`?"),
            "{}",
            p.message
        );
    }

    #[test]
    fn bad_values_carry_path_and_position() {
        let p = problem("services:\n  a:\n    backends:\n      - 127.0.0.1:1\n      - { address: 127.0.0.1:2, weight: 0 }\n");
        assert_eq!(p.path, "services.a.backends[1].weight");
        assert_eq!((p.line, p.column), (Some(5), Some(41)));
        assert!(
            p.message.starts_with("weight 0 is out of range"),
            "{}",
            p.message
        );
    }

    #[test]
    fn enums_list_their_values() {
        let p = problem("log: { format: jsn }\n");
        assert_eq!(p.path, "log.format");
        assert!(
            p.message.contains("text, json (did you mean `json`?)"),
            "{}",
            p.message
        );
    }

    #[test]
    fn type_errors_speak_yaml() {
        let p = problem("admin: 9900\n");
        assert_eq!(
            p.message,
            "invalid type: integer `9900`, expected a section of `key: value` entries"
        );
        let p = problem("docker: { enabled: yes }\n");
        assert!(
            p.message.ends_with("expected true or false"),
            "{}",
            p.message
        );
    }

    #[test]
    fn syntax_errors_win_over_value_errors() {
        let p = problem("listeners:\n  web: { address: nope\nadmin: [\n");
        assert!(p.message.starts_with("YAML syntax error"), "{}", p.message);
        assert!(p.line.is_some());
    }

    #[test]
    fn tabs_get_a_hint() {
        let p = problem("admin:\n\taddress: 1.2.3.4:5\n");
        assert!(p.message.contains("tabs"), "{}", p.message);
    }
}
