//! The shaping settings of a static service as written (control plane, parse time): the
//! blocks `config::raw::Service` names, each denying unknown fields. Sizes are checked while
//! deserializing (the parser's line and column); the rest is checked by `config::shape`.

use std::fmt;

use serde::de::{self, value::MapAccessDeserializer, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::config::scalar::{OneOrMany, Span, UniqueMap};
use crate::model::value;

/// `headers:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Headers {
    pub request: Option<Edits>,
    pub response: Option<Edits>,
}

/// `headers.request` / `headers.response`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edits {
    pub set: Option<UniqueMap<String>>,
    pub add: Option<UniqueMap<String>>,
    pub remove: Option<OneOrMany>,
}

/// `cors:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    pub origins: OneOrMany,
    pub methods: Option<OneOrMany>,
    pub headers: Option<OneOrMany>,
    pub expose_headers: Option<OneOrMany>,
    pub credentials: Option<bool>,
    pub max_age: Option<Span>,
}

/// `replace_path_regex:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    pub regex: String,
    pub replacement: String,
}

/// `redirect_regex:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegexRedirect {
    pub regex: String,
    pub replacement: String,
    pub status: Option<u32>,
}

/// `redirect_scheme: https` or `{ scheme: https, port: 8443, permanent: false }`.
#[derive(Debug)]
pub struct SchemeRedirect {
    pub scheme: String,
    pub port: Option<u16>,
    pub permanent: Option<bool>,
}

/// `max_request_body: 10MB` ([`value::size`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size like \"10MB\" or \"512KiB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Size, E> {
                value::size(v)
                    .map(Size)
                    .map_err(|e| E::custom(format!("invalid size `{v}`: {e}")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Size, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Size, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Size, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for SchemeRedirect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Map {
            scheme: String,
            port: Option<u16>,
            permanent: Option<bool>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SchemeRedirect;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scheme (https or http) or { scheme, port, permanent }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SchemeRedirect, E> {
                Ok(SchemeRedirect {
                    scheme: v.to_owned(),
                    port: None,
                    permanent: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SchemeRedirect, A::Error> {
                let m = Map::deserialize(MapAccessDeserializer::new(map))?;
                Ok(SchemeRedirect {
                    scheme: m.scheme,
                    port: m.port,
                    permanent: m.permanent,
                })
            }
        }
        d.deserialize_any(V)
    }
}
