//! TLS to upstreams with rustls: the webpki root store, plus a provider's own CA file for
//! private endpoints; SNI from the provider's host name.

use std::sync::Arc;

use futures_rustls::TlsConnector;
use futures_rustls::pki_types::ServerName;
use futures_rustls::rustls::{ClientConfig, RootCertStore};

use crate::config::ProviderConfig;

/// A provider's TLS set-up: the connector and the name to present and verify.
#[derive(Clone)]
pub struct UpstreamTls {
    pub connector: TlsConnector,
    pub server_name: ServerName<'static>,
}

/// Builds the TLS set-up for an `https` provider (None for plain `http`).
pub fn for_provider(provider: &ProviderConfig) -> Result<Option<UpstreamTls>, String> {
    if !provider.base_url.tls {
        return Ok(None);
    }
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &provider.ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            format!(
                "providers.{}: cannot read ca_file {}: {e}",
                provider.name,
                path.display()
            )
        })?;
        let mut added = 0;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| {
                format!(
                    "providers.{}: bad PEM in {}: {e}",
                    provider.name,
                    path.display()
                )
            })?;
            roots.add(cert).map_err(|e| {
                format!("providers.{}: unusable CA certificate: {e}", provider.name)
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(format!(
                "providers.{}: ca_file {} holds no certificate",
                provider.name,
                path.display()
            ));
        }
    }
    let provider_crypto = Arc::new(futures_rustls::rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider_crypto)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let host = provider
        .base_url
        .host
        .trim_start_matches('[')
        .trim_end_matches(']');
    let server_name = ServerName::try_from(host.to_owned()).map_err(|e| {
        format!(
            "providers.{}: bad TLS server name {host}: {e}",
            provider.name
        )
    })?;
    Ok(Some(UpstreamTls {
        connector: TlsConnector::from(Arc::new(config)),
        server_name,
    }))
}
