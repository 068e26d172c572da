//! Finalized feature levels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Finalized feature levels; a feature at level 0 is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeaturesImage {
    pub(crate) levels: BTreeMap<String, i16>,
}

impl FeaturesImage {
    /// All finalized levels, by feature name.
    pub fn levels(&self) -> &BTreeMap<String, i16> {
        &self.levels
    }

    /// The finalized level of `name`, if any.
    pub fn level(&self, name: &str) -> Option<i16> {
        self.levels.get(name).copied()
    }
}
