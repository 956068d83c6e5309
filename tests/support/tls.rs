//! Test PKI made at run time: a CA and a leaf for `localhost`/127.0.0.1, as rustls configs.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

use super::TempDir;

/// A CA, a leaf certificate for localhost signed by it, and the CA's PEM on disk.
pub struct TestPki {
    pub ca_pem: String,
    pub ca_file: PathBuf,
    ca_der: CertificateDer<'static>,
    leaf_der: CertificateDer<'static>,
    leaf_key_der: Vec<u8>,
    /// The leaf's chain (leaf, CA) and key as PEM files, for a TLS listener of sluice's.
    pub leaf_chain_file: PathBuf,
    pub leaf_key_file: PathBuf,
    /// A client certificate signed by the CA (for mutual TLS).
    client_der: CertificateDer<'static>,
    client_key_der: Vec<u8>,
    _dir: TempDir,
}

impl TestPki {
    pub fn new() -> TestPki {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "sluice test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "sluice test client");
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        let dir = TempDir::new("pki");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let leaf_chain_file = dir.join("leaf-chain.pem");
        std::fs::write(&leaf_chain_file, leaf_cert.pem() + &ca_cert.pem()).unwrap();
        let leaf_key_file = dir.join("leaf-key.pem");
        std::fs::write(&leaf_key_file, leaf_key.serialize_pem()).unwrap();
        TestPki {
            leaf_chain_file,
            leaf_key_file,
            client_der: client_cert.der().clone(),
            client_key_der: client_key.serialize_der(),
            ca_pem: ca_cert.pem(),
            ca_file,
            ca_der: ca_cert.der().clone(),
            leaf_der: leaf_cert.der().clone(),
            leaf_key_der: leaf_key.serialize_der(),
            _dir: dir,
        }
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.leaf_der.clone(), self.ca_der.clone()], key)
            .unwrap();
        Arc::new(config)
    }

    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    }

    /// A client config that trusts the CA and presents the CA-signed client certificate.
    pub fn client_config_with_cert(&self) -> Arc<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.client_key_der.clone()));
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![self.client_der.clone()], key)
            .unwrap();
        Arc::new(config)
    }

    /// The served leaf certificate (DER), to compare with what a server presented.
    pub fn leaf_der(&self) -> &CertificateDer<'static> {
        &self.leaf_der
    }

    pub fn server_name() -> ServerName<'static> {
        ServerName::try_from("localhost").unwrap()
    }
}
