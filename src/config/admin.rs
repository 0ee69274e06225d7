//! `admin:` — the admin listener's address and the bearer token its mutating calls need
//! (`token_file`, or the `BERTH_ADMIN_TOKEN` environment variable read at start).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use super::raw;
use super::validate::Problems;
use super::Admin;
use crate::model::file::read_small;

/// The environment variable that gives the admin token when the file names none.
pub const TOKEN_ENV: &str = "BERTH_ADMIN_TOKEN";
/// Shortest token accepted: guessing must stay out of reach.
const MIN_TOKEN: usize = 16;
/// What to do about a weak or malformed token.
const TOKEN_FIX: &str = "use at least 16 visible ASCII characters without spaces, e.g. the output of `openssl rand -hex 32`";

/// The bearer token of the admin API's mutating calls; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(Arc<str>);

impl AdminToken {
    /// A token from its text (surrounding whitespace, such as a file's last newline, ignored).
    pub fn new(text: &str) -> Result<Self, String> {
        let token = text.trim();
        let visible = token.bytes().all(|b| b.is_ascii_graphic());
        match token.len() >= MIN_TOKEN && visible {
            true => Ok(Self(token.into())),
            false => Err(format!(
                "the token is too short or has invalid characters; {TOKEN_FIX}"
            )),
        }
    }

    /// The token's bytes, to compare a request's against (in constant time).
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Checks `admin:`; a relative `token_file` starts at `base`, the config file's directory.
pub(super) fn admin(p: &mut Problems, raw: Option<raw::Admin>, base: &Path) -> Admin {
    let raw = raw.unwrap_or_default();
    let token = raw.token_file.and_then(|file| {
        let at = "admin.token_file";
        let text = read_small(&base.join(&file)).map_err(|e| p.add(at, format!("{file}: {e}")));
        let text = String::from_utf8(text.ok()?)
            .map_err(|_| p.add(at, format!("{file} is not UTF-8; {TOKEN_FIX}")));
        AdminToken::new(&text.ok()?)
            .map_err(|e| p.add(at, format!("{file}: {e}")))
            .ok()
    });
    Admin {
        address: raw
            .address
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9900)), |a| a.0),
        token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_visible_and_never_printed() {
        let t = AdminToken::new("0123456789abcdef\n").expect("16 characters");
        assert_eq!(t.expose(), b"0123456789abcdef");
        assert_eq!(format!("{t:?}"), "AdminToken(<redacted>)");
        for bad in ["short", "0123456789 abcdef", "0123456789abcdé!", ""] {
            assert!(AdminToken::new(bad).is_err(), "{bad:?}");
        }
    }
}
