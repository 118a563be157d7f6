//! TLS client settings for the network backends (Postgres and `rediss://`):
//! rustls on ring, trusting either the CA file the URL names
//! (`sslrootcert=`) or the Mozilla roots (`webpki-roots`).
//!
//! Three levels, named as libpq names them: encrypt only (`require`
//! without a CA file), check the chain (`verify-ca`), check the chain and the
//! host name (`verify-full`). Which one applies is decided by the URL
//! parsers of each backend; this module only builds what they ask for.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::error::StoreError;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Encrypted, certificate not checked: protects against a passive
    /// listener only. libpq's `require` without a CA file.
    Nothing,
    /// The chain must lead to a trusted root; any name is accepted.
    Chain,
    /// The chain and the host name the client connected to.
    Full,
}

/// ring, chosen explicitly rather than through the process-wide default, so
/// another library's choice of provider cannot change (or break) ours.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// For libraries that build their rustls config with the process default
/// (the Redis client): make that default ring, unless the application has
/// already chosen one.
pub(crate) fn install_default_provider() {
    // An error only means a default is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads the PEM certificates of a CA file; a file with none is an error, not
/// an empty trust store that would refuse every server with a vaguer message.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            StoreError::InvalidOption(format!("cannot read the CA file {}: {e}", path.display()))
        })?;
    if certs.is_empty() {
        return Err(StoreError::InvalidOption(format!(
            "the CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in read_ca_file(path)? {
                roots.add(cert).map_err(|e| {
                    StoreError::InvalidOption(format!(
                        "the CA file {} holds a certificate rustls cannot use: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    Ok(roots)
}

/// A client configuration checking the server as `verify` says, against the
/// CA file if one is given, else the Mozilla roots.
pub(crate) fn client_config(
    verify: Verify,
    ca_file: Option<&Path>,
) -> Result<ClientConfig, StoreError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::InvalidOption(format!("TLS: {e}")))?;
    let config = match verify {
        Verify::Full => builder
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth(),
        Verify::Chain | Verify::Nothing => {
            let chain = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(ca_file)?),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| StoreError::InvalidOption(format!("TLS: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Relaxed {
                    chain,
                    provider,
                    check_chain: verify == Verify::Chain,
                }))
                .with_no_client_auth()
        }
    };
    Ok(config)
}

/// `verify-ca` (chain checked, name not) and `require` (nothing checked).
/// The handshake signatures are checked in both, so the session is at least
/// bound to the certificate the server presented.
#[derive(Debug)]
struct Relaxed {
    chain: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    check_chain: bool,
}

impl ServerCertVerifier for Relaxed {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.check_chain {
            return Ok(ServerCertVerified::assertion());
        }
        // The webpki verifier checks the chain first and the name last, so a
        // name error means the chain was good.
        match self.chain.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
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
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
