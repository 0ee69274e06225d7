//! Reading the small files settings name (a CA bundle, an htpasswd file), from the YAML or
//! from a label: only a regular file of at most [`MAX_SETTING_FILE`] bytes. A label naming
//! `/dev/zero`, a FIFO or a huge file is refused instead of read forever or blocking.

use std::io::Read;
use std::path::Path;

/// The largest file a setting may name.
pub const MAX_SETTING_FILE: u64 = 1 << 20;

/// The bytes of `path`; the error says why not (without the path: the caller names it).
pub fn read_small(path: &Path) -> Result<Vec<u8>, String> {
    let too_big = || format!("larger than {MAX_SETTING_FILE} bytes");
    // Checked before opening: opening a FIFO would block.
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_SETTING_FILE {
        return Err(too_big());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_SETTING_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    match bytes.len() as u64 > MAX_SETTING_FILE {
        true => Err(too_big()),
        false => Ok(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = std::env::temp_dir().join(format!("berth-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let small = dir.join("small");
        std::fs::write(&small, b"ok").expect("write");
        assert_eq!(read_small(&small), Ok(b"ok".to_vec()));
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; MAX_SETTING_FILE as usize + 1]).expect("write");
        assert!(read_small(&big).expect_err("big").contains("larger than"));
        assert_eq!(read_small(&dir), Err("not a regular file".into()));
        assert_eq!(
            read_small(Path::new("/dev/zero")),
            Err("not a regular file".into())
        );
        assert!(read_small(&dir.join("missing")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
