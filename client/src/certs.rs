//! Certificates for a TLS-enabled cluster, made with `rcgen`: one CA, then a certificate per
//! controller, broker and operator. `kraftctl certs create` writes them; tests use the same code.
//!
//! Roles come from the certificate's common name (see the README's Security section):
//! `controller-<id>`, `broker-<id>`, and names the controllers list in `admin_principals` /
//! `reader_principals`. Every leaf certificate carries both serverAuth and clientAuth, so a
//! controller serves and dials peers with the same one.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::ClientError;

fn gen_err(what: &str, e: rcgen::Error) -> ClientError {
    ClientError::InvalidArgument {
        field: what.to_owned(),
        rule: format!("certificate generation failed: {e}"),
    }
}

/// A certificate and its private key, PEM-encoded.
#[derive(Clone)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// The private key.
    pub key: String,
}

/// A certificate authority that issues kraftd certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: Pem,
    days: i64,
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(days);
}

impl Ca {
    /// A new self-signed CA called `name`, issuing certificates valid for `days`.
    pub fn new(name: &str, days: i64) -> Result<Ca, ClientError> {
        let key = KeyPair::generate().map_err(|e| gen_err("ca", e))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| gen_err("ca", e))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        validity(&mut params, days);
        let cert = params.self_signed(&key).map_err(|e| gen_err("ca", e))?;
        let pem = Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        };
        Ok(Ca {
            issuer: Issuer::new(params, key),
            pem,
            days,
        })
    }

    /// The CA's own certificate and key.
    pub fn pem(&self) -> &Pem {
        &self.pem
    }

    /// A leaf certificate with common name `name` (the principal) and subject alternative
    /// names `sans` (DNS names or IP addresses the holder is reached at).
    pub fn issue(&self, name: &str, sans: &[String]) -> Result<Pem, ClientError> {
        let key = KeyPair::generate().map_err(|e| gen_err(name, e))?;
        let mut params = CertificateParams::new(sans.to_vec()).map_err(|e| gen_err(name, e))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, self.days);
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| gen_err(name, e))?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}

/// Writes `pem` as `<dir>/<name>.crt` and `<dir>/<name>.key` (the key readable by its owner
/// only); returns both paths.
pub fn write(dir: &Path, name: &str, pem: &Pem) -> Result<(PathBuf, PathBuf), ClientError> {
    let io = |path: &Path, e: std::io::Error| ClientError::InvalidArgument {
        field: path.display().to_string(),
        rule: format!("cannot be written: {e}"),
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, &pem.cert).map_err(|e| io(&cert, e))?;
    write_private(&key, pem.key.as_bytes()).map_err(|e| io(&key, e))?;
    Ok((cert, key))
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
