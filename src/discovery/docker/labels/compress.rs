//! The compression labels (control plane, pure): `compress` (`true`/`false`), and
//! `compress.encodings` (comma-separated, in order of preference), `compress.min_size` and
//! `compress.types` (comma-separated content types), each of which turns compression on too.
//! Read with the config file's parsers and rules (`model::compress`); every problem is
//! recorded in `labels`, which rejects the container.

use super::reader::Labels;
use crate::model::compress::{self, Compress};
use crate::model::value::{boolean, size};
use crate::model::Layer;

/// Every suffix this module reads.
pub(super) const SUFFIXES: [&str; 4] = [
    "compress",
    "compress.encodings",
    "compress.min_size",
    "compress.types",
];

/// The labels' compression, `None` when off (problems are recorded in `labels`).
pub(super) fn parse(labels: &mut Labels<'_>, layer: Layer) -> Option<Compress> {
    let [on_key, encodings_key, size_key, types_key] = SUFFIXES;
    let on = labels.parse(on_key, boolean);
    let encodings = labels.parse(encodings_key, compress::encodings);
    let min_size = labels.parse(size_key, size);
    let types = labels.parse(types_key, compress::media_types);
    let settings = [encodings_key, size_key, types_key];
    let any = settings.iter().any(|k| labels.has(k));
    if on == Some(false) || (!labels.has(on_key) && !any) {
        return None;
    }
    if layer == Layer::Tcp {
        let key = labels.key(on_key);
        labels.problem(format!(
            "labels {key}*: compression applies to HTTP responses; a tcp service forwards \
             bytes as they come: remove them"
        ));
        return None;
    }
    Compress::new(encodings, min_size, types)
        .map_err(|(field, e)| {
            let key = labels.key(&format!("compress.{field}"));
            labels.problem(format!("label {key}: {e}"));
        })
        .ok()
}
