//! Certificate files (control plane): PEM on disk → a rustls [`CertifiedKey`] and the host
//! names it serves.
//!
//! Reading ([`read`]) and checking ([`Pem::parse`]) are apart so a reload can tell an
//! unchanged file from a changed one before parsing it. Invariants: a [`Loaded`] certificate's
//! chain is non-empty, its leaf parses as X.509 and its key matches the leaf's public key;
//! every [`CertError`] names the file and says what to do about it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::{self, PemObject, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The crypto provider every TLS object of berth uses (`ring`: no C toolchain beyond `cc`).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())))
}

/// One certificate entry: where its files are, and the host names they were found to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM certificate chain, leaf first; relative paths are resolved against the config
    /// file's directory.
    pub cert: PathBuf,
    /// PEM private key (the cert file itself when the file gave no `key`: a combined PEM).
    pub key: PathBuf,
    /// The DNS names of the leaf's subjectAltName (`*.example.com` wildcards kept).
    pub names: Vec<String>,
}

/// Which file of an entry an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Cert,
    Key,
}

/// Why a certificate entry cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot read {}: {source}; give the path of a PEM file (relative paths start at the config file's directory)", path.display())]
    Read {
        field: Field,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not valid PEM ({detail}); expected -----BEGIN ...----- blocks", path.display())]
    Pem {
        field: Field,
        path: PathBuf,
        detail: String,
    },
    #[error("{} holds no certificate{hint}", path.display())]
    NoCertificate { path: PathBuf, hint: &'static str },
    #[error("{} holds no private key{hint}", path.display())]
    NoKey { path: PathBuf, hint: &'static str },
    #[error("{} is not a valid X.509 certificate ({detail}); give the PEM of the server certificate, leaf first", path.display())]
    BadCertificate { path: PathBuf, detail: String },
    #[error("{} holds a private key this build cannot use ({detail}); use an RSA, ECDSA P-256/P-384 or Ed25519 key", path.display())]
    BadKey { path: PathBuf, detail: String },
    #[error("the private key in {} does not match the certificate in {}: give the key the certificate was issued for", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
}

impl CertError {
    /// The entry's field (`cert` or `key`) the error is about.
    pub fn field(&self) -> Field {
        match self {
            Self::Read { field, .. } | Self::Pem { field, .. } => *field,
            Self::NoCertificate { .. } | Self::BadCertificate { .. } => Field::Cert,
            Self::NoKey { .. } | Self::BadKey { .. } | Self::Mismatch { .. } => Field::Key,
        }
    }
}

/// The bytes of one entry's files, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pem {
    cert_path: PathBuf,
    key_path: PathBuf,
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// A usable certificate: what rustls serves, and the SAN DNS names it is chosen for.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// Lowercase, `*.` wildcards kept, in certificate order.
    pub names: Vec<String>,
    /// The leaf's validity period: not before, not after.
    pub validity: (SystemTime, SystemTime),
}

/// Reads and checks one entry's files.
pub fn load(files: &CertificateFiles) -> Result<Loaded, CertError> {
    read(files)?.parse()
}

/// Reads the files of one entry without interpreting them.
pub fn read(files: &CertificateFiles) -> Result<Pem, CertError> {
    let get = |field, path: &Path| {
        std::fs::read(path).map_err(|source| CertError::Read {
            field,
            path: path.to_owned(),
            source,
        })
    };
    Ok(Pem {
        cert: get(Field::Cert, &files.cert)?,
        key: get(Field::Key, &files.key)?,
        cert_path: files.cert.clone(),
        key_path: files.key.clone(),
    })
}

impl Pem {
    /// Bytes read elsewhere (both from `path`, e.g. a stored ACME certificate).
    pub fn in_memory(path: PathBuf, cert: Vec<u8>, key: Vec<u8>) -> Self {
        Self {
            cert_path: path.clone(),
            key_path: path,
            cert,
            key,
        }
    }

    /// Parses the chain and the key and checks that they belong together.
    pub fn parse(&self) -> Result<Loaded, CertError> {
        let chain = self.chain()?;
        let key = self.private_key()?;
        let bad = |detail| CertError::BadCertificate {
            path: self.cert_path.clone(),
            detail,
        };
        let names = leaf_names(&chain[0]).map_err(bad)?;
        let validity = validity(&chain[0]).map_err(bad)?;
        let certified = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => CertError::Mismatch {
                cert: self.cert_path.clone(),
                key: self.key_path.clone(),
            },
            other => CertError::BadKey {
                path: self.key_path.clone(),
                detail: other.to_string(),
            },
        })?;
        Ok(Loaded {
            key: Arc::new(certified),
            names,
            validity,
        })
    }

    fn chain(&self) -> Result<Vec<CertificateDer<'static>>, CertError> {
        let sections = sections(&self.cert, Field::Cert, &self.cert_path)?;
        let chain: Vec<CertificateDer<'static>> = sections
            .iter()
            .filter(|(kind, _)| *kind == SectionKind::Certificate)
            .map(|(_, der)| CertificateDer::from(der.clone()))
            .collect();
        if chain.is_empty() {
            let hint = match () {
                _ if sections.iter().any(|(k, _)| is_key(*k)) => {
                    ", only a private key: did you swap `cert` and `key`?"
                }
                _ if self.cert.first() == Some(&0x30) => {
                    " in PEM (it looks like DER): convert it with \
                     `openssl x509 -inform der -in FILE -out FILE.pem`"
                }
                _ => ": expected a -----BEGIN CERTIFICATE----- block",
            };
            return Err(CertError::NoCertificate {
                path: self.cert_path.clone(),
                hint,
            });
        }
        Ok(chain)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, CertError> {
        let sections = sections(&self.key, Field::Key, &self.key_path)?;
        let key = sections
            .into_iter()
            .find_map(|(kind, der)| PrivateKeyDer::from_pem(kind, der));
        key.ok_or_else(|| {
            let hint = if self.key_path == self.cert_path {
                ": the file has no `key`, so its private key is expected in the cert file; \
                 add `key: FILE.key`"
            } else if self.key.windows(11).any(|w| w == b"CERTIFICATE") {
                ", only certificates: did you swap `cert` and `key`?"
            } else if self.key.windows(9).any(|w| w == b"ENCRYPTED") {
                ": it is encrypted; decrypt it with `openssl pkey -in FILE -out FILE.key`"
            } else {
                ": expected a -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY) block"
            };
            CertError::NoKey {
                path: self.key_path.clone(),
                hint,
            }
        })
    }
}

/// Every PEM block of `bytes`.
fn sections(
    bytes: &[u8],
    field: Field,
    path: &Path,
) -> Result<Vec<(SectionKind, Vec<u8>)>, CertError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, pem::Error>>()
        .map_err(|e| CertError::Pem {
            field,
            path: path.to_owned(),
            detail: e.to_string(),
        })
}

fn is_key(kind: SectionKind) -> bool {
    matches!(
        kind,
        SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
    )
}

/// The leaf's notBefore and notAfter.
fn validity(leaf: &CertificateDer<'_>) -> Result<(SystemTime, SystemTime), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| e.to_string())?;
    let at = |t: x509_parser::time::ASN1Time| {
        let secs = t.timestamp();
        match u64::try_from(secs) {
            Ok(s) => UNIX_EPOCH + Duration::from_secs(s),
            Err(_) => UNIX_EPOCH,
        }
    };
    let v = cert.validity();
    Ok((at(v.not_before), at(v.not_after)))
}

/// The leaf's SAN DNS names, lowercase; an error when it is not a certificate.
fn leaf_names(leaf: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let cert = webpki::EndEntityCert::try_from(leaf).map_err(|e| format!("{e:?}"))?;
    let mut names: Vec<String> = cert
        .valid_dns_names()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests;
