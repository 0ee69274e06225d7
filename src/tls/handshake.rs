//! The TLS handshake of one client connection (data plane).
//!
//! [`Terminator::accept`](super::Terminator::accept) runs the handshake under a deadline (the
//! listener's `header_read` timeout, so a client trickling a ClientHello is cut like one
//! trickling a request head) and sorts failures into a few bounded [`Failure`] reasons for
//! `berth_tls_handshake_errors_total`. Invariant: no client input makes this panic; every
//! failed handshake is counted once and its socket closed.

use std::io;

use metrics::Counter;
use rustls::{AlertDescription, InvalidMessage, ProtocolVersion};

use crate::metrics as m;

/// Why a handshake failed; the `reason` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Not finished within the timeout (slow or silent client).
    Timeout,
    /// The client closed (or reset) the connection before the handshake finished.
    Closed,
    /// The first bytes were not a TLS record (plain HTTP to an https port, a scanner).
    NotTls,
    /// TLS records that do not parse or arrive out of order.
    BadMessage,
    /// No common version, cipher suite, group or ALPN protocol.
    Incompatible,
    /// The client rejected our certificate (an alert such as unknown CA or bad certificate).
    CertificateRejected,
    /// Anything else the client sent that ended the handshake (another alert, misbehaviour).
    Other,
}

impl Failure {
    pub const ALL: [Failure; 7] = [
        Self::Timeout,
        Self::Closed,
        Self::NotTls,
        Self::BadMessage,
        Self::Incompatible,
        Self::CertificateRejected,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Closed => "closed",
            Self::NotTls => "not_tls",
            Self::BadMessage => "bad_message",
            Self::Incompatible => "incompatible",
            Self::CertificateRejected => "certificate_rejected",
            Self::Other => "other",
        }
    }

    /// Sorts an error of `tokio_rustls`' accept.
    pub fn of(e: &io::Error) -> Self {
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Self::of_tls(tls);
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => Self::Closed,
            io::ErrorKind::InvalidData => Self::BadMessage,
            _ => Self::Other,
        }
    }

    fn of_tls(e: &rustls::Error) -> Self {
        use rustls::Error as E;
        match e {
            E::InvalidMessage(InvalidMessage::InvalidContentType)
            | E::InvalidMessage(InvalidMessage::UnknownProtocolVersion) => Self::NotTls,
            E::InvalidMessage(_) | E::InappropriateMessage { .. } => Self::BadMessage,
            E::InappropriateHandshakeMessage { .. } => Self::BadMessage,
            E::PeerIncompatible(_) | E::NoApplicationProtocol => Self::Incompatible,
            E::AlertReceived(
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::CertificateExpired
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::AccessDenied,
            ) => Self::CertificateRejected,
            E::AlertReceived(AlertDescription::ProtocolVersion) => Self::Incompatible,
            _ => Self::Other,
        }
    }
}

/// Handshake counters of one listener, resolved once at start.
#[derive(Debug)]
pub struct Counters {
    errors: [Counter; Failure::ALL.len()],
    tls12: Counter,
    tls13: Counter,
}

impl Counters {
    pub fn new(listener: &str) -> Self {
        let errors = Failure::ALL.map(|f| {
            metrics::counter!(m::TLS_HANDSHAKE_ERRORS_TOTAL,
                "listener" => listener.to_owned(), "reason" => f.as_str())
        });
        let done = |version: &'static str| {
            metrics::counter!(m::TLS_HANDSHAKES_TOTAL,
                "listener" => listener.to_owned(), "version" => version)
        };
        Self {
            errors,
            tls12: done("TLSv1.2"),
            tls13: done("TLSv1.3"),
        }
    }

    pub fn failed(&self, why: Failure) {
        // `ALL` lists every variant, so the position always exists.
        if let Some(i) = Failure::ALL.iter().position(|f| *f == why) {
            self.errors[i].increment(1);
        }
    }

    pub fn done(&self, version: Option<ProtocolVersion>) {
        match version {
            Some(ProtocolVersion::TLSv1_2) => self.tls12.increment(1),
            _ => self.tls13.increment(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(e: rustls::Error) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }

    #[test]
    fn failures_are_sorted_into_bounded_reasons() {
        let cases = [
            (
                wrapped(rustls::Error::InvalidMessage(
                    InvalidMessage::InvalidContentType,
                )),
                Failure::NotTls,
            ),
            (
                wrapped(rustls::Error::InvalidMessage(
                    InvalidMessage::MessageTooShort,
                )),
                Failure::BadMessage,
            ),
            (
                wrapped(rustls::Error::AlertReceived(AlertDescription::UnknownCA)),
                Failure::CertificateRejected,
            ),
            (
                wrapped(rustls::Error::NoApplicationProtocol),
                Failure::Incompatible,
            ),
            (
                io::Error::from(io::ErrorKind::UnexpectedEof),
                Failure::Closed,
            ),
            (io::Error::from(io::ErrorKind::Other), Failure::Other),
        ];
        for (e, want) in cases {
            assert_eq!(Failure::of(&e), want, "{e}");
        }
        let names: std::collections::HashSet<_> = Failure::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(names.len(), Failure::ALL.len());
    }
}
