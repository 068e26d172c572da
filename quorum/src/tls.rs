//! TLS for the links this node opens to its peers (Raft RPCs and forwarded requests).
//!
//! A controller presents its own certificate (the one its listener serves) as the client
//! certificate, and verifies peers against the cluster CA bundle. The material can be swapped
//! at run time ([`crate::Node::set_peer_tls`]) when the files are rotated; cached channels are
//! dropped so the next RPC dials with the new certificate.

use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// PEM material for outgoing peer connections.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerTls {
    /// CA bundle that signs every controller's certificate.
    pub ca_pem: Vec<u8>,
    /// This node's certificate chain.
    pub cert_pem: Vec<u8>,
    /// This node's private key.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for PeerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTls")
            .field("ca_pem", &format_args!("{} bytes", self.ca_pem.len()))
            .field("cert_pem", &format_args!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl PeerTls {
    /// tonic's client TLS settings: verify the peer against the CA, present our identity.
    /// The server name checked is the host of the address dialled (DNS name or IP).
    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca_pem))
            .identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }
}
