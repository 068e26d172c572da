//! [`ClientConfig`]: timeouts and the retry policy of [`crate::Client`].

use std::time::Duration;

/// Timeouts and retry policy. [`Default`] gives a 2 s connect timeout, a 30 s per-call
/// timeout and a 15 s total retry deadline with backoff from 50 ms doubling to 1 s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// How long to wait for one endpoint to accept a connection.
    pub connect_timeout: Duration,
    /// How long one RPC attempt may take before [`crate::ClientError::Timeout`].
    pub request_timeout: Duration,
    /// No new attempt starts after this much time since the first attempt of a call.
    pub retry_deadline: Duration,
    /// Backoff before the first retry that revisits an endpoint already tried.
    pub initial_backoff: Duration,
    /// Upper bound of the doubling backoff.
    pub max_backoff: Duration,
    /// TLS and credentials (default: plaintext, none).
    pub security: crate::Security,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            retry_deadline: Duration::from_secs(15),
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            security: crate::Security::default(),
        }
    }
}
