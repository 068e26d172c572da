//! Kafka's protocol error codes (`clients/.../protocol/Errors.java`, SPEC §2.0).
//!
//! Domain outcomes are values, not `Err` (STYLE §4): every reply item carries an
//! [`ErrorCode`] and an optional message naming the field and the rule.

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal, $name:literal;)*) => {
        /// A Kafka error code, with Kafka's numbers (`#[repr(i16)]`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(i16)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant = $code,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire value.
            pub fn code(self) -> i16 {
                self as i16
            }

            /// Kafka's UPPER_SNAKE name, e.g. `"TOPIC_ALREADY_EXISTS"`.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// The code with this wire value, or `None` for one kraftd does not use.
            pub fn from_code(code: i16) -> Option<Self> {
                match code {
                    $($code => Some(ErrorCode::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

error_codes! {
    /// Success.
    None = 0, "NONE";
    /// An unexpected error; the controller resigns (SPEC §2.0).
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR";
    /// The topic or partition does not exist.
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION";
    /// This node is not the partition leader or follower.
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER";
    /// The request timed out.
    RequestTimedOut = 7, "REQUEST_TIMED_OUT";
    /// The topic name breaks the rules of SPEC §4.9.
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION";
    /// A requested version or feature level is not supported.
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION";
    /// A topic with this name exists.
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS";
    /// The partition count is invalid.
    InvalidPartitions = 37, "INVALID_PARTITIONS";
    /// The replication factor is invalid or cannot be reached.
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR";
    /// A manual replica assignment is invalid.
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT";
    /// A config key or value is invalid.
    InvalidConfig = 40, "INVALID_CONFIG";
    /// This node is not the active controller.
    NotController = 41, "NOT_CONTROLLER";
    /// The request is malformed.
    InvalidRequest = 42, "INVALID_REQUEST";
    /// A policy rejected the request.
    PolicyViolation = 44, "POLICY_VIOLATION";
    /// The operation was not attempted.
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED";
    /// Topic deletion is disabled.
    TopicDeletionDisabled = 73, "TOPIC_DELETION_DISABLED";
    /// The leader epoch in the request is older than the controller's.
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH";
    /// The broker epoch is not the current one, or the broker is not registered.
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH";
    /// The preferred leader cannot lead.
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE";
    /// No eligible leader exists.
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE";
    /// The partition already has the requested leader.
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED";
    /// No reassignment is in progress.
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS";
    /// The controller mutation quota is exceeded.
    ThrottlingQuotaExceeded = 89, "THROTTLING_QUOTA_EXCEEDED";
    /// The partition epoch in the request is stale.
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION";
    /// No topic has this id.
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID";
    /// Another live incarnation holds this broker id.
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION";
    /// The broker id is not registered.
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED";
    /// The request's cluster id is not this cluster's.
    InconsistentClusterId = 104, "INCONSISTENT_CLUSTER_ID";
    /// A proposed ISR member is not eligible (KIP-841, KIP-903).
    IneligibleReplica = 107, "INELIGIBLE_REPLICA";
    /// The change was committed but elected another leader.
    NewLeaderElected = 108, "NEW_LEADER_ELECTED";
    /// The broker registration is invalid.
    InvalidRegistration = 119, "INVALID_REGISTRATION";
    /// The voter key does not match.
    InvalidVoterKey = 125, "INVALID_VOTER_KEY";
    /// The voter is already in the voter set.
    DuplicateVoter = 126, "DUPLICATE_VOTER";
    /// The voter is not in the voter set.
    VoterNotFound = 127, "VOTER_NOT_FOUND";
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_kafka_numbers() {
        assert_eq!(ErrorCode::None.code(), 0);
        assert_eq!(ErrorCode::UnknownServerError.code(), -1);
        assert_eq!(ErrorCode::TopicAlreadyExists.code(), 36);
        assert_eq!(ErrorCode::StaleBrokerEpoch.code(), 77);
        assert_eq!(ErrorCode::InconsistentClusterId.code(), 104);
        assert_eq!(
            ErrorCode::InvalidTopicException.name(),
            "INVALID_TOPIC_EXCEPTION"
        );
    }

    #[test]
    fn from_code_round_trips_every_code() {
        for &c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(c.code()), Some(c), "{c}");
        }
        assert_eq!(ErrorCode::from_code(9999), None);
    }
}
