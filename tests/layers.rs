//! The layer rule of `src/lib.rs`: a top-level module imports only modules of lower layers.
//!
//! Reads every file under `src/` and fails on a `crate::X` path (a `use` or an inline path,
//! tests included) that names a module of a higher layer than the file's own. Run alone with
//! `cargo test --test layers`.

use std::fs;
use std::path::{Path, PathBuf};

/// Lowest first, as in `src/lib.rs`'s `# Layout`.
const LAYERS: [&str; 13] = [
    "model",
    "metrics",
    "config",
    "tls",
    "discovery",
    "endpoint",
    "health",
    "balance",
    "state",
    "acme",
    "proxy",
    "admin",
    "server",
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `src/state/route.rs` → `state`.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?;
    Some(name.trim_end_matches(".rs").to_owned())
}

/// Every top-level module a `crate::` path in `text` names, with its line number:
/// `crate::state::x` gives `state`, `crate::{model::A, proxy}` gives `model` and `proxy`.
fn crate_paths(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let group = after
                .strip_prefix('{')
                .map(|g| g.split('}').next().unwrap_or(g));
            let names: Vec<&str> = match group {
                Some(g) => g
                    .split(',')
                    .map(|item| leading_ident(item.trim()))
                    .collect(),
                None => vec![leading_ident(after)],
            };
            out.extend(names.into_iter().map(|n| (i + 1, n)));
            rest = after;
        }
    }
    out
}

fn leading_ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// `(file:line, from, to)` for every import that points to a higher layer.
fn upward_imports(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let Some(from) = module_of(src, &file).and_then(|m| rank(&m).map(|r| (m, r))) else {
            continue;
        };
        let text = fs::read_to_string(&file).expect("source file is readable");
        for (line, to) in crate_paths(&text) {
            if rank(to).is_some_and(|r| r > from.1) {
                bad.push(format!(
                    "{}:{line}: {} imports {to}",
                    file.display(),
                    from.0
                ));
            }
        }
    }
    bad
}

#[test]
fn every_module_is_in_a_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs");
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .collect();
    assert_eq!(
        declared, LAYERS,
        "src/lib.rs declares its modules in layer order"
    );
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = upward_imports(&src);
    assert!(
        bad.is_empty(),
        "imports that point up the layers (see src/lib.rs, # Layout):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    let dir = std::env::temp_dir().join(format!("berth-layers-{}", std::process::id()));
    fs::create_dir_all(dir.join("model")).expect("temp dir");
    fs::write(
        dir.join("model/x.rs"),
        "use crate::model::Layer;\nfn f() { crate::proxy::go(); }\nuse crate::{model::A, admin};\n",
    )
    .expect("write");
    fs::write(dir.join("server.rs"), "use crate::model::Layer;\n").expect("write");
    let bad = upward_imports(&dir);
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].ends_with("x.rs:2: model imports proxy"), "{bad:?}");
    assert!(bad[1].ends_with("x.rs:3: model imports admin"), "{bad:?}");
}
