//! The tower layer every controller RPC (`kraft.v1.AdminService`, `kraft.v1.BrokerService`)
//! passes through on the gRPC server: one tracing span per RPC, request ids, metrics and
//! slow-request warnings, in one place instead of in every service method.
//!
//! ```text
//!  request ─► request id: the caller's `x-request-id` (1..=128 visible ASCII) or a new uuid
//!          ─► span `rpc{rpc, request_id, peer, forwarded}` around the whole call
//!             (a follower's forward to the leader carries the same id: logs join up)
//!          ─► inner service (decode, route, handler, encode)
//!  reply   ◄─ `x-request-id` header; metrics::record_rpc(rpc, grpc code, latency);
//!             warn "slow request" when latency ≥ slow_request_ms
//! ```
//!
//! The gRPC code is read from the response head (`grpc-status`, present on every error reply;
//! absent means OK). A stream (FetchMetadata) is timed until its response head, i.e. until it
//! is open. Raft, health and reflection traffic passes through untouched.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::codegen::http;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower_layer::Layer;
use tower_service::Service;
use tracing::{Instrument, debug, warn};

use crate::metrics;
use crate::service::forward::FORWARDED_HEADER;

/// Request and response metadata key carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Longest request id taken from a caller; a longer or non-printable one is replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The gRPC services observed by the layer.
const OBSERVED: [&str; 2] = ["kraft.v1.AdminService", "kraft.v1.BrokerService"];

tokio::task_local! {
    /// The request id of the RPC this task is serving (for forwarding it to the leader).
    static REQUEST_ID: AsciiMetadataValue;
}

/// The request id of the RPC being served by the current task, if any.
pub fn current_request_id() -> Option<AsciiMetadataValue> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The method of a controller RPC path (`/kraft.v1.AdminService/CreateTopics` →
/// `CreateTopics`); `None` for every other service.
pub fn controller_rpc(path: &str) -> Option<&str> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    (OBSERVED.contains(&service) && !method.is_empty() && !method.contains('/')).then_some(method)
}

/// The caller's request id if it is usable (1..=128 visible ASCII characters), else a new one.
pub fn request_id(given: Option<&[u8]>) -> AsciiMetadataValue {
    if let Some(v) = given.filter(|v| {
        !v.is_empty() && v.len() <= MAX_REQUEST_ID_LEN && v.iter().all(|b| b.is_ascii_graphic())
    }) && let Ok(v) = AsciiMetadataValue::try_from(v)
    {
        return v;
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    MetadataValue::try_from(id.as_str()).unwrap_or_else(|_| MetadataValue::from_static("none"))
}

/// The gRPC code of a response head: `grpc-status` if present (errors), else OK.
fn code_of<B>(resp: &http::Response<B>) -> tonic::Code {
    resp.headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
        .unwrap_or(tonic::Code::Ok)
}

/// See the module documentation. `slow`: the slow-request threshold.
#[derive(Debug, Clone, Copy)]
pub struct RpcLayer {
    slow: Duration,
}

impl RpcLayer {
    /// A layer that warns about RPCs taking `slow` or longer.
    pub fn new(slow: Duration) -> Self {
        Self { slow }
    }
}

impl<S> Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            slow: self.slow,
        }
    }
}

/// The service [`RpcLayer`] wraps around the server's routes.
#[derive(Debug, Clone)]
pub struct RpcService<S> {
    inner: S,
    slow: Duration,
}

impl<S, B, RB> Service<http::Request<B>> for RpcService<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let Some(rpc) = controller_rpc(req.uri().path()).map(str::to_string) else {
            return Box::pin(self.inner.call(req));
        };
        let id = request_id(req.headers().get(REQUEST_ID_HEADER).map(|v| v.as_bytes()));
        let peer = req
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(|i| i.remote_addr())
            .or_else(|| {
                req.extensions()
                    .get::<TlsConnectInfo<TcpConnectInfo>>()
                    .and_then(|i| i.get_ref().remote_addr())
            });
        let forwarded = req.headers().contains_key(FORWARDED_HEADER);
        let id_text = id.to_str().unwrap_or_default().to_string();
        let span = tracing::info_span!(
            "rpc",
            rpc = %rpc,
            request_id = %id_text,
            peer = %peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            forwarded,
        );
        if let Ok(v) = http::HeaderValue::from_bytes(id.as_encoded_bytes()) {
            req.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        let slow = self.slow;
        // The clone that was driven to readiness serves this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let started = Instant::now();
            let call = REQUEST_ID.scope(id.clone(), inner.call(req));
            let res = call.instrument(span.clone()).await;
            let took = started.elapsed();
            let mut resp = res?;
            let code = code_of(&resp);
            // Unknown methods are counted under one name: callers cannot grow the label set.
            let name = if code == tonic::Code::Unimplemented {
                "unknown"
            } else {
                rpc.as_str()
            };
            let is_slow = took >= slow;
            metrics::record_rpc(name, code, took, is_slow);
            let took_ms = took.as_secs_f64() * 1000.0;
            span.in_scope(|| {
                if is_slow {
                    warn!(
                        took_ms,
                        slow_request_ms = slow.as_millis() as u64,
                        code = ?code,
                        "slow request"
                    );
                } else {
                    debug!(took_ms, code = ?code, "request done");
                }
            });
            if let Ok(v) = http::HeaderValue::from_bytes(id.as_encoded_bytes()) {
                resp.headers_mut().insert(REQUEST_ID_HEADER, v);
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_controller_services_are_observed() {
        assert_eq!(
            controller_rpc("/kraft.v1.AdminService/CreateTopics"),
            Some("CreateTopics")
        );
        assert_eq!(
            controller_rpc("/kraft.v1.BrokerService/FetchMetadata"),
            Some("FetchMetadata")
        );
        assert_eq!(controller_rpc("/kraft.v1.RaftService/AppendEntries"), None);
        assert_eq!(controller_rpc("/grpc.health.v1.Health/Check"), None);
        assert_eq!(controller_rpc("/kraft.v1.AdminService/"), None);
        assert_eq!(controller_rpc("kraft.v1.AdminService/X"), None);
    }

    #[test]
    fn request_ids_are_kept_when_sane_and_generated_otherwise() {
        assert_eq!(request_id(Some(b"abc-123")).to_str().unwrap(), "abc-123");
        let long = [b'a'; MAX_REQUEST_ID_LEN + 1];
        for bad in [
            None,
            Some(&b""[..]),
            Some(&b"has space"[..]),
            Some(&long[..]),
        ] {
            let id = request_id(bad);
            let s = id.to_str().unwrap();
            assert_eq!(s.len(), 32, "{bad:?} -> {s}");
            assert!(s.bytes().all(|b| b.is_ascii_hexdigit()), "{s}");
        }
        assert_ne!(request_id(None), request_id(None), "fresh ids differ");
    }
}
