//! Config records (SPEC §1.2 apiKey 4).

use serde::{Deserialize, Serialize};

/// The kind of resource a config belongs to (Kafka `ConfigResource.Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigResourceType {
    /// A topic; the resource name is the topic name.
    Topic,
    /// A broker; the resource name is the broker id, or `""` for the cluster default.
    Broker,
}

impl ConfigResourceType {
    /// Kafka's int8 code (TOPIC = 2, BROKER = 4).
    pub fn code(self) -> i8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
        }
    }

    /// The type with Kafka code `code`, if kraftd supports it.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            2 => Some(ConfigResourceType::Topic),
            4 => Some(ConfigResourceType::Broker),
            _ => None,
        }
    }
}

/// Set (`value = Some`) or delete (`value = None`) one config key of one resource.
///
/// Guard: a `Topic` resource must name an existing topic (so a config cannot outlive a
/// concurrent delete).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRecord {
    /// Resource kind.
    pub resource_type: ConfigResourceType,
    /// Resource name.
    pub resource_name: String,
    /// Config key.
    pub name: String,
    /// New value; `None` deletes the key.
    pub value: Option<String>,
}
