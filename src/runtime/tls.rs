//! TLS on the listeners: builds each listener's rustls `ServerConfig` from its PEM sources
//! (ALPN `http/1.1`, TLS 1.2 and 1.3, optional client certificates), off the shards at start
//! and on reload, and runs the handshake of an accepted connection on its shard within
//! [`TLS_HANDSHAKE_TIMEOUT`]. A shard holds its acceptors in an `Rc<RefCell>` swapped on reload,
//! so open connections keep the configuration they started with.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use futures_rustls::rustls::RootCertStore;
use futures_rustls::rustls::crypto::ring::default_provider;
use futures_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use futures_rustls::rustls::server::WebPkiClientVerifier;

use super::io::net::TcpStream;
use super::io::time::sleep;
use super::io::tls::{ClientStream, ServerConfig, TlsAcceptor};
use crate::config::{ListenerTls, ListenersTls, TlsKeySource};

/// Longest time a client gets to complete the TLS handshake (a client that opens TLS and
/// stalls is cut off); a shorter `server.header_read_timeout` bounds it too. The head's own
/// deadline starts after it.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The built TLS configurations of the two listeners (`None`: plain HTTP).
#[derive(Clone, Default)]
pub struct ListenerCerts {
    pub data: Option<Arc<ServerConfig>>,
    pub admin: Option<Arc<ServerConfig>>,
}

impl ListenerCerts {
    /// Reads and checks every certificate and key (blocking file reads: call off the shards).
    pub fn load(tls: &ListenersTls) -> Result<ListenerCerts, String> {
        Ok(ListenerCerts {
            data: tls.data.as_ref().map(server_config).transpose()?,
            admin: tls.admin.as_ref().map(server_config).transpose()?,
        })
    }
}

/// A shard's current acceptor for one listener; a reload replaces it for new connections.
#[derive(Clone, Default)]
pub struct ShardAcceptor(std::rc::Rc<RefCell<Option<TlsAcceptor>>>);

impl ShardAcceptor {
    pub fn new(config: Option<Arc<ServerConfig>>) -> ShardAcceptor {
        ShardAcceptor(std::rc::Rc::new(RefCell::new(
            config.map(TlsAcceptor::from),
        )))
    }

    /// Swaps in a reloaded configuration. A listener started without TLS stays plain (turning
    /// TLS on or off needs a restart).
    pub fn replace(&self, config: Option<Arc<ServerConfig>>) {
        let mut current = self.0.borrow_mut();
        if let (Some(_), Some(config)) = (current.as_ref(), config) {
            *current = Some(TlsAcceptor::from(config));
        }
    }

    /// Turns an accepted connection into a client stream: as it is, or after a TLS handshake
    /// that completes within [`TLS_HANDSHAKE_TIMEOUT`] and `head_timeout`. `None` when the handshake failed (plain
    /// HTTP sent to a TLS port, a refused client certificate) or stalled: the connection is
    /// then closed without an answer.
    pub async fn accept(&self, stream: TcpStream, head_timeout: Duration) -> Option<ClientStream> {
        let acceptor = self.0.borrow().clone();
        let Some(acceptor) = acceptor else {
            return Some(ClientStream::Plain(stream));
        };
        let handshake =
            futures_lite::future::or(async { acceptor.accept(stream).await.ok() }, async {
                sleep(TLS_HANDSHAKE_TIMEOUT.min(head_timeout)).await;
                None
            });
        handshake.await.map(|tls| ClientStream::Tls(Box::new(tls)))
    }
}

fn server_config(tls: &ListenerTls) -> Result<Arc<ServerConfig>, String> {
    let label = tls.label;
    let cert_pem = std::fs::read(&tls.cert)
        .map_err(|e| format!("{label}_cert: cannot read {}: {e}", tls.cert.display()))?;
    let chain: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{label}_cert: bad PEM in {}: {e}", tls.cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{label}_cert: {} holds no certificate",
            tls.cert.display()
        ));
    }
    let key_pem = match &tls.key {
        TlsKeySource::File(path) => std::fs::read(path)
            .map_err(|e| format!("{label}_key: cannot read {}: {e}", path.display()))?,
        TlsKeySource::Pem(secret) => secret.expose().as_bytes().to_vec(),
    };
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| format!("{label}_key: bad PEM: {e}"))?
        .ok_or_else(|| format!("{label}_key: holds no private key"))?;
    let provider = Arc::new(default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{label}: TLS set-up failed: {e}"))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| format!("{label}_client_ca: cannot read {}: {e}", path.display()))?;
            let mut roots = RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| {
                    format!("{label}_client_ca: bad PEM in {}: {e}", path.display())
                })?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{label}_client_ca: unusable CA certificate: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!(
                    "{label}_client_ca: {} holds no certificate",
                    path.display()
                ));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("{label}_client_ca: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!("{label}_cert/{label}_key: the key does not fit the certificate: {e}")
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
