//! TLS for native clients (`keemu-migrate`), following libpq's `sslmode` semantics.
//!
//! | sslmode | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` | if the server offers it | no |
//! | `require` | always | no; chain only when a root certificate is given (libpq does the same) |
//! | `verify-ca` | always | chain to a trusted CA |
//! | `verify-full` | always | chain to a trusted CA, and the certificate names the host |
//!
//! Trusted CAs are the system's (`rustls-native-certs`: `SSL_CERT_FILE`/`SSL_CERT_DIR` or
//! the distribution's bundle) plus an optional PEM file. Unlike libpq, which trusts only
//! `~/.postgresql/root.crt` or `sslrootcert`, the system's roots are always trusted: hosted
//! PostgreSQL with a publicly signed certificate needs no file. Even when the certificate is
//! not checked, the server must still prove it holds the certificate's key.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::address::SslMode;

/// What a connection checks, from `sslmode` and whether a CA file is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicy {
    /// The requested mode.
    pub mode: SslMode,
    /// A PEM file of CAs trusted besides the system's.
    pub ca_file: Option<PathBuf>,
}

/// How much of the server's certificate is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Not at all (the handshake signature is still checked).
    None,
    /// The chain must lead to a trusted CA; any host name.
    Chain,
    /// Trusted chain, and the certificate must name the host connected to.
    ChainAndHost,
}

impl TlsPolicy {
    /// The checks libpq would make for this mode and CA file.
    pub fn verification(&self) -> Verification {
        match self.mode {
            SslMode::Disable | SslMode::Prefer => Verification::None,
            SslMode::Require if self.ca_file.is_none() => Verification::None,
            SslMode::Require | SslMode::VerifyCa => Verification::Chain,
            SslMode::VerifyFull => Verification::ChainAndHost,
        }
    }

    /// A tokio-postgres TLS connector that makes exactly these checks.
    pub fn connector(&self) -> Result<MakeRustlsConnect, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match self.verification() {
            Verification::None => Arc::new(Unverified(provider.signature_verification_algorithms)),
            verification => {
                let roots = self.roots()?;
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| TlsError::Verifier(e.to_string()))?;
                if verification == Verification::Chain {
                    Arc::new(AnyHostName(webpki))
                } else {
                    webpki
                }
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Verifier(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    /// The system's CAs plus the CA file's.
    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = &self.ca_file {
            let certs = read_pem_certificates(path)?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsError::CaFile {
                    path: path.clone(),
                    reason: "no usable CA certificate in it".into(),
                });
            }
        }
        if roots.is_empty() {
            return Err(TlsError::NoTrustedCas);
        }
        Ok(roots)
    }
}

impl fmt::Display for TlsPolicy {
    /// e.g. `sslmode=verify-full, trusting the system's CAs and /etc/db-ca.pem`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sslmode={}", self.mode)?;
        match (self.verification(), &self.ca_file) {
            (_, _) if self.mode == SslMode::Disable => Ok(()),
            (Verification::None, _) => f.write_str(", certificate not verified"),
            (_, None) => f.write_str(", trusting the system's CAs"),
            (_, Some(path)) => write!(f, ", trusting the system's CAs and {}", path.display()),
        }
    }
}

fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// Why no TLS connector could be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file is missing, unreadable or holds no certificate.
    #[error("cannot use CA file {}: {reason}", .path.display())]
    CaFile { path: PathBuf, reason: String },
    /// Verification was asked for, but there is no CA to trust.
    #[error(
        "no trusted CA certificates: the system has none (install ca-certificates) \
         and no CA file was given (sslrootcert=)"
    )]
    NoTrustedCas,
    /// rustls refused the configuration.
    #[error("rustls refused the configuration: {0}")]
    Verifier(String),
}

/// Whether `error`, or anything in its chain of sources, is rustls rejecting the server's
/// certificate. (tokio-rustls wraps it in an `io::Error`, whose `source()` skips it.)
pub fn rejected_certificate<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CertificateError> {
    let mut current = Some(error);
    while let Some(e) = current {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(e), inner].into_iter().flatten() {
            if let Some(rustls::Error::InvalidCertificate(reason)) = candidate.downcast_ref() {
                return Some(reason);
            }
        }
        current = e.source();
    }
    None
}

/// `require`/`prefer` without a CA: any certificate, but the handshake must be signed by its key.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the full WebPKI check, except that a certificate for another host name is
/// accepted. rustls checks the name last, after the chain, so only the name is forgiven.
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(mode: SslMode, ca: bool) -> TlsPolicy {
        TlsPolicy {
            mode,
            ca_file: ca.then(|| PathBuf::from("/ca.pem")),
        }
    }

    #[test]
    fn verification_follows_libpq() {
        use Verification::*;
        for (mode, without_ca, with_ca) in [
            (SslMode::Disable, None, None),
            (SslMode::Prefer, None, None),
            (SslMode::Require, None, Chain),
            (SslMode::VerifyCa, Chain, Chain),
            (SslMode::VerifyFull, ChainAndHost, ChainAndHost),
        ] {
            assert_eq!(policy(mode, false).verification(), without_ca, "{mode}");
            assert_eq!(
                policy(mode, true).verification(),
                with_ca,
                "{mode} with a CA"
            );
        }
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named_in_the_error() {
        let missing = TlsPolicy {
            mode: SslMode::VerifyFull,
            ca_file: Some(PathBuf::from("/nonexistent/keemu-ca.pem")),
        };
        let error = missing.connector().err().expect("refused").to_string();
        assert!(error.contains("/nonexistent/keemu-ca.pem"), "{error}");

        let dir = std::env::temp_dir().join(format!("keemu-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let error = TlsPolicy {
            mode: SslMode::VerifyCa,
            ca_file: Some(empty.clone()),
        }
        .connector()
        .err()
        .expect("refused")
        .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("empty.pem"), "{error}");
    }

    #[test]
    fn describes_what_is_trusted() {
        assert_eq!(
            policy(SslMode::Disable, false).to_string(),
            "sslmode=disable"
        );
        assert_eq!(
            policy(SslMode::Require, false).to_string(),
            "sslmode=require, certificate not verified"
        );
        assert_eq!(
            policy(SslMode::VerifyFull, false).to_string(),
            "sslmode=verify-full, trusting the system's CAs"
        );
        assert_eq!(
            policy(SslMode::Require, true).to_string(),
            "sslmode=require, trusting the system's CAs and /ca.pem"
        );
    }

    #[test]
    fn error_texts() {
        let cases = [
            (
                TlsError::CaFile {
                    path: PathBuf::from("/ca.pem"),
                    reason: "no PEM certificate in it".to_owned(),
                },
                "cannot use CA file /ca.pem: no PEM certificate in it",
            ),
            (
                TlsError::NoTrustedCas,
                "no trusted CA certificates: the system has none (install ca-certificates) \
                 and no CA file was given (sslrootcert=)",
            ),
            (
                TlsError::Verifier("no roots".to_owned()),
                "rustls refused the configuration: no roots",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
            assert!(std::error::Error::source(&error).is_none());
        }
    }
}
