//! Feature level records (SPEC §1.2 apiKey 12).

use serde::{Deserialize, Serialize};

/// Set the finalized level of a feature; level 0 removes it.
///
/// Guard: `level >= 0`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureLevelRecord {
    /// Feature name, e.g. `metadata.version`.
    pub name: String,
    /// Finalized level; 0 = disabled.
    pub level: i16,
}
