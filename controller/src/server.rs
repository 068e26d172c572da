//! One gRPC server per controller: Raft, Broker and Admin services, plus
//! `grpc.health.v1.Health` and gRPC reflection so `grpcurl` can list and call everything.
//! Controller RPCs pass through [`RpcLayer`] (span, request id, metrics, slow requests).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use kraft_proto::admin_service_server::AdminServiceServer;
use kraft_proto::broker_service_server::BrokerServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::ServingStatus;
use tracing::info;

use crate::auth::{AuthLayer, AuthPolicy};
use crate::rpc_layer::RpcLayer;
use crate::service::Controller;
use crate::service::admin::AdminServiceImpl;
use crate::service::broker::BrokerServiceImpl;
use crate::tls::ServerTls;

/// Serves every kraftd service on `listener` until `shutdown` resolves.
///
/// Health: the overall service (`""`) and the admin and broker services report SERVING only
/// while this controller knows an active controller, so a readiness probe reflects quorum
/// membership rather than "the port is open".
pub async fn serve(
    ctl: Arc<Controller>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    serve_secure(ctl, listener, Security::default(), shutdown).await
}

/// TLS and authentication settings of the gRPC listener. The default is plaintext with
/// authentication off (`kraftd dev`).
#[derive(Clone, Default)]
pub struct Security {
    /// TLS on the listener (and, through the quorum's `PeerTls`, on links to peers).
    pub tls: Option<Arc<ServerTls>>,
    /// Who may call what.
    pub auth: AuthPolicy,
}

/// [`serve`] with TLS and authentication: every request passes [`AuthLayer`].
pub async fn serve_secure(
    ctl: Arc<Controller>,
    listener: TcpListener,
    security: Security,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(kraft_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| tracing::error!(error = %e, "reflection v1 disabled"))
        .ok();
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(kraft_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| tracing::error!(error = %e, "reflection v1alpha disabled"))
        .ok();

    let health_task = tokio::spawn(track_health(ctl.clone(), reporter));
    let local = listener.local_addr().ok();
    info!(
        addr = ?local,
        node_id = ctl.node().id(),
        tls = security.tls.is_some(),
        authentication = security.auth.enabled(),
        "serving gRPC"
    );
    // `tcp_nodelay` here does not reach sockets from `serve_with_incoming`: `no_delay` and
    // `tls::incoming` set it on each accepted socket.
    let router = tonic::transport::Server::builder()
        .layer(RpcLayer::new(ctl.slow_request()))
        .layer(AuthLayer::new(security.auth))
        .add_service(ctl.node().raft_service())
        .add_service(
            BrokerServiceServer::new(BrokerServiceImpl::new(ctl.clone()))
                .max_decoding_message_size(ctl.limits().max_request_bytes),
        )
        .add_service(
            AdminServiceServer::new(AdminServiceImpl::new(ctl.clone()))
                .max_decoding_message_size(ctl.limits().max_request_bytes),
        )
        .add_service(health)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha);
    let res = match security.tls {
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(crate::tls::incoming(listener, tls), shutdown)
                .await
        }
        None => {
            router
                .serve_with_incoming_shutdown(no_delay(TcpListenerStream::new(listener)), shutdown)
                .await
        }
    };
    health_task.abort();
    res
}

/// Sets TCP_NODELAY on every accepted socket. Without it, a small reply written while the
/// previous one is unacknowledged waits for the peer's delayed ACK (~40 ms on Linux): Nagle's
/// algorithm against HTTP/2's small frames. tonic applies its own `tcp_nodelay` only to
/// listeners it binds itself.
pub fn no_delay(
    incoming: impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>>,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt as _;
    incoming.map(|accepted| {
        accepted.inspect(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        })
    })
}

async fn track_health(ctl: Arc<Controller>, reporter: tonic_health::server::HealthReporter) {
    let mut last = None;
    loop {
        let status = if ctl.node().leader().is_some() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        if last != Some(status) {
            reporter.set_service_status("", status).await;
            reporter
                .set_service_status("kraft.v1.AdminService", status)
                .await;
            reporter
                .set_service_status("kraft.v1.BrokerService", status)
                .await;
            reporter
                .set_service_status("kraft.v1.RaftService", ServingStatus::Serving)
                .await;
            last = Some(status);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    use super::*;

    #[tokio::test]
    async fn accepted_sockets_have_nagle_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut incoming = Box::pin(no_delay(TcpListenerStream::new(listener)));
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let accepted = incoming
            .next()
            .await
            .expect("a connection")
            .expect("accepted");
        assert!(accepted.nodelay().expect("read TCP_NODELAY"));
    }
}
