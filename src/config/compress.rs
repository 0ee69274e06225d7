//! A static service's `compress:` (control plane, load time): `true`, `false` or a map of
//! `encodings`, `min_size` and `types`, read with the parsers labels use
//! (`model::compress`); also [`Toggle`] and [`Parsed`], the YAML forms `sticky:` shares.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::shape::raw::Size;
use super::validate::Problems;
use crate::model::compress::{self, Compress, Encoding, MediaType};
use crate::model::Layer;

/// `true`/`false`, or the settings' map (which turns the feature on).
#[derive(Debug)]
pub enum Toggle<T> {
    On(bool),
    Map(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Toggle<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Toggle<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false or a map of settings")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Toggle<T>, E> {
                Ok(Toggle::On(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Toggle<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Toggle::Map)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<T> Toggle<T> {
    /// The settings when on (`true` gives `T::default()`), `None` when off.
    pub fn settings(self) -> Option<T>
    where
        T: Default,
    {
        match self {
            Self::On(false) => None,
            Self::On(true) => Some(T::default()),
            Self::Map(m) => Some(m),
        }
    }
}

/// A scalar read by a `model` parser while deserializing, so a bad value carries its line.
#[derive(Debug)]
pub struct Parsed<T>(pub T);

/// How a [`Parsed`] value is read.
pub trait ParseValue: Sized {
    /// What a value should look like.
    const WHAT: &'static str;
    fn parse(s: &str) -> Result<Self, String>;
}

impl<'de, T: ParseValue> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: ParseValue> Visitor<'_> for V<T> {
            type Value = Parsed<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::WHAT)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Parsed<T>, E> {
                T::parse(v).map(Parsed).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Parsed<T>, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl ParseValue for Encoding {
    const WHAT: &'static str = "an encoding: br, zstd or gzip";
    fn parse(s: &str) -> Result<Self, String> {
        compress::encoding(s)
    }
}

impl ParseValue for MediaType {
    const WHAT: &'static str = "a content type like text/html or text/*";
    fn parse(s: &str) -> Result<Self, String> {
        compress::media_type(s)
    }
}

/// A service's `compress:` map.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompress {
    pub encodings: Option<Vec<Parsed<Encoding>>>,
    /// The same sizes as `max_request_body` (`value::size`).
    pub min_size: Option<Size>,
    pub types: Option<Vec<Parsed<MediaType>>>,
}

/// The compression of the service at `path`; an L4 service may not have it.
pub(super) fn compress(
    p: &mut Problems,
    path: &str,
    raw: Option<Toggle<RawCompress>>,
    layer: Layer,
) -> Option<Compress> {
    let raw = raw?.settings()?;
    let at = format!("{path}.compress");
    if layer == Layer::Tcp {
        p.add(at, "compression applies to HTTP responses; a tcp service forwards bytes as they come: remove `compress`");
        return None;
    }
    let encodings = raw.encodings.map(|v| {
        let mut out: Vec<Encoding> = Vec::new();
        for e in v {
            if !out.contains(&e.0) {
                out.push(e.0);
            }
        }
        out
    });
    let types = raw.types.map(|v| v.into_iter().map(|t| t.0).collect());
    Compress::new(encodings, raw.min_size.map(|s| s.0), types)
        .map_err(|(field, e)| p.add(format!("{at}.{field}"), e))
        .ok()
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::config::test_support::one;
    use crate::model::compress::{Encoding, DEFAULT_MIN_SIZE};

    #[test]
    fn compress_takes_true_or_a_map() {
        let src = "services:\n  a: { compress: true, backends: [127.0.0.1:1] }\n  b: { path: /b, compress: { encodings: [gzip, br], min_size: 2KB, types: [text/*] }, backends: [127.0.0.1:2] }\n  c: { path: /c, compress: false, backends: [127.0.0.1:3] }\n";
        let c = parse(src, "t.yaml").unwrap();
        let a = c.services["a"]
            .spec
            .compress
            .as_ref()
            .expect("a compresses");
        assert_eq!((a.encodings.len(), a.min_size), (3, DEFAULT_MIN_SIZE));
        let b = c.services["b"]
            .spec
            .compress
            .as_ref()
            .expect("b compresses");
        assert_eq!(b.encodings, [Encoding::Gzip, Encoding::Br]);
        assert_eq!((b.min_size, b.types.len()), (2000, 1), "2KB = 2000 bytes");
        assert!(c.services["c"].spec.compress.is_none());
    }

    #[test]
    fn compress_problems_name_the_line_the_field_and_the_fix() {
        let p = one("services:\n  a:\n    compress: { encodings: [gzip, deflate] }\n    backends: [127.0.0.1:1]\n");
        assert!(
            p.path.starts_with("services.a.compress.encodings"),
            "{}",
            p.path
        );
        assert_eq!(p.line, Some(3));
        assert!(
            p.message.contains("expected br, zstd or gzip"),
            "{}",
            p.message
        );
        let p = one(
            "services:\n  a:\n    compress: { min_size: 1.5KB }\n    backends: [127.0.0.1:1]\n",
        );
        assert!(p.message.contains("powers of 1024"), "{}", p.message);
        let p =
            one("services:\n  a:\n    compress: { min_size: 1024 }\n    backends: [127.0.0.1:1]\n");
        assert_eq!(
            (p.path.as_str(), p.line),
            ("services.a.compress.min_size", Some(3))
        );
        assert!(p.message.contains("like 1024B or 1024MB"), "{}", p.message);
        let p =
            one("services:\n  a:\n    compress: { encodings: [] }\n    backends: [127.0.0.1:1]\n");
        assert_eq!(
            (p.path.as_str(), p.line),
            ("services.a.compress.encodings", Some(3))
        );
        let p = one("services:\n  a:\n    compress: { level: 9 }\n    backends: [127.0.0.1:1]\n");
        assert!(p.message.contains("min_size"), "{}", p.message);
        let p = one("listeners: { pg: { address: 127.0.0.1:5432, protocol: tcp } }\nservices:\n  a:\n    listener: pg\n    compress: true\n    backends: [127.0.0.1:1]\n");
        assert_eq!((p.path.as_str(), p.line), ("services.a.compress", Some(5)));
    }
}
