//! Response compression (vocabulary): which encodings a service offers, above which size,
//! for which content types. Set by a static service's `compress:` (`true`, or a map of
//! `encodings`, `min_size`, `types`) or the labels `compress`, `compress.encodings`,
//! `compress.min_size`, `compress.types`, read by the parsers here (`min_size` by
//! `value::size`, as every size).
//!
//! The data plane (`proxy::compress`) negotiates from `Accept-Encoding`; on a q-value tie
//! the service's `encodings` order wins (default: br, zstd, gzip). Invariant: a [`Compress`]
//! that exists offers at least one encoding and one content type.

use std::fmt;

use http::HeaderValue;

/// The least body size compressed when `min_size` is not set: `1KiB` (like nginx's `1k`).
pub const DEFAULT_MIN_SIZE: u64 = 1024;

/// Compressible content types when `types` is not set (Caddy's and Traefik's lists, in
/// short). `text/event-stream` is never compressed, whatever the list.
pub const DEFAULT_TYPES: [&str; 14] = [
    "text/*",
    "application/json",
    "application/*+json",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/*+xml",
    "application/wasm",
    "application/x-ndjson",
    "application/graphql",
    "image/svg+xml",
    "image/x-icon",
    "font/ttf",
];

/// A content coding berth can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Br,
    Zstd,
    Gzip,
}

impl Encoding {
    /// The default offer, in the order that wins q-value ties.
    pub const ALL: [Encoding; 3] = [Encoding::Br, Encoding::Zstd, Encoding::Gzip];

    /// Its `Content-Encoding` token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Br => "br",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
        }
    }

    /// Its `Content-Encoding` value.
    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }
}

/// A content type pattern: `type/sub`, `type/*` or `type/*+suffix`, lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaType(String);

impl MediaType {
    /// Whether `essence` (a lowercase `type/sub`, parameters removed) matches.
    pub fn matches(&self, essence: &str) -> bool {
        let (ty, sub) = self.0.split_once('/').unwrap_or((&self.0, ""));
        let Some((e_ty, e_sub)) = essence.split_once('/') else {
            return false;
        };
        if ty != e_ty {
            return false;
        }
        match sub.strip_prefix('*') {
            Some("") => true,
            Some(suffix) => e_sub.ends_with(suffix),
            None => sub == e_sub,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A service's compression settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compress {
    /// Non-empty; the first wins a q-value tie.
    pub encodings: Vec<Encoding>,
    /// Bodies whose `Content-Length` is below this are sent as they are.
    pub min_size: u64,
    /// Non-empty.
    pub types: Vec<MediaType>,
}

impl Compress {
    /// The settings, each left out taking its default; an empty list is refused with the
    /// field it is about (`encodings`, `types`).
    pub fn new(
        encodings: Option<Vec<Encoding>>,
        min_size: Option<u64>,
        types: Option<Vec<MediaType>>,
    ) -> Result<Self, (&'static str, String)> {
        let encodings = encodings.unwrap_or_else(|| Encoding::ALL.to_vec());
        if encodings.is_empty() {
            return Err((
                "encodings",
                "empty: list one or more of br, zstd, gzip".into(),
            ));
        }
        let types = match types {
            Some(t) if t.is_empty() => return Err((
                "types",
                "empty: list content types like text/*, or leave `types` out for the default list"
                    .into(),
            )),
            Some(t) => t,
            None => DEFAULT_TYPES
                .iter()
                .map(|t| MediaType((*t).into()))
                .collect(),
        };
        Ok(Self {
            encodings,
            min_size: min_size.unwrap_or(DEFAULT_MIN_SIZE),
            types,
        })
    }

    /// Whether a response of this `Content-Type` may be compressed.
    pub fn compressible(&self, content_type: &str) -> bool {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        // Short, stack-only lowercase copy: content types are ASCII and short.
        let mut buf = [0u8; 128];
        let Some(lower) = lowercase(essence, &mut buf) else {
            return false;
        };
        lower != "text/event-stream" && self.types.iter().any(|t| t.matches(lower))
    }
}

/// `s` lowercased into `buf`; `None` when longer than `buf` or not ASCII.
fn lowercase<'a>(s: &str, buf: &'a mut [u8]) -> Option<&'a str> {
    let out = buf.get_mut(..s.len())?;
    out.copy_from_slice(s.as_bytes());
    out.make_ascii_lowercase();
    std::str::from_utf8(out).ok()
}

impl fmt::Display for Compress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let enc: Vec<&str> = self.encodings.iter().map(|e| e.as_str()).collect();
        let types: Vec<&str> = self.types.iter().map(MediaType::as_str).collect();
        write!(
            f,
            "{} from {} bytes; types {}",
            enc.join(", "),
            self.min_size,
            types.join(", ")
        )
    }
}

/// `br`, `zstd` or `gzip`.
pub fn encoding(s: &str) -> Result<Encoding, String> {
    let s = s.trim();
    Encoding::ALL
        .into_iter()
        .find(|e| e.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| format!("unknown encoding `{s}`: expected br, zstd or gzip"))
}

/// Comma-separated encodings, in order of preference, duplicates dropped.
pub fn encodings(s: &str) -> Result<Vec<Encoding>, String> {
    let mut out = Vec::new();
    for item in super::value::list(s)? {
        let e = encoding(&item)?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

/// A content type pattern: `text/html`, `text/*` or `application/*+json`.
pub fn media_type(s: &str) -> Result<MediaType, String> {
    let s = s.trim().to_ascii_lowercase();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let ok = match s.split_once('/') {
        Some((ty, sub)) => {
            token(ty)
                && (token(sub)
                    || sub
                        .strip_prefix('*')
                        .is_some_and(|r| r.is_empty() || (r.starts_with('+') && token(r))))
        }
        None => false,
    };
    match ok && s.len() <= 127 {
        true => Ok(MediaType(s)),
        false => Err(format!(
            "`{s}` is not a content type: expected type/subtype like text/html, text/* or application/*+json"
        )),
    }
}

/// Comma-separated content type patterns.
pub fn media_types(s: &str) -> Result<Vec<MediaType>, String> {
    super::value::list(s)?
        .iter()
        .map(|t| media_type(t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_match_exactly_by_type_or_by_suffix() {
        let c = Compress::new(None, None, None).expect("defaults are valid");
        assert!(c.compressible("text/html; charset=utf-8"));
        assert!(c.compressible("Application/JSON"));
        assert!(c.compressible("application/problem+json"));
        assert!(c.compressible("image/svg+xml"));
        assert!(!c.compressible("image/png"));
        assert!(!c.compressible("text/event-stream"));
        assert!(!c.compressible("application/grpc"));
        assert!(media_type("text").is_err());
        assert!(media_type("application/*json").is_err());
        assert_eq!(media_type("Text/*").map(|t| t.0), Ok("text/*".into()));
    }

    #[test]
    fn encodings_keep_their_order_and_refuse_unknown_ones() {
        assert_eq!(
            encodings("gzip, BR, gzip"),
            Ok(vec![Encoding::Gzip, Encoding::Br])
        );
        assert!(encodings("deflate")
            .unwrap_err()
            .contains("br, zstd or gzip"));
        let e = Compress::new(Some(vec![]), None, None).unwrap_err();
        assert_eq!(e.0, "encodings");
    }
}
