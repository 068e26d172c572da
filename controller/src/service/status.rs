//! Controller errors and their one mapping to gRPC status.

use std::time::Duration;

use kraft_quorum::{LeaderHint, QuorumError};
use tonic::Status;
use tonic::metadata::MetadataValue;

use crate::error_code::ErrorCode;

/// Metadata key carrying the active controller's node id on `NOT_CONTROLLER`.
pub const LEADER_ID_HEADER: &str = "kraft-leader-id";
/// Metadata key carrying the active controller's endpoint on `NOT_CONTROLLER`.
pub const LEADER_ENDPOINT_HEADER: &str = "kraft-leader-endpoint";

/// Errors of the controller's service layer. Domain outcomes (a topic that already exists)
/// are not errors: they travel as per-item error codes in replies.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ControllerError {
    /// This controller is not active; `leader` says where to go, if known.
    #[error("NOT_CONTROLLER: this controller is not the active controller (active: {leader:?})")]
    NotController {
        /// The active controller, if known.
        leader: Option<LeaderHint>,
    },
    /// The request did not complete in time.
    #[error("REQUEST_TIMED_OUT: no answer within {0:?}")]
    Timeout(Duration),
    /// A required field is missing or malformed.
    #[error("INVALID_REQUEST: field `{field}`: {rule}")]
    InvalidArgument {
        /// The offending field, as named in the proto.
        field: String,
        /// The rule it broke.
        rule: String,
    },
    /// A batch failed its apply guards (another write changed the image first).
    #[error("a concurrent change invalidated this request: {0}")]
    Stale(String),
    /// Raft failed.
    #[error("raft failure: {0}")]
    Raft(String),
    /// Local storage failed or is damaged (at start: the node refuses to serve).
    #[error("storage failure: {0}")]
    Storage(String),
}

impl ControllerError {
    /// Kafka's error code for this error.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            ControllerError::NotController { .. } => ErrorCode::NotController,
            ControllerError::Timeout(_) => ErrorCode::RequestTimedOut,
            ControllerError::InvalidArgument { .. } => ErrorCode::InvalidRequest,
            ControllerError::Stale(_) | ControllerError::Raft(_) | ControllerError::Storage(_) => {
                ErrorCode::UnknownServerError
            }
        }
    }

    /// Shorthand for an [`ControllerError::InvalidArgument`].
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ControllerError::InvalidArgument {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

impl From<QuorumError> for ControllerError {
    fn from(e: QuorumError) -> Self {
        match e {
            QuorumError::NotLeader { leader } => ControllerError::NotController { leader },
            QuorumError::Timeout(d) => ControllerError::Timeout(d),
            QuorumError::Storage(e) => ControllerError::Storage(e.to_string()),
            other => ControllerError::Raft(other.to_string()),
        }
    }
}

impl From<ControllerError> for Status {
    fn from(e: ControllerError) -> Self {
        let msg = e.to_string();
        match e {
            ControllerError::NotController { leader } => {
                let mut s = Status::unavailable(msg);
                if let Some(l) = leader {
                    if let Ok(v) = MetadataValue::try_from(l.node_id.to_string()) {
                        s.metadata_mut().insert(LEADER_ID_HEADER, v);
                    }
                    if let Ok(v) = MetadataValue::try_from(l.endpoint.as_str()) {
                        s.metadata_mut().insert(LEADER_ENDPOINT_HEADER, v);
                    }
                }
                s
            }
            ControllerError::Timeout(_) => Status::deadline_exceeded(msg),
            ControllerError::InvalidArgument { .. } => Status::invalid_argument(msg),
            ControllerError::Stale(_) => Status::aborted(msg),
            ControllerError::Raft(_) | ControllerError::Storage(_) => Status::internal(msg),
        }
    }
}
