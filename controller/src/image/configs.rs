//! Dynamic configs of topics and brokers.

use std::collections::BTreeMap;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};

use crate::records::ConfigResourceType;

/// Explicitly set configs: resource type → resource name → key → value.
///
/// A resource with no keys left is dropped (Kafka `ConfigurationControlManager.replay`),
/// so an image never holds empty maps and equality does not depend on history. Resources by
/// name are a persistent map (cheap clones, like the topics: see [`super::TopicsImage`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigsImage {
    pub(crate) resources: BTreeMap<ConfigResourceType, OrdMap<String, BTreeMap<String, String>>>,
}

impl ConfigsImage {
    /// The explicitly set keys of one resource, if any.
    pub fn get(&self, ty: ConfigResourceType, name: &str) -> Option<&BTreeMap<String, String>> {
        self.resources.get(&ty).and_then(|m| m.get(name))
    }

    /// Set (`Some`) or delete (`None`) a key; returns the previous value.
    pub(crate) fn set(
        &mut self,
        ty: ConfigResourceType,
        resource: &str,
        key: &str,
        value: Option<String>,
    ) -> Option<String> {
        let by_name = self.resources.entry(ty).or_default();
        let prev = match value {
            Some(v) => by_name
                .entry(resource.to_string())
                .or_default()
                .insert(key.to_string(), v),
            None => by_name.get_mut(resource).and_then(|m| m.remove(key)),
        };
        if by_name.get(resource).is_some_and(BTreeMap::is_empty) {
            by_name.remove(resource);
        }
        if by_name.is_empty() {
            self.resources.remove(&ty);
        }
        prev
    }

    /// Replace a whole resource (`None` removes it); returns the previous map.
    pub(crate) fn replace_resource(
        &mut self,
        ty: ConfigResourceType,
        resource: &str,
        keys: Option<BTreeMap<String, String>>,
    ) -> Option<BTreeMap<String, String>> {
        let by_name = self.resources.entry(ty).or_default();
        let prev = match keys {
            Some(k) if !k.is_empty() => by_name.insert(resource.to_string(), k),
            _ => by_name.remove(resource),
        };
        if by_name.is_empty() {
            self.resources.remove(&ty);
        }
        prev
    }
}
