//! `[server]` TLS for the data and the admin listeners: where the certificate chain, the key
//! (a path, or `env:NAME` holding the PEM itself) and the client CA of mutual TLS come from.
//! Only the sources are validated here; the runtime reads and checks the PEM at start and on
//! every reload, so a bad certificate is a start-up error naming the key.

use std::path::PathBuf;

use super::ConfigError;
use super::schema::RawServer;
use super::secret::{ENV_SECRET_PREFIX, Secret};
use super::validate::{EnvLookup, secret_at};

/// Where a listener's private key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsKeySource {
    /// A PEM file.
    File(PathBuf),
    /// The PEM text itself, from `env:NAME`.
    Pem(Secret),
}

/// One listener's TLS sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerTls {
    /// The config key prefix (`server.tls` or `server.admin_tls`), for error messages.
    pub label: &'static str,
    /// The PEM certificate chain, leaf first.
    pub cert: PathBuf,
    pub key: TlsKeySource,
    /// With a client CA, the listener requires a client certificate signed by it (mTLS).
    pub client_ca: Option<PathBuf>,
}

/// The data listener's and the admin listener's TLS (each `None`: plain HTTP).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenersTls {
    pub data: Option<ListenerTls>,
    pub admin: Option<ListenerTls>,
}

/// Validates `tls_*` and `admin_tls_*`: a certificate needs a key and the other way round; a
/// client CA needs both.
pub fn validate_listeners_tls(
    raw: &RawServer,
    env: EnvLookup<'_>,
) -> Result<ListenersTls, ConfigError> {
    Ok(ListenersTls {
        data: one(
            ("tls", "server.tls"),
            &raw.tls_cert,
            &raw.tls_key,
            &raw.tls_client_ca,
            env,
        )?,
        admin: one(
            ("admin_tls", "server.admin_tls"),
            &raw.admin_tls_cert,
            &raw.admin_tls_key,
            &raw.admin_tls_client_ca,
            env,
        )?,
    })
}

fn one(
    (prefix, label): (&str, &'static str),
    cert: &Option<String>,
    key: &Option<String>,
    client_ca: &Option<String>,
    env: EnvLookup<'_>,
) -> Result<Option<ListenerTls>, ConfigError> {
    let path = |suffix: &str| format!("server.{prefix}_{suffix}");
    let non_empty = |suffix: &str, value: &str| {
        if value.is_empty() {
            Err(ConfigError::new(path(suffix), "must not be empty"))
        } else {
            Ok(PathBuf::from(value))
        }
    };
    match (cert, key) {
        (None, None) => {
            if client_ca.is_some() {
                return Err(ConfigError::new(
                    path("client_ca"),
                    format!("needs {} and {}", path("cert"), path("key")),
                ));
            }
            Ok(None)
        }
        (Some(_), None) => Err(ConfigError::new(
            path("key"),
            format!("{} is set, so the key is needed too", path("cert")),
        )),
        (None, Some(_)) => Err(ConfigError::new(
            path("cert"),
            format!("{} is set, so the certificate is needed too", path("key")),
        )),
        (Some(cert), Some(key)) => {
            let key = if key.starts_with(ENV_SECRET_PREFIX) {
                TlsKeySource::Pem(secret_at(&path("key"), key, env)?)
            } else {
                TlsKeySource::File(non_empty("key", key)?)
            };
            Ok(Some(ListenerTls {
                label,
                cert: non_empty("cert", cert)?,
                key,
                client_ca: client_ca
                    .as_deref()
                    .map(|ca| non_empty("client_ca", ca))
                    .transpose()?,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawServer {
        let mut raw = RawServer::default();
        for (key, value) in pairs {
            let value = Some((*value).to_owned());
            match *key {
                "tls_cert" => raw.tls_cert = value,
                "tls_key" => raw.tls_key = value,
                "tls_client_ca" => raw.tls_client_ca = value,
                "admin_tls_cert" => raw.admin_tls_cert = value,
                "admin_tls_key" => raw.admin_tls_key = value,
                other => panic!("no key {other}"),
            }
        }
        raw
    }

    fn env(name: &str) -> Option<String> {
        (name == "KEY_PEM").then(|| "-----BEGIN PRIVATE KEY-----".to_owned())
    }

    #[test]
    fn no_keys_is_plain_http() {
        assert_eq!(
            validate_listeners_tls(&raw(&[]), &env).unwrap(),
            ListenersTls::default()
        );
    }

    #[test]
    fn a_cert_and_a_key_file_make_a_tls_listener() {
        let tls = validate_listeners_tls(
            &raw(&[
                ("tls_cert", "/c.pem"),
                ("tls_key", "/k.pem"),
                ("tls_client_ca", "/ca.pem"),
            ]),
            &env,
        )
        .unwrap();
        let data = tls.data.unwrap();
        assert_eq!(data.cert, PathBuf::from("/c.pem"));
        assert_eq!(data.key, TlsKeySource::File("/k.pem".into()));
        assert_eq!(data.client_ca, Some(PathBuf::from("/ca.pem")));
        assert!(tls.admin.is_none());
    }

    #[test]
    fn the_key_may_come_from_the_environment() {
        let tls = validate_listeners_tls(
            &raw(&[
                ("admin_tls_cert", "/c.pem"),
                ("admin_tls_key", "env:KEY_PEM"),
            ]),
            &env,
        )
        .unwrap();
        let admin = tls.admin.unwrap();
        assert!(matches!(admin.key, TlsKeySource::Pem(ref s) if s.expose().contains("PRIVATE")));
        let missing = validate_listeners_tls(
            &raw(&[("tls_cert", "/c.pem"), ("tls_key", "env:NOPE")]),
            &env,
        )
        .unwrap_err();
        assert!(missing.to_string().contains("server.tls_key"), "{missing}");
    }

    #[test]
    fn halves_alone_are_errors_naming_the_missing_key() {
        for (pairs, named) in [
            (&[("tls_cert", "/c.pem")][..], "server.tls_key"),
            (&[("tls_key", "/k.pem")][..], "server.tls_cert"),
            (&[("tls_client_ca", "/ca.pem")][..], "server.tls_client_ca"),
            (&[("admin_tls_key", "/k.pem")][..], "server.admin_tls_cert"),
            (
                &[("tls_cert", ""), ("tls_key", "/k")][..],
                "server.tls_cert",
            ),
        ] {
            let err = validate_listeners_tls(&raw(pairs), &env).unwrap_err();
            assert!(err.to_string().contains(named), "{pairs:?}: {err}");
        }
    }
}
