//! [`Security`]: how a client proves who it is to TLS-enabled controllers — the CA bundle it
//! trusts, an optional client certificate (mTLS) and an optional bearer token.
//!
//! With TLS, endpoints are dialled as `https://`; the server name checked is the endpoint's
//! host (DNS name or IP address), which must be in the controller certificate's SANs.

use std::path::Path;

use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::ClientError;

/// TLS material of a client.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM CA bundle the controllers' certificates chain to.
    pub ca_pem: Vec<u8>,
    /// PEM certificate chain and private key presented to the controllers (mTLS).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field(
                "identity",
                &self.identity.as_ref().map(|_| "<certificate + key>"),
            )
            .finish()
    }
}

/// TLS and credentials; the default is plaintext without credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Security {
    /// TLS; `None`: plaintext (`http://`).
    pub tls: Option<ClientTls>,
    /// Bearer token sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::InvalidArgument {
        field: path.display().to_string(),
        rule: format!("cannot be read: {e}"),
    })
}

impl Security {
    /// Reads the files. A certificate needs its key and both need a CA; a token file holds the
    /// token on its first non-blank line.
    pub fn from_files(
        ca: Option<&Path>,
        cert: Option<&Path>,
        key: Option<&Path>,
        token_file: Option<&Path>,
    ) -> Result<Security, ClientError> {
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
            (None, None) => None,
            (c, _) => {
                return Err(ClientError::InvalidArgument {
                    field: if c.is_some() {
                        "--tls-key-file"
                    } else {
                        "--tls-cert-file"
                    }
                    .into(),
                    rule: "--tls-cert-file and --tls-key-file go together".into(),
                });
            }
        };
        let tls = match (ca, identity) {
            (Some(ca), identity) => Some(ClientTls {
                ca_pem: read(ca)?,
                identity,
            }),
            (None, Some(_)) => {
                return Err(ClientError::InvalidArgument {
                    field: "--tls-ca-file".into(),
                    rule: "a client certificate needs the CA bundle that verifies the controllers"
                        .into(),
                });
            }
            (None, None) => None,
        };
        let token = match token_file {
            Some(path) => {
                let text =
                    String::from_utf8(read(path)?).map_err(|_| ClientError::InvalidArgument {
                        field: path.display().to_string(),
                        rule: "a token file must be UTF-8 text".into(),
                    })?;
                let token = text
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .ok_or_else(|| ClientError::InvalidArgument {
                        field: path.display().to_string(),
                        rule: "the token file is empty".into(),
                    })?;
                Some(token.to_owned())
            }
            None => None,
        };
        if token.is_some() && tls.is_none() {
            return Err(ClientError::InvalidArgument {
                field: "--token-file".into(),
                rule: "a bearer token is only sent over TLS: give --tls-ca-file too".into(),
            });
        }
        Ok(Security { tls, token })
    }

    /// The tonic endpoint for `uri` (`http://host:port`), switched to `https://` with TLS.
    pub fn endpoint(&self, uri: &str) -> Result<Endpoint, tonic::transport::Error> {
        let Some(tls) = &self.tls else {
            return Endpoint::from_shared(uri.to_owned());
        };
        let uri = match uri.strip_prefix("http://") {
            Some(rest) => format!("https://{rest}"),
            None => uri.to_owned(),
        };
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
        if let Some((cert, key)) = &tls.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        Endpoint::from_shared(uri)?.tls_config(config)
    }

    /// Adds the bearer token, if any, to `req`.
    pub fn authorize<T>(&self, req: &mut Request<T>) {
        if let Some(token) = &self.token
            && let Ok(v) = MetadataValue::try_from(format!("Bearer {token}"))
        {
            req.metadata_mut().insert("authorization", v);
        }
    }
}
