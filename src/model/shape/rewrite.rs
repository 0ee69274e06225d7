//! Path rewrites and redirects of a service (vocabulary).
//!
//! - `replace_path: /new` replaces the whole path; `replace_path_regex: { regex, replacement }`
//!   replaces the path when the regex matches it (`$1`, `${name}` name its groups), else
//!   leaves it; the two exclude each other. `add_prefix: /api` puts a prefix before the path.
//!   They apply after `strip_prefix`, in the order strip → replace → add; the query is kept.
//! - `redirect_scheme: https` (or `{ scheme, port, permanent }`): a request that came over the
//!   other scheme is redirected to the same host and path on this one; `permanent` (default
//!   true) gives 301 for GET and HEAD and 308 otherwise, else 302 and 307.
//! - `redirect_regex: { regex, replacement, status }`: a request whose URL
//!   (`scheme://host/path?query`) matches is redirected to the replacement (`status` 301,
//!   302 (default), 307 or 308).
//!
//! Regexes are compiled at load time with a size limit ([`regex`]), and a replacement may only
//! name groups its regex has. Invariant: paths here start with `/`, hold no dot segment, no
//! query and no character a request target may not carry.

use std::fmt;

use http::uri::PathAndQuery;
use regex::{Regex, RegexBuilder};

/// The most bytes a compiled regex may take (the regex crate's `size_limit`).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// The longest pattern accepted, in bytes.
pub const REGEX_MAX_LEN: usize = 1024;

/// The path rewrites; all `None`: the path is sent as routed (and stripped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathRewrite {
    pub replace_path: Option<String>,
    pub replace_path_regex: Option<Replace>,
    pub add_prefix: Option<String>,
}

/// A regex and what its matches are replaced with.
#[derive(Clone, Debug)]
pub struct Replace {
    pub regex: Regex,
    pub replacement: String,
}

impl PartialEq for Replace {
    fn eq(&self, other: &Self) -> bool {
        self.regex.as_str() == other.regex.as_str() && self.replacement == other.replacement
    }
}

impl Eq for Replace {}

impl fmt::Display for Replace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.regex.as_str(), self.replacement)
    }
}

/// `redirect_regex`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexRedirect {
    pub replace: Replace,
    /// 301, 302, 307 or 308.
    pub status: u16,
}

/// `redirect_scheme`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchemeRedirect {
    /// `http` or `https`.
    pub scheme: &'static str,
    /// The port in `Location`; `None`: the scheme's default (none written).
    pub port: Option<u16>,
    pub permanent: bool,
}

impl fmt::Display for SchemeRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme)?;
        if let Some(p) = self.port {
            write!(f, " port {p}")?;
        }
        f.write_str(if self.permanent {
            " (permanent)"
        } else {
            " (temporary)"
        })
    }
}

/// A pattern compiled with the size limits.
pub fn regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > REGEX_MAX_LEN {
        return Err(format!(
            "the regex is {} bytes long, more than {REGEX_MAX_LEN}: shorten it",
            pattern.len()
        ));
    }
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => format!(
                "the regex compiles to more than {REGEX_SIZE_LIMIT} bytes: simplify it (fewer \
                 or smaller repetitions like {{1000}}, fewer alternatives)"
            ),
            e => format!(
                "invalid regex (Rust `regex` syntax): {}",
                one_line(&e.to_string())
            ),
        })
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A regex and its replacement, checked: the replacement names only groups the regex has.
pub fn replace(pattern: &str, replacement: &str) -> Result<Replace, (&'static str, String)> {
    let regex = regex(pattern).map_err(|e| ("regex", e))?;
    for group in references(replacement) {
        let known = match group.parse::<usize>() {
            Ok(n) => n < regex.captures_len(),
            Err(_) => regex.capture_names().flatten().any(|n| n == group),
        };
        if !known {
            let why = format!(
                "`${group}` names no group of the regex (it has {} numbered group(s){}): \
                 fix the name, or write `$$` for a literal `$`",
                regex.captures_len() - 1,
                names(&regex)
            );
            return Err(("replacement", why));
        }
    }
    Ok(Replace {
        regex,
        replacement: replacement.to_owned(),
    })
}

fn names(regex: &Regex) -> String {
    let named: Vec<&str> = regex.capture_names().flatten().collect();
    match named.is_empty() {
        true => String::new(),
        false => format!(", named {}", named.join(", ")),
    }
}

/// The group names and numbers `$name`, `${name}` of a replacement (`$$` is a `$`), as the
/// regex crate reads them: `$name` takes the longest run of letters, digits and `_`.
fn references(replacement: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = replacement;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            rest = after;
        } else if let Some((name, after)) = rest.strip_prefix('{').and_then(|b| b.split_once('}')) {
            out.push(name);
            rest = after;
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if end > 0 {
                out.push(&rest[..end]);
            }
            rest = &rest[end..];
        }
    }
    out
}

/// A path for `replace_path` or `add_prefix`: starts with `/`, no query, fragment, dot
/// segment or character a request target cannot carry; `prefix`: no trailing `/`.
pub fn path(text: &str, prefix: bool) -> Result<String, String> {
    let text = text.trim();
    if !text.starts_with('/') {
        return Err(format!("`{text}` must start with `/`, like /api"));
    }
    if prefix && text.len() > 1 && text.ends_with('/') {
        let trimmed = text.trim_end_matches('/');
        return Err(format!(
            "a prefix ending in `/` would double the path's own: write `{trimmed}`"
        ));
    }
    if text.contains(['?', '#']) || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "a path without `?`, `#`, spaces or control characters (the query is kept \
                    as the client sent it)"
                .to_owned(),
        );
    }
    if text.split('/').any(|s| s == "." || s == "..") {
        return Err(
            "`.` and `..` segments are not allowed: write the path they lead to".to_owned(),
        );
    }
    if PathAndQuery::try_from(text).is_err() {
        return Err("not a valid request path: percent-encode characters like < > \" and ` (e.g. %3C for <)".to_owned());
    }
    Ok(text.to_owned())
}

/// A redirect status: 301, 302, 307 or 308.
pub fn redirect_status(status: u32) -> Result<u16, String> {
    match status {
        301 | 302 | 307 | 308 => Ok(status as u16),
        _ => Err(format!(
            "{status} is not a redirect status: use 301 or 308 (permanent), 302 or 307 (temporary; 307 and 308 keep the method)"
        )),
    }
}

/// `http` or `https`, any case.
pub fn scheme(text: &str) -> Result<&'static str, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "https" => Ok("https"),
        "http" => Ok("http"),
        _ => Err("expected https or http (the scheme to redirect to)".to_owned()),
    }
}

#[cfg(test)]
mod tests;
