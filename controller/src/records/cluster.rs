//! The cluster id record (kraftd's addition; Kafka keeps the id in `meta.properties`).

use serde::{Deserialize, Serialize};

/// Set the cluster id. Written once, by the first active controller.
///
/// Guard: the image must not have a cluster id yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdRecord {
    /// The new cluster's id.
    pub cluster_id: String,
}
