//! Basic authentication settings (vocabulary): users with bcrypt hashes, from htpasswd text
//! (a file, or lines in a label or the YAML), a realm, and whether the backend sees the
//! credentials.
//!
//! Only bcrypt (`$2y$`, `$2b$`, `$2a$`, as `htpasswd -B` writes) is accepted: MD5
//! (`$apr1$`), SHA-1 (`{SHA}`), DES crypt and plain text are refused with the command that
//! makes a bcrypt line, since a leaked file of those is cracked in minutes.

use http::HeaderValue;

/// One user: the name and its bcrypt hash.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub hash: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User({})", self.name)
    }
}

/// The `auth.basic` policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicAuth {
    /// Non-empty, names unique.
    pub users: Vec<User>,
    pub realm: String,
    /// Remove `Authorization` before proxying.
    pub remove_header: bool,
    /// `Basic realm="<realm>", charset="UTF-8"`, rendered once.
    pub challenge: HeaderValue,
}

/// The realm when none is set.
pub const DEFAULT_REALM: &str = "berth";

impl BasicAuth {
    /// Checked settings: at least one user, no name twice, a realm that fits a header.
    pub fn new(users: Vec<User>, realm: Option<&str>, remove_header: bool) -> Result<Self, String> {
        if users.is_empty() {
            return Err("no users: give an htpasswd file or lines like alice:$2y$10$...".into());
        }
        for (i, u) in users.iter().enumerate() {
            if users[..i].iter().any(|o| o.name == u.name) {
                return Err(format!("user `{}` is listed twice: keep one line", u.name));
            }
        }
        let realm = realm.unwrap_or(DEFAULT_REALM);
        let value = format!("Basic realm=\"{realm}\", charset=\"UTF-8\"");
        let ok = !realm.is_empty() && !realm.contains(['"', '\\']);
        let challenge = HeaderValue::from_str(&value)
            .ok()
            .filter(|_| ok)
            .ok_or_else(|| {
                format!("realm `{realm}`: use visible text without quotes or backslashes")
            })?;
        Ok(Self {
            users,
            realm: realm.to_owned(),
            remove_header,
            challenge,
        })
    }
}

/// The users of htpasswd `text` (blank lines and `#` comments skipped); the error names the
/// line.
pub fn htpasswd(text: &str) -> Result<Vec<User>, String> {
    let mut users = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        users.push(user(line).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    Ok(users)
}

/// The users of the htpasswd file at `path` (a regular file of at most 1 MiB).
pub fn read_users_file(path: &std::path::Path) -> Result<Vec<User>, String> {
    let bytes =
        crate::model::file::read_small(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
    htpasswd(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// One `name:hash` line.
pub fn user(line: &str) -> Result<User, String> {
    let Some((name, hash)) = line.trim().split_once(':') else {
        return Err("expected name:hash, as `htpasswd -nB NAME` prints".into());
    };
    if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("the user name is empty or has spaces or control characters".into());
    }
    check_hash(hash)?;
    Ok(User {
        name: name.to_owned(),
        hash: hash.to_owned(),
    })
}

/// Accepts a bcrypt hash; names what anything else is and how to make a bcrypt one.
fn check_hash(hash: &str) -> Result<(), String> {
    const FIX: &str = "make a bcrypt line with `htpasswd -nB NAME`";
    let kind = if hash.starts_with("$apr1$") || hash.starts_with("$1$") {
        "an MD5 hash"
    } else if hash.starts_with("{SHA}") {
        "a SHA-1 hash"
    } else if hash.starts_with("$5$") || hash.starts_with("$6$") {
        "a SHA-crypt hash (berth checks bcrypt only)"
    } else if ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
        return match hash.len() == 60 && bcrypt_cost(hash).is_some_and(|c| (4..=31).contains(&c)) {
            true => Ok(()),
            false => Err(format!("a malformed bcrypt hash: {FIX}")),
        };
    } else if hash.len() == 13 {
        "a DES crypt hash"
    } else {
        "not a hash (a plain-text password?)"
    };
    Err(format!("{kind}, which is weak or unsupported: {FIX}"))
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// alice's password is `secret` (bcrypt, cost 5, as `htpasswd -nbB -C 5` writes it).
    const ALICE: &str = "alice:$2y$05$yhoqlRUGoumjWjkivgbRL.KlL2YTDy2DqrrrGu41yftJTanaE9jd2";

    #[test]
    fn bcrypt_lines_are_read_and_weak_ones_refused_with_the_fix() {
        let users = htpasswd(&format!("# team\n\n{ALICE}\n")).expect("users");
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].name, "alice");
        for (line, words) in [
            ("bob:$apr1$abc$def", "MD5"),
            ("bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "SHA-1"),
            ("bob:$6$salt$hash", "SHA-crypt"),
            ("bob:abcdefghijklm", "DES"),
            ("bob:secret", "plain-text"),
            ("bob:$2y$05$short", "malformed bcrypt"),
            ("bob", "expected name:hash"),
            (":$2y$", "user name is empty"),
        ] {
            let e = htpasswd(line).expect_err(line);
            assert!(
                e.starts_with("line 1: ") && e.contains(words),
                "{line}: {e}"
            );
            if words != "expected name:hash" && words != "user name is empty" {
                assert!(e.contains("htpasswd -nB"), "{e}");
            }
        }
        assert!(format!("{:?}", users[0]).contains("alice"));
        assert!(
            !format!("{:?}", users[0]).contains("$2y$"),
            "Debug hides the hash"
        );
    }

    #[test]
    fn settings_are_checked() {
        let users = htpasswd(ALICE).expect("users");
        let auth = BasicAuth::new(users.clone(), None, false).expect("valid");
        assert_eq!(auth.challenge, "Basic realm=\"berth\", charset=\"UTF-8\"");
        assert!(BasicAuth::new(vec![], None, false).is_err());
        let twice = [users.clone(), users.clone()].concat();
        assert!(BasicAuth::new(twice, None, false)
            .expect_err("twice")
            .contains("twice"));
        let bad = BasicAuth::new(users, Some("my \"realm\""), false).expect_err("quote");
        assert!(bad.contains("realm"), "{bad}");
    }
}
