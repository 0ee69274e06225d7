//! ACME Renewal Information (RFC 9773): the window in which the CA wants a certificate
//! renewed (earlier than two thirds of its lifetime when it is about to revoke it, or to
//! spread its load), asked of CAs whose directory offers it (Let's Encrypt does).
//!
//! A renewal ordered inside a CA's window names the certificate it replaces, which exempts it
//! from some of the CA's rate limits.

use std::time::{Duration, SystemTime};

use instant_acme::{Account, CertificateIdentifier};
use rustls_pki_types::CertificateDer;

use super::AcmeError;

/// The shortest and longest wait before asking again, whatever the CA's `Retry-After`.
const RECHECK_MIN: Duration = Duration::from_secs(60);
const RECHECK_MAX: Duration = Duration::from_secs(24 * 3600);
/// When the CA offers no ARI, ask again this much later (the directory may change).
pub const UNSUPPORTED_RECHECK: Duration = RECHECK_MAX;

/// What the CA said about one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Renew within `start..end`; ask again after `recheck`.
    Window {
        start: SystemTime,
        end: SystemTime,
        recheck: Duration,
    },
    /// The CA's directory has no `renewalInfo`.
    Unsupported,
}

/// After a failed question, ask again this much later.
const ERROR_RECHECK: Duration = Duration::from_secs(3600);

/// What one name's certificate knows of ARI.
#[derive(Debug, Default)]
pub struct State {
    /// The certificate served, the one asked about.
    leaf: Option<CertificateDer<'static>>,
    /// When to renew by the CA's window.
    at: Option<SystemTime>,
    /// When to ask (again); `None`: at once.
    check: Option<SystemTime>,
    asking: bool,
    /// The CA answered with a window at least once.
    supported: bool,
}

impl State {
    /// A new certificate is served: forget the old one's window, ask about this one.
    pub fn installed(&mut self, leaf: CertificateDer<'static>) {
        self.leaf = Some(leaf);
        self.at = None;
        self.check = None;
    }

    /// The certificate to ask about now, if it is time (marks the question asked).
    pub fn ask_now(&mut self, now: SystemTime) -> Option<CertificateDer<'static>> {
        if self.asking || self.check.is_some_and(|t| t > now) {
            return None;
        }
        let leaf = self.leaf.clone()?;
        self.asking = true;
        Some(leaf)
    }

    /// Records the CA's answer (or why there is none); returns the error, to log.
    pub fn answered(
        &mut self,
        answer: Result<Answer, AcmeError>,
        now: SystemTime,
        jitter: f64,
    ) -> Option<AcmeError> {
        self.asking = false;
        match answer {
            Ok(Answer::Window {
                start,
                end,
                recheck,
            }) => {
                self.at = Some(renew_in(start, end, now, jitter));
                self.check = Some(now + recheck);
                self.supported = true;
                None
            }
            Ok(Answer::Unsupported) => {
                self.check = Some(now + UNSUPPORTED_RECHECK);
                None
            }
            Err(e) => {
                self.check = Some(now + ERROR_RECHECK);
                Some(e)
            }
        }
    }

    /// When the CA wants the certificate renewed, if it said.
    pub fn renew_at(&self) -> Option<SystemTime> {
        self.at
    }

    /// The certificate a renewal replaces, named to a CA that speaks ARI.
    pub fn replaces(&self) -> Option<CertificateIdentifier<'static>> {
        let leaf = self.leaf.as_ref().filter(|_| self.supported)?;
        identifier(leaf).ok()
    }
}

/// The identifier RFC 9773 names a certificate by: its issuer's key id and its serial.
pub fn identifier(leaf: &CertificateDer<'_>) -> Result<CertificateIdentifier<'static>, AcmeError> {
    CertificateIdentifier::try_from(leaf).map_err(AcmeError::Refused)
}

/// Asks the CA when `leaf` should be renewed.
pub async fn ask(account: &Account, leaf: &CertificateDer<'_>) -> Result<Answer, AcmeError> {
    let id = identifier(leaf)?;
    match account.renewal_info(&id).await {
        Ok((info, retry)) => Ok(Answer::Window {
            start: info.suggested_window.start.into(),
            end: info.suggested_window.end.into(),
            recheck: retry.clamp(RECHECK_MIN, RECHECK_MAX),
        }),
        Err(instant_acme::Error::Unsupported(_)) => Ok(Answer::Unsupported),
        Err(e) => Err(e.into()),
    }
}

/// The moment to renew in a window: a uniformly random point of it (`jitter` in [0, 1)), so
/// the CA's clients spread their renewals as it asks; at once when the window has begun.
pub fn renew_in(start: SystemTime, end: SystemTime, now: SystemTime, jitter: f64) -> SystemTime {
    let span = end.duration_since(start).unwrap_or_default();
    let at = start + span.mul_f64(jitter.clamp(0.0, 1.0));
    if start <= now {
        now
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_schedules_the_renewal_and_the_next_question() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = Duration::from_secs(3600);
        let mut s = State::default();
        assert!(s.ask_now(t0).is_none(), "nothing served yet");
        s.installed(CertificateDer::from(vec![1, 2, 3]));
        assert!(s.ask_now(t0).is_some());
        assert!(s.ask_now(t0).is_none(), "one question at a time");
        let window = Answer::Window {
            start: t0 + hour,
            end: t0 + 2 * hour,
            recheck: 6 * hour,
        };
        assert!(s.answered(Ok(window), t0, 0.5).is_none());
        assert_eq!(s.renew_at(), Some(t0 + hour + hour / 2));
        assert!(
            s.ask_now(t0 + 5 * hour).is_none(),
            "not before the CA's Retry-After"
        );
        assert!(s.ask_now(t0 + 6 * hour).is_some());
        s.answered(Ok(Answer::Unsupported), t0 + 6 * hour, 0.0);
        assert_eq!(
            s.renew_at(),
            Some(t0 + hour + hour / 2),
            "the last window stands"
        );
        s.installed(CertificateDer::from(vec![4]));
        assert_eq!(s.renew_at(), None, "a new certificate has no window yet");
        assert!(s.ask_now(t0 + 6 * hour).is_some(), "asked about at once");
    }

    #[test]
    fn without_ari_nothing_is_replaced_and_questions_are_rare() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut s = State::default();
        s.installed(CertificateDer::from(vec![1]));
        s.ask_now(t0);
        s.answered(Ok(Answer::Unsupported), t0, 0.0);
        assert!(s.replaces().is_none());
        assert!(s.renew_at().is_none());
        assert!(s.ask_now(t0 + UNSUPPORTED_RECHECK / 2).is_none());
        assert!(s.ask_now(t0 + UNSUPPORTED_RECHECK).is_some());
        let failed = s.answered(Err(AcmeError::Refused("x".into())), t0, 0.0);
        assert!(failed.is_some(), "the error is handed back to be logged");
        assert!(s.ask_now(t0 + ERROR_RECHECK / 2).is_none());
    }

    #[test]
    fn a_random_point_of_a_future_window_at_once_in_an_open_one() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let hour = Duration::from_secs(3600);
        assert_eq!(renew_in(t0 + hour, t0 + 3 * hour, t0, 0.0), t0 + hour);
        assert_eq!(renew_in(t0 + hour, t0 + 3 * hour, t0, 0.5), t0 + 2 * hour);
        assert_eq!(
            renew_in(t0 - hour, t0 + hour, t0, 0.9),
            t0,
            "window open: now"
        );
        assert_eq!(
            renew_in(t0 + hour, t0, t0, 0.5),
            t0 + hour,
            "an inverted window"
        );
    }
}
