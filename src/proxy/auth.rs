//! HTTP Basic authentication of a request (data plane): the `Authorization` header checked
//! against the service's bcrypt users.
//!
//! bcrypt is slow on purpose (tens of milliseconds), so it never runs on a worker thread: a
//! check runs on the blocking pool, at most [`MAX_CHECKS`] at once (a flood of wrong
//! passwords queues there instead of taking every core). A verified credential is then
//! remembered as a SHA-256 digest (keyed by a random per-process salt, and bound to the
//! service and the stored hash, so a changed password or user file no longer matches) in a
//! bounded set read lock-free: keep-alive traffic pays one digest per request, not bcrypt.
//! User names are compared in constant time, every user each time.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use arc_swap::ArcSwap;
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::HeaderMap;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::model::policy::basic::User;
use crate::model::policy::BasicAuth;

/// The most bcrypt checks running at once.
const MAX_CHECKS: usize = 4;
/// The most verified credentials remembered; a full set starts over.
const MAX_REMEMBERED: usize = 4096;

type Digest = [u8; 32];

static SALT: LazyLock<[u8; 32]> = LazyLock::new(|| {
    let mut salt = [0u8; 32];
    // A failure leaves a zero salt: the digests stay bound to service, user and hash.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt);
    salt
});
static VERIFIED: LazyLock<ArcSwap<HashSet<Digest>>> = LazyLock::new(ArcSwap::default);
static CHECKS: Semaphore = Semaphore::const_new(MAX_CHECKS);

/// Why a request was refused (the `reason` of `berth_policy_denied_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Basic` header.
    Missing,
    /// A header that is not base64 `user:password`.
    Malformed,
    /// An unknown user or a wrong password.
    Invalid,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Invalid => "invalid",
        }
    }
}

/// Checks the request's credentials against `auth` (for `service`); on success removes the
/// header when `remove_header` is set.
pub async fn check(
    auth: &BasicAuth,
    service: &str,
    headers: &mut HeaderMap,
) -> Result<(), Refusal> {
    let (name, password) = credentials(headers)?;
    let user = find(&auth.users, &name).ok_or(Refusal::Invalid)?;
    let digest = digest(service, user, &password);
    if !VERIFIED.load().contains(&digest) {
        verify(user.hash.clone(), password).await?;
        remember(digest);
    }
    if auth.remove_header {
        headers.remove(AUTHORIZATION);
    }
    Ok(())
}

/// The user name and password of an `Authorization: Basic` header.
fn credentials(headers: &HeaderMap) -> Result<(String, String), Refusal> {
    let value = headers.get(AUTHORIZATION).ok_or(Refusal::Missing)?;
    let value = value.to_str().map_err(|_| Refusal::Malformed)?.trim();
    let (scheme, encoded) = value.split_once(' ').ok_or(Refusal::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Refusal::Missing);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| Refusal::Malformed)?;
    let text = String::from_utf8(decoded).map_err(|_| Refusal::Malformed)?;
    let (name, password) = text.split_once(':').ok_or(Refusal::Malformed)?;
    Ok((name.to_owned(), password.to_owned()))
}

/// The user called `name`, comparing with every user in constant time.
fn find<'a>(users: &'a [User], name: &str) -> Option<&'a User> {
    let mut found = None;
    for user in users {
        if bool::from(user.name.as_bytes().ct_eq(name.as_bytes())) {
            found = Some(user);
        }
    }
    found
}

fn digest(service: &str, user: &User, password: &str) -> Digest {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        &SALT[..],
        service.as_bytes(),
        user.name.as_bytes(),
        user.hash.as_bytes(),
        password.as_bytes(),
    ] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// bcrypt on the blocking pool, [`MAX_CHECKS`] at a time.
async fn verify(hash: String, password: String) -> Result<(), Refusal> {
    let _permit = CHECKS.acquire().await.map_err(|_| Refusal::Invalid)?;
    let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
        .await
        .map_err(|_| Refusal::Invalid)?;
    match ok {
        Ok(true) => Ok(()),
        _ => Err(Refusal::Invalid),
    }
}

fn remember(digest: Digest) {
    VERIFIED.rcu(|set| {
        let mut set = match set.len() >= MAX_REMEMBERED {
            true => HashSet::new(),
            false => HashSet::clone(set),
        };
        set.insert(digest);
        Arc::new(set)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::policy::basic::htpasswd;

    /// alice's password is `secret`.
    const ALICE: &str = "alice:$2y$05$yhoqlRUGoumjWjkivgbRL.KlL2YTDy2DqrrrGu41yftJTanaE9jd2";

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, value.parse().expect("header value"));
        h
    }

    fn basic(user_pass: &str) -> HeaderMap {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_pass);
        headers(&format!("Basic {encoded}"))
    }

    #[tokio::test]
    async fn right_credentials_pass_and_wrong_ones_say_why() {
        let users = htpasswd(ALICE).expect("users");
        let auth = BasicAuth::new(users, None, true).expect("auth");
        let mut ok = basic("alice:secret");
        assert_eq!(check(&auth, "unit", &mut ok).await, Ok(()));
        assert!(ok.get(AUTHORIZATION).is_none(), "removed for the backend");
        let mut again = basic("alice:secret");
        assert_eq!(check(&auth, "unit", &mut again).await, Ok(()), "remembered");
        for (mut h, why) in [
            (HeaderMap::new(), Refusal::Missing),
            (headers("Bearer abc"), Refusal::Missing),
            (headers("Basic !!!"), Refusal::Malformed),
            (basic("alice"), Refusal::Malformed),
            (basic("alice:wrong"), Refusal::Invalid),
            (basic("bob:secret"), Refusal::Invalid),
        ] {
            assert_eq!(check(&auth, "unit", &mut h).await, Err(why));
        }
        let other = digest("other", &auth.users[0], "secret");
        assert!(
            !VERIFIED.load().contains(&other),
            "a credential verified for one service is not remembered for another"
        );
    }
}
