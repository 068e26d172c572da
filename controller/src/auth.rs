//! Who is calling, and may they: principals, roles and the per-method rules.
//!
//! ```text
//!  request ─► AuthLayer ─► principal: client certificate CN (mTLS), else `authorization:
//!             │            Bearer <token>` looked up in auth_tokens_file, else none
//!             ├─ method open (health, reflection) ─────────────────────────► service
//!             ├─ no principal ─────────────────────────────► UNAUTHENTICATED (logged)
//!             ├─ principal lacks every role the method allows ─► PERMISSION_DENIED (logged)
//!             └─ allowed: Principal put in the request extensions ─► service
//!                          broker RPCs then check the body's broker id ([`check_broker_id`])
//! ```
//!
//! Roles come from the principal's name: `controller` or `controller-<id>` is a controller, `broker-<id>` is
//! broker `<id>`, names in `admin_principals` are admins, names in `reader_principals` are
//! readers. Controllers may call everything (a follower forwards requests it has already
//! authorised); brokers register, heartbeat, alter partitions and allocate producer ids as
//! themselves, and read; admins change topics, configs and the quorum, may act for any
//! broker, and read; readers
//! describe and stream metadata. With no authentication configured (plaintext, `kraftd dev`)
//! every caller is an anonymous principal with every role.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tracing::warn;

/// A role a principal holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Another controller: Raft traffic and forwarded requests.
    Controller,
    /// A broker, acting only as its own broker id.
    Broker,
    /// An operator: topics, configs, features, quorum changes.
    Admin,
    /// Read-only: describe and stream metadata.
    Reader,
}

impl Role {
    /// Lower-case name used in messages and docs.
    pub fn name(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Broker => "broker",
            Role::Admin => "admin",
            Role::Reader => "reader",
        }
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// No authentication is configured: everyone is anonymous with every role.
    None,
    /// A verified client certificate (its subject CN).
    Certificate,
    /// A bearer token from `auth_tokens_file`.
    Token,
}

/// The authenticated caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Certificate CN or the token's principal name; `ANONYMOUS` without authentication.
    pub name: String,
    /// Roles held.
    pub roles: BTreeSet<Role>,
    /// For a broker principal, the broker id it may act as.
    pub broker_id: Option<i32>,
    /// How it authenticated.
    pub method: AuthMethod,
}

impl Principal {
    /// The caller when authentication is off: every role.
    pub fn anonymous() -> Principal {
        Principal {
            name: "ANONYMOUS".into(),
            roles: [Role::Controller, Role::Broker, Role::Admin, Role::Reader].into(),
            broker_id: None,
            method: AuthMethod::None,
        }
    }

    fn roles_text(&self) -> String {
        if self.roles.is_empty() {
            return "none".into();
        }
        self.roles
            .iter()
            .map(|r| r.name())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A problem with the auth settings, naming the file or key.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// The tokens file cannot be read or has a bad line.
    #[error("{path}: {reason}")]
    TokensFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Which callers are authenticated and what roles names map to.
#[derive(Debug, Clone, Default)]
pub struct AuthPolicy {
    /// Client certificates are verified by the TLS layer and their CN is the principal.
    pub certificates: bool,
    /// Bearer token → principal name.
    pub tokens: HashMap<String, String>,
    /// Principal names with the admin role.
    pub admins: BTreeSet<String>,
    /// Principal names with the reader role.
    pub readers: BTreeSet<String>,
}

impl AuthPolicy {
    /// True when callers must authenticate (client certificates or tokens are configured).
    pub fn enabled(&self) -> bool {
        self.certificates || !self.tokens.is_empty()
    }

    /// Reads `auth_tokens_file`: one `principal token` pair per line; blank lines and lines
    /// starting with `#` are skipped. Tokens must be unique and at least 16 characters.
    pub fn read_tokens(path: &Path) -> Result<HashMap<String, String>, AuthConfigError> {
        let bad = |reason: String| AuthConfigError::TokensFile {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let mut tokens = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (Some(name), Some(token), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad(format!(
                    "line {}: expected `principal token`, got {} field(s)",
                    n + 1,
                    line.split_whitespace().count()
                )));
            };
            if token.len() < 16 {
                return Err(bad(format!(
                    "line {}: the token of {name} is shorter than 16 characters",
                    n + 1
                )));
            }
            if tokens.insert(token.to_string(), name.to_string()).is_some() {
                return Err(bad(format!("line {}: duplicate token", n + 1)));
            }
        }
        Ok(tokens)
    }

    /// The principal called `name` with the roles its name gives it.
    pub fn principal(&self, name: &str, method: AuthMethod) -> Principal {
        let mut roles = BTreeSet::new();
        let mut broker_id = None;
        if name == "controller" || numbered(name, "controller-").is_some() {
            roles.insert(Role::Controller);
        }
        if let Some(id) = numbered(name, "broker-") {
            roles.insert(Role::Broker);
            broker_id = Some(id);
        }
        if self.admins.contains(name) {
            roles.insert(Role::Admin);
        }
        if self.readers.contains(name) {
            roles.insert(Role::Reader);
        }
        Principal {
            name: name.to_string(),
            roles,
            broker_id,
            method,
        }
    }

    fn token_principal(&self, token: &str) -> Option<&str> {
        // Compare against every token in full so timing does not reveal a matching prefix.
        let mut found = None;
        for (t, name) in &self.tokens {
            if constant_time_eq(t.as_bytes(), token.as_bytes()) {
                found = Some(name.as_str());
            }
        }
        found
    }

    /// Authenticates the caller of `req`: its verified certificate, else its bearer token.
    pub fn authenticate<B>(&self, req: &http::Request<B>) -> Result<Option<Principal>, Status> {
        if !self.enabled() {
            return Ok(Some(Principal::anonymous()));
        }
        if self.certificates {
            let cert = req
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(|i| i.peer_certs())
                .and_then(|certs| certs.first().cloned());
            if let Some(cert) = cert {
                let cn = common_name(cert.as_ref()).ok_or_else(|| {
                    Status::unauthenticated("the client certificate has no subject common name")
                })?;
                return Ok(Some(self.principal(&cn, AuthMethod::Certificate)));
            }
        }
        if let Some(value) = req.headers().get(http::header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    Status::unauthenticated("authorization header must be `Bearer <token>`")
                })?;
            return match self.token_principal(token.trim()) {
                Some(name) => Ok(Some(self.principal(name, AuthMethod::Token))),
                None => Err(Status::unauthenticated("unknown bearer token")),
            };
        }
        Ok(None)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `prefix<n>` → `n` (a non-negative integer).
fn numbered(name: &str, prefix: &str) -> Option<i32> {
    name.strip_prefix(prefix)?
        .parse::<i32>()
        .ok()
        .filter(|n| *n >= 0)
}

/// The first subject CN of a DER certificate.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// The roles a method accepts; `None`: open to everyone, authenticated or not.
pub fn allowed_roles(path: &str) -> Option<&'static [Role]> {
    const READ: &[Role] = &[Role::Reader, Role::Broker, Role::Admin, Role::Controller];
    // Admins may act for any broker (operator tools, simulated brokers), as Kafka's
    // super users may.
    const BROKER: &[Role] = &[Role::Broker, Role::Admin, Role::Controller];
    const ADMIN: &[Role] = &[Role::Admin, Role::Controller];
    const CONTROLLER: &[Role] = &[Role::Controller];
    if path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.") {
        return None;
    }
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    Some(match (service, method) {
        ("kraft.v1.RaftService", _) => CONTROLLER,
        (
            "kraft.v1.BrokerService",
            "RegisterBroker" | "BrokerHeartbeat" | "AlterPartition" | "AllocateProducerIds",
        ) => BROKER,
        ("kraft.v1.BrokerService", "FetchMetadata") => READ,
        (
            "kraft.v1.AdminService",
            "ListTopics"
            | "DescribeTopics"
            | "DescribeCluster"
            | "DescribeConfigs"
            | "ListPartitionReassignments"
            | "DescribeFeatures"
            | "DescribeQuorum"
            | "DumpMetadata",
        ) => READ,
        // UnregisterBroker (an operator's call in Kafka), every admin write, anything unknown.
        _ => ADMIN,
    })
}

/// Decides one request: `Ok` with the principal to attach, or the refusal to send.
pub fn authorize<B>(policy: &AuthPolicy, req: &http::Request<B>) -> Result<Principal, Status> {
    let path = req.uri().path();
    let peer = req
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(|i| i.get_ref().remote_addr())
        .or_else(|| {
            req.extensions()
                .get::<TcpConnectInfo>()
                .and_then(|i| i.remote_addr())
        });
    let principal = match policy.authenticate(req) {
        Ok(p) => p,
        Err(status) => {
            warn!(method = path, peer = ?peer, reason = status.message(), "refused: not authenticated");
            return Err(status);
        }
    };
    let Some(allowed) = allowed_roles(path) else {
        return Ok(principal.unwrap_or_else(|| Principal {
            name: "ANONYMOUS".into(),
            roles: BTreeSet::new(),
            broker_id: None,
            method: AuthMethod::None,
        }));
    };
    let Some(principal) = principal else {
        warn!(method = path, peer = ?peer, "refused: no client certificate or bearer token");
        return Err(Status::unauthenticated(format!(
            "{path} requires authentication: present a client certificate signed by the \
             cluster CA or an `authorization: Bearer <token>` header"
        )));
    };
    if allowed.iter().any(|r| principal.roles.contains(r)) {
        return Ok(principal);
    }
    let need = allowed
        .iter()
        .filter(|r| **r != Role::Controller)
        .map(|r| r.name())
        .collect::<Vec<_>>()
        .join(" or ");
    warn!(method = path, peer = ?peer, principal = %principal.name, roles = %principal.roles_text(), "refused: missing role");
    Err(Status::permission_denied(format!(
        "principal {} (roles: {}) lacks role {need} required by {}",
        principal.name,
        principal.roles_text(),
        path.trim_start_matches('/')
    )))
}

/// Refuses a broker principal acting for another broker id. Controllers (forwarding),
/// admins and unauthenticated setups pass.
pub fn check_broker_id<T>(req: &tonic::Request<T>, broker_id: i32) -> Result<(), Status> {
    let Some(p) = req.extensions().get::<Principal>() else {
        return Ok(());
    };
    if p.roles.contains(&Role::Controller) || p.roles.contains(&Role::Admin) {
        return Ok(());
    }
    if p.broker_id == Some(broker_id) {
        return Ok(());
    }
    warn!(principal = %p.name, broker_id, "refused: broker acting as another broker id");
    Err(Status::permission_denied(format!(
        "broker_id: principal {} may only act as broker {}, not broker {broker_id}",
        p.name,
        p.broker_id
            .map(|b| b.to_string())
            .unwrap_or_else(|| "(none)".into())
    )))
}

/// Tower layer enforcing an [`AuthPolicy`] on every request of the gRPC server.
#[derive(Clone)]
pub struct AuthLayer {
    policy: Arc<AuthPolicy>,
}

impl AuthLayer {
    /// Enforces `policy`.
    pub fn new(policy: AuthPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around the server's routes.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    policy: Arc<AuthPolicy>,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        match authorize(&self.policy, &req) {
            Ok(principal) => {
                req.extensions_mut().insert(principal);
                Box::pin(self.inner.call(req))
            }
            Err(status) => Box::pin(async move { Ok(status.into_http()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AuthPolicy {
        AuthPolicy {
            certificates: false,
            tokens: [("t".repeat(20), "alice".to_string())].into(),
            admins: ["alice".to_string()].into(),
            readers: ["grafana".to_string()].into(),
        }
    }

    fn request(path: &str, token: Option<&str>) -> http::Request<()> {
        let mut b = http::Request::builder().uri(format!("http://x{path}"));
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        b.body(()).expect("request")
    }

    #[test]
    fn names_give_roles() {
        let p = policy();
        let b = p.principal("broker-7", AuthMethod::Certificate);
        assert_eq!(b.roles, [Role::Broker].into());
        assert_eq!(b.broker_id, Some(7));
        assert_eq!(
            p.principal("controller-2", AuthMethod::Certificate).roles,
            [Role::Controller].into()
        );
        assert_eq!(
            p.principal("grafana", AuthMethod::Token).roles,
            [Role::Reader].into()
        );
        assert!(p.principal("broker-x", AuthMethod::Token).roles.is_empty());
        assert!(p.principal("mallory", AuthMethod::Token).roles.is_empty());
    }

    #[test]
    fn unauthenticated_and_wrong_token_are_refused() {
        let p = policy();
        let s = authorize(&p, &request("/kraft.v1.AdminService/CreateTopics", None))
            .expect_err("no credentials");
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        let s = authorize(
            &p,
            &request("/kraft.v1.AdminService/CreateTopics", Some("nope")),
        )
        .expect_err("bad token");
        assert_eq!(s.code(), tonic::Code::Unauthenticated);
        assert_eq!(s.message(), "unknown bearer token");
    }

    #[test]
    fn roles_are_checked_per_method() {
        let p = policy();
        let token = "t".repeat(20);
        let ok = authorize(
            &p,
            &request("/kraft.v1.AdminService/CreateTopics", Some(&token)),
        )
        .expect("alice is admin");
        assert_eq!(ok.name, "alice");
        assert!(authorize(&p, &request("/grpc.health.v1.Health/Check", None)).is_ok());

        let mut reader = policy();
        reader.tokens = [("r".repeat(20), "grafana".to_string())].into();
        let r = "r".repeat(20);
        assert!(
            authorize(
                &reader,
                &request("/kraft.v1.AdminService/ListTopics", Some(&r))
            )
            .is_ok()
        );
        let s = authorize(
            &reader,
            &request("/kraft.v1.AdminService/DeleteTopics", Some(&r)),
        )
        .expect_err("reader cannot delete");
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
        assert!(s.message().contains("lacks role admin"), "{}", s.message());
        let s = authorize(&reader, &request("/kraft.v1.RaftService/Vote", Some(&r)))
            .expect_err("reader is no controller");
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn broker_may_only_act_as_itself() {
        let p = policy();
        let mut req = tonic::Request::new(());
        req.extensions_mut()
            .insert(p.principal("broker-3", AuthMethod::Certificate));
        assert!(check_broker_id(&req, 3).is_ok());
        let s = check_broker_id(&req, 4).expect_err("other broker");
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
        assert!(s.message().starts_with("broker_id:"), "{}", s.message());
        let mut admin = tonic::Request::new(());
        admin
            .extensions_mut()
            .insert(p.principal("alice", AuthMethod::Token));
        assert!(check_broker_id(&admin, 4).is_ok());
    }

    #[test]
    fn tokens_file_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens");
        std::fs::write(&path, "# comment\nalice 0123456789abcdef0123\n\n").expect("write");
        let t = AuthPolicy::read_tokens(&path).expect("valid");
        assert_eq!(
            t.get("0123456789abcdef0123").map(String::as_str),
            Some("alice")
        );
        std::fs::write(&path, "alice short\n").expect("write");
        let e = AuthPolicy::read_tokens(&path).expect_err("short token");
        assert!(e.to_string().contains("shorter than 16"), "{e}");
        std::fs::write(&path, "alice\n").expect("write");
        assert!(AuthPolicy::read_tokens(&path).is_err());
    }

    #[test]
    fn common_name_of_generated_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "broker-5");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        assert_eq!(common_name(cert.der()).as_deref(), Some("broker-5"));
    }
}
