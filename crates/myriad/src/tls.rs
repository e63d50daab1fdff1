//! TLS for `https://` targets: the client configuration, made once per worker
//! process from [`TlsOptions`].
//!
//! Certificates are verified by default, against the system's roots
//! (rustls-native-certs: the machine's trust store, so a service behind an
//! internal CA that the machine already trusts needs no flag) plus every
//! `--cacert` PEM file. `-k/--insecure` skips verification of the chain and
//! the name, never the handshake's own signatures. ALPN offers `http/1.1`;
//! sessions are resumed on reconnect (rustls's in-memory session cache).
//! Handshake failures become error kinds of their own in the engine
//! (`certificate`, `tls`, and `alpn` when the server refuses or ignores the
//! `h2` offer of `--http2`), each with a note that says what to change.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use serde::{Deserialize, Serialize};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::ConfigError;

/// How `https://` targets are verified and what the client presents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsOptions {
    /// PEM files of extra trusted certificates (`--cacert`, repeatable).
    pub cacerts: Vec<PathBuf>,
    /// Skip verification of the server's certificate (`-k/--insecure`).
    pub insecure: bool,
    /// A PEM client certificate chain (`--cert`), with its key (`--key`).
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert` (`--key`).
    pub client_key: Option<PathBuf>,
    /// Offer HTTP/2 in ALPN (`--http2`) instead of HTTP/1.1.
    #[serde(default)]
    pub alpn_h2: bool,
}

fn error(message: String) -> ConfigError {
    ConfigError::Tls(message)
}

fn read_certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let bytes = std::fs::read(path)
        .map_err(|e| error(format!("{flag} '{}': {e}: give a PEM file", path.display())))?;
    certs_from_pem(flag, &path.display().to_string(), &bytes)
}

/// The certificates of the PEM text `bytes` (of the file `file`, given to
/// `flag`): at least one, or an error naming both.
pub(crate) fn certs_from_pem(
    flag: &str,
    file: &str,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            error(format!(
                "{flag} '{file}' is not PEM ({e}): give certificates in PEM form"
            ))
        })?;
    if certs.is_empty() {
        return Err(error(format!(
            "{flag} '{file}' holds no PEM certificate (-----BEGIN CERTIFICATE-----): give certificates in PEM form"
        )));
    }
    Ok(certs)
}

/// The private key of the PEM text `bytes` (of the file `file`, `--key`).
pub(crate) fn key_from_pem(
    file: &str,
    bytes: &[u8],
) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| {
        error(format!(
            "--key '{file}': {e}: give the certificate's private key in PEM form"
        ))
    })
}

/// The rustls client configuration for `options`; every file is read and
/// checked here, with one line naming the flag at fault.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, ConfigError> {
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(format!("TLS: {e}")))?;
    let builder = if options.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        for cert in rustls_native_certs::load_native_certs().certs {
            // A system root rustls cannot parse is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        for path in &options.cacerts {
            for cert in read_certs("--cacert", path)? {
                roots.add(cert).map_err(|e| {
                    error(format!(
                        "--cacert '{}': {e}: give a CA certificate",
                        path.display()
                    ))
                })?;
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (&options.client_cert, &options.client_key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = read_certs("--cert", cert)?;
            let bytes = std::fs::read(key).map_err(|e| {
                error(format!(
                    "--key '{}': {e}: give the certificate's private key in PEM form",
                    key.display()
                ))
            })?;
            let key = key_from_pem(&key.display().to_string(), &bytes)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                error(format!(
                    "--cert/--key: {e}: give a matching certificate and key"
                ))
            })?
        }
        (None, Some(_)) => return Err(error("--key needs --cert: give both, or neither".into())),
        (Some(_), None) => return Err(error("--cert needs --key: give both, or neither".into())),
    };
    config.alpn_protocols = if options.alpn_h2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// The name a target's certificate must carry (and SNI sends): its URL's host.
pub fn server_name(host: &str) -> Result<ServerName<'static>, ConfigError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string())
        .map_err(|e| error(format!("'{host}' is not a valid TLS server name: {e}")))
}

/// `-k/--insecure`: accepts any chain and name, still checks that the server
/// holds the key it presents (the handshake signature).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
