//! `myriad serve --tls`: the certificate a server (and every worker of a
//! multi-process server) uses, chosen once at start.
//!
//! With `--tls-cert FILE --tls-key FILE` it is the user's. With `--tls` alone
//! it is a self-signed certificate generated here for `localhost`,
//! `127.0.0.1` and `::1`, written as PEM to `--tls-cert-out` (or a file in the
//! system temp dir named after the port) for clients to trust with
//! `--cacert`. A supervisor generates it once and hands its workers the
//! certificate and a private copy of the key through hidden arguments, so all
//! of them present the same certificate.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use myriad_server::tls::{PemFile, TlsError};
use myriad_server::{Tls, TlsIdentity};

use super::ServeArgs;
use crate::args::{EXIT_FAILURE, EXIT_USAGE};

/// The TLS side of a server: its acceptor and the certificate file to name.
pub struct TlsSetup {
    pub identity: TlsIdentity,
    pub tls: Tls,
    /// The PEM certificate (chain) file clients can trust.
    pub cert_path: PathBuf,
}

/// The default file of a self-signed certificate: `myriad-serve-NAME.pem` in
/// the system temp dir, NAME being the port (or the process id for a Unix socket).
pub fn default_cert_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("myriad-serve-{name}.pem"))
}

/// The TLS setup `args` ask for, if any; `name` names the default certificate
/// file. Err is the exit code, after one line on stderr.
pub fn setup(args: &ServeArgs, name: &str) -> Result<Option<TlsSetup>, i32> {
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let identity = TlsIdentity::from_pem_files(cert, key).map_err(usage)?;
        let tls = identity.acceptor().map_err(usage)?;
        return Ok(Some(TlsSetup {
            identity,
            tls,
            cert_path: cert.clone(),
        }));
    }
    if !args.tls {
        return Ok(None);
    }
    let identity = TlsIdentity::self_signed().map_err(failure)?;
    let tls = identity.acceptor().map_err(failure)?;
    let (cert_path, flag) = match &args.tls_cert_out {
        Some(path) => (path.clone(), " (--tls-cert-out)"),
        None => (default_cert_path(name), ""),
    };
    if let Err(e) = std::fs::write(&cert_path, identity.cert_pem()) {
        eprintln!(
            "error: cannot write the certificate to {}{flag}: {e}",
            cert_path.display()
        );
        return Err(if flag.is_empty() {
            EXIT_FAILURE
        } else {
            EXIT_USAGE
        });
    }
    Ok(Some(TlsSetup {
        identity,
        tls,
        cert_path,
    }))
}

/// A worker's TLS: the supervisor's certificate and key files (hidden
/// arguments), else the user's `--tls-cert`/`--tls-key`, else none.
pub fn child(args: &ServeArgs) -> Result<Option<Tls>, String> {
    let files = match (&args.child_cert, &args.child_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        _ => args.tls_cert.as_ref().zip(args.tls_key.as_ref()),
    };
    let Some((cert, key)) = files else {
        return Ok(None);
    };
    TlsIdentity::from_pem_files(cert, key)
        .and_then(|id| id.acceptor())
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Writes `identity`'s key where only this user can read it, for the workers
/// to load at start; the caller removes it once they have.
pub fn write_private_key(identity: &TlsIdentity, name: &str) -> std::io::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("myriad-serve-{name}-{}.key", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(identity.key_pem().as_bytes())?;
    Ok(path)
}

/// The flag a TLS error is about.
fn flag(e: &TlsError) -> &'static str {
    match e {
        TlsError::Read { which, .. } | TlsError::NotPem { which, .. } => match which {
            PemFile::Certificate => "--tls-cert",
            PemFile::Key => "--tls-key",
        },
        TlsError::NoPem(PemFile::Certificate) => "--tls-cert",
        _ => "--tls-key",
    }
}

fn usage(e: TlsError) -> i32 {
    eprintln!("error: {}: {e}", flag(&e));
    EXIT_USAGE
}

fn failure(e: TlsError) -> i32 {
    eprintln!("error: {e}");
    EXIT_FAILURE
}

/// Removes a file if it is there; used for the workers' key copy.
pub fn remove_quietly(path: &Path) {
    let _ = std::fs::remove_file(path);
}
