//! [`ClientError`]: everything that can go wrong between `kraftctl` (or a test) and a
//! controller. Per-item outcomes (a topic that already exists) are not errors: they come back
//! as `ItemError` values inside replies (STYLE §4).

use std::time::Duration;

/// Errors of the kraftd client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The bootstrap list is empty or an entry is not `host:port`.
    #[error("invalid bootstrap server list {bootstrap:?}: {reason}")]
    InvalidBootstrap {
        /// The list as given.
        bootstrap: String,
        /// Which entry is wrong and why.
        reason: String,
    },
    /// An argument breaks a rule before anything is sent.
    #[error("invalid argument `{field}`: {rule}")]
    InvalidArgument {
        /// The offending argument.
        field: String,
        /// The rule it broke.
        rule: String,
    },
    /// No endpoint of the bootstrap list accepted a connection; `source` is the last failure.
    #[error("could not connect to any controller of {endpoints}")]
    Connect {
        /// The endpoints tried, comma-separated, in order.
        endpoints: String,
        /// The error of the last endpoint tried.
        #[source]
        source: tonic::transport::Error,
    },
    /// The controller answered the RPC with a non-retryable gRPC status.
    #[error("{rpc} failed on {endpoint}: {code:?}: {message}", code = status.code(), message = status.message())]
    Rpc {
        /// RPC name, e.g. `"CreateTopics"`.
        rpc: &'static str,
        /// The endpoint that answered.
        endpoint: String,
        /// The gRPC status returned.
        #[source]
        status: tonic::Status,
    },
    /// Every attempt failed with a transient error (`UNAVAILABLE` or a broken connection) until
    /// the retry deadline passed; `status` is the last failure.
    #[error("{rpc} failed after {attempts} attempts in {elapsed:?}: {code:?}: {message}", code = status.code(), message = status.message())]
    RetriesExhausted {
        /// RPC name.
        rpc: &'static str,
        /// Attempts made, including the first.
        attempts: u32,
        /// Time spent from the first attempt to giving up.
        elapsed: Duration,
        /// The last transient failure.
        #[source]
        status: tonic::Status,
    },
    /// No answer within the per-call timeout. Not retried: a write may have been applied.
    #[error("{rpc} to {endpoint} timed out after {after:?}")]
    Timeout {
        /// RPC name.
        rpc: &'static str,
        /// The endpoint that did not answer.
        endpoint: String,
        /// The per-call timeout that expired.
        after: Duration,
    },
    /// The server answered, but an item in the reply carries a non-zero Kafka error code where
    /// the caller needs success (e.g. a simulated broker's registration).
    #[error("{rpc} for {item} failed: {error_name} ({error_code}): {error_message}")]
    Item {
        /// RPC name.
        rpc: &'static str,
        /// What the item is, e.g. `"broker 3"`.
        item: String,
        /// Kafka error code.
        error_code: i32,
        /// Kafka error name, e.g. `"INCONSISTENT_CLUSTER_ID"`.
        error_name: String,
        /// Human-readable message from the server.
        error_message: String,
    },
    /// A condition was not reached before its deadline; `last` describes the last state seen.
    #[error("timed out after {after:?} waiting for {what}; last seen: {last}")]
    WaitTimeout {
        /// The condition waited for.
        what: String,
        /// The deadline that passed.
        after: Duration,
        /// The last observed state.
        last: String,
    },
}

impl ClientError {
    /// The gRPC status code behind this error, if the error came from a gRPC status.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            ClientError::Rpc { status, .. } | ClientError::RetriesExhausted { status, .. } => {
                Some(status.code())
            }
            _ => None,
        }
    }
}
