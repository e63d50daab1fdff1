//! HTTPS: the server's certificate ([`TlsIdentity`]), the acceptor built from
//! it once at start ([`Tls`]), and the handshake step of a connection.
//!
//! rustls with the `ring` provider (it builds quickly and needs no C
//! toolchain beyond a compiler). ALPN offers `h2` and `http/1.1`: the
//! protocol it agrees on chooses the session, and a client that names none
//! gets HTTP/1.1. The handshake runs under the header timeout: a
//! client that connects and never sends a ClientHello is closed like one that
//! never finishes its request head.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::time::{timeout_at, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::conn::{self, Shared};
use crate::http2;
use crate::stats::OpenGuard;
use crate::transport::Stream;

/// The names a self-signed certificate is valid for: what a client on this
/// machine dials.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Which file of a certificate and key pair a [`TlsError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemFile {
    /// The certificate chain (`--tls-cert`).
    Certificate,
    /// The private key (`--tls-key`).
    Key,
}

impl fmt::Display for PemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemFile::Certificate => "certificate",
            PemFile::Key => "private key",
        })
    }
}

/// Why a TLS identity could not be loaded, generated or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read.
    #[error("cannot read the {which} file {}: {source}", path.display())]
    Read {
        /// Which file.
        which: PemFile,
        /// Its path.
        path: PathBuf,
        /// The read error.
        source: io::Error,
    },
    /// The file holds no PEM certificate (for a chain) or no PEM private key.
    #[error("the {which} file {} holds no PEM {which}", path.display())]
    NotPem {
        /// Which file.
        which: PemFile,
        /// Its path.
        path: PathBuf,
    },
    /// In-memory PEM text without a certificate or key.
    #[error("no PEM {0} in the given text")]
    NoPem(PemFile),
    /// The certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the pair (the key does not match the certificate, or is
    /// of an unsupported kind).
    #[error("unusable certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A certificate chain and its private key, kept as PEM text too (so a
/// supervisor can hand the same identity to its worker processes, and a
/// self-signed certificate can be written out for clients to trust).
#[derive(Clone)]
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    cert_pem: String,
    key_pem: String,
}

impl fmt::Debug for TlsIdentity {
    /// Never prints the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("certificates", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A fresh self-signed certificate (and ECDSA P-256 key) for
    /// [`SELF_SIGNED_NAMES`]: a client that trusts [`cert_pem`](Self::cert_pem)
    /// can dial `https://localhost`, `127.0.0.1` or `[::1]`.
    pub fn self_signed() -> Result<Self, TlsError> {
        let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| s.to_string()).collect();
        let generated = rcgen::generate_simple_self_signed(names)?;
        Self::from_pem(&generated.cert.pem(), &generated.key_pair.serialize_pem())
    }

    /// An identity from PEM text: a certificate chain (leaf first) and a
    /// private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let chain =
            parse_chain(cert_pem.as_bytes()).ok_or(TlsError::NoPem(PemFile::Certificate))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|_| TlsError::NoPem(PemFile::Key))?;
        Ok(TlsIdentity {
            chain,
            key: Arc::new(key),
            cert_pem: cert_pem.to_string(),
            key_pem: key_pem.to_string(),
        })
    }

    /// An identity from a PEM certificate chain file and a PEM key file;
    /// errors name the file at fault.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let read = |which, path: &Path| {
            std::fs::read_to_string(path).map_err(|source| TlsError::Read {
                which,
                path: path.to_path_buf(),
                source,
            })
        };
        let not_pem = |which, path: &Path| TlsError::NotPem {
            which,
            path: path.to_path_buf(),
        };
        let cert_pem = read(PemFile::Certificate, cert)?;
        let key_pem = read(PemFile::Key, key)?;
        match Self::from_pem(&cert_pem, &key_pem) {
            Err(TlsError::NoPem(PemFile::Certificate)) => Err(not_pem(PemFile::Certificate, cert)),
            Err(TlsError::NoPem(PemFile::Key)) => Err(not_pem(PemFile::Key, key)),
            other => other,
        }
    }

    /// The certificate chain as PEM: what a client passes to `--cacert` for a
    /// self-signed identity.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key as PEM. Secret: write it only where only its owner reads.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The server-side TLS setup for this identity: rustls with `ring`,
    /// TLS 1.2 and 1.3, ALPN `h2` and `http/1.1` (in the server's order of
    /// preference). Fails if the key does not match the certificate.
    pub fn acceptor(&self) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

fn parse_chain(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    (!chain.is_empty()).then_some(chain)
}

/// A server's TLS setup, built once from a [`TlsIdentity`] and shared (cheaply
/// cloned) by every connection.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// A TLS setup from a rustls server config of the caller's own (other
    /// protocols, client authentication, a different provider).
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Self {
        Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
        }
    }
}

/// One TLS connection: the handshake (under the header timeout, counted as a
/// handshake or a handshake failure), then HTTP/2 if ALPN chose `h2`, or
/// else the same HTTP/1.1 task as plain connections.
pub(crate) async fn handshake_then_serve<S: Stream>(
    tls: Tls,
    stream: S,
    shared: Arc<Shared>,
    open: OpenGuard,
) -> io::Result<()> {
    let deadline = Instant::now() + shared.header_timeout;
    match timeout_at(deadline, tls.acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            shared.stats.add_handshake();
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                Box::pin(http2::serve(stream, shared, open)).await
            } else {
                conn::serve(stream, shared, open).await
            }
        }
        Ok(Err(_)) => {
            shared.stats.add_handshake_failure();
            Ok(())
        }
        Err(_elapsed) => {
            shared.stats.add_handshake_failure();
            shared.stats.add_header_timeout();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_round_trips_through_pem() {
        let id = TlsIdentity::self_signed().unwrap();
        assert!(id.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(id.key_pem().contains("PRIVATE KEY"));
        let again = TlsIdentity::from_pem(id.cert_pem(), id.key_pem()).unwrap();
        assert_eq!(again.chain(), id.chain());
        again.acceptor().unwrap();
        assert!(!format!("{id:?}").contains("PRIVATE"));
    }

    #[test]
    fn bad_pem_names_the_part() {
        let id = TlsIdentity::self_signed().unwrap();
        assert!(matches!(
            TlsIdentity::from_pem("junk", id.key_pem()),
            Err(TlsError::NoPem(PemFile::Certificate))
        ));
        assert!(matches!(
            TlsIdentity::from_pem(id.cert_pem(), id.cert_pem()),
            Err(TlsError::NoPem(PemFile::Key))
        ));
        // A key of another certificate.
        let other = TlsIdentity::self_signed().unwrap();
        let mixed = TlsIdentity::from_pem(id.cert_pem(), other.key_pem()).unwrap();
        assert!(matches!(mixed.acceptor(), Err(TlsError::Rustls(_))));
    }
}
