//! DeleteTopics (Kafka apiKey 20, SPEC §2.7): by name or by topic id.

use std::collections::{BTreeMap, BTreeSet};

use super::ControllerResult;
use crate::error_code::ErrorCode;
use crate::ids::TopicId;
use crate::image::MetadataImage;
use crate::records::{Record, RemoveTopicRecord};

/// One topic to delete: exactly one of `name` and `topic_id` (Kafka `DeleteTopicState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteTopicState {
    /// Topic name.
    pub name: Option<String>,
    /// Topic id.
    pub topic_id: Option<TopicId>,
}

/// A DeleteTopics request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteTopics {
    /// Topics, answered in this order.
    pub topics: Vec<DeleteTopicState>,
}

/// The outcome for one topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletableTopicResult {
    /// The topic's name (as requested, or resolved from the id).
    pub name: Option<String>,
    /// The topic's id (as requested, or resolved from the name).
    pub topic_id: Option<TopicId>,
    /// `ErrorCode::None` on success.
    pub error_code: ErrorCode,
    /// Names the field and the rule on failure.
    pub error_message: Option<String>,
}

/// The answer to [`DeleteTopics`]: one result per requested topic, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleteTopicsReply {
    /// Per-topic results.
    pub responses: Vec<DeletableTopicResult>,
}

/// Handle DeleteTopics (Kafka `ControllerApis.deleteTopics`).
///
/// Per entry, in order (a failure adds no record):
/// 1. both or neither of name and id → `INVALID_REQUEST`;
/// 2. a name or an id repeated in the request → `INVALID_REQUEST` for each copy;
/// 3. unknown name → `UNKNOWN_TOPIC_OR_PARTITION`; unknown id → `UNKNOWN_TOPIC_ID`;
/// 4. a name that resolves to an id also given in the request → `INVALID_REQUEST` (the
///    later entry).
///
/// Records: one `RemoveTopic` per deleted topic; apply drops its partitions and topic
/// configs. A later CreateTopics of the same name gets a new topic id.
pub fn delete_topics(
    image: &MetadataImage,
    req: &DeleteTopics,
) -> ControllerResult<DeleteTopicsReply> {
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ids: BTreeMap<TopicId, usize> = BTreeMap::new();
    for t in &req.topics {
        if let Some(n) = &t.name {
            *names.entry(n.as_str()).or_default() += 1;
        }
        if let Some(id) = t.topic_id {
            *ids.entry(id).or_default() += 1;
        }
    }
    let mut deleting: BTreeSet<TopicId> = BTreeSet::new();
    let mut records = Vec::new();
    let mut responses = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let outcome = resolve(image, t, &names, &ids).and_then(|(name, id)| {
            if deleting.insert(id) {
                Ok((name, id))
            } else {
                Err((
                    ErrorCode::InvalidRequest,
                    "The provided topic name maps to an ID that was already supplied.".into(),
                ))
            }
        });
        match outcome {
            Ok((name, topic_id)) => {
                records.push(Record::RemoveTopic(RemoveTopicRecord { topic_id }));
                responses.push(DeletableTopicResult {
                    name: Some(name),
                    topic_id: Some(topic_id),
                    error_code: ErrorCode::None,
                    error_message: None,
                });
            }
            Err((error_code, message)) => responses.push(DeletableTopicResult {
                name: t.name.clone(),
                topic_id: t.topic_id,
                error_code,
                error_message: Some(message),
            }),
        }
    }
    ControllerResult {
        records,
        reply: DeleteTopicsReply { responses },
    }
}

fn resolve(
    image: &MetadataImage,
    t: &DeleteTopicState,
    names: &BTreeMap<&str, usize>,
    ids: &BTreeMap<TopicId, usize>,
) -> Result<(String, TopicId), (ErrorCode, String)> {
    match (&t.name, t.topic_id) {
        (Some(_), Some(_)) => Err((
            ErrorCode::InvalidRequest,
            "You may not specify both topic name and topic id.".into(),
        )),
        (None, None) => Err((
            ErrorCode::InvalidRequest,
            "Neither topic name nor id were specified.".into(),
        )),
        (Some(name), None) => {
            if names.get(name.as_str()).copied().unwrap_or(0) > 1 {
                return Err((ErrorCode::InvalidRequest, "Duplicate topic name.".into()));
            }
            image
                .topic(name)
                .map(|topic| (name.clone(), topic.topic_id))
                .ok_or_else(|| {
                    (
                        ErrorCode::UnknownTopicOrPartition,
                        format!("The topic '{name}' does not exist."),
                    )
                })
        }
        (None, Some(id)) => {
            if ids.get(&id).copied().unwrap_or(0) > 1 {
                return Err((ErrorCode::InvalidRequest, "Duplicate topic id.".into()));
            }
            image
                .topic_by_id(id)
                .map(|topic| (topic.name.clone(), id))
                .ok_or_else(|| (ErrorCode::UnknownTopicId, format!("No topic has id {id}.")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::create_topics;
    use crate::records::{ConfigRecord, ConfigResourceType};
    use crate::testing::{TestImage, create_req};
    use uuid::Uuid;

    fn by_name(names: &[&str]) -> DeleteTopics {
        DeleteTopics {
            topics: names
                .iter()
                .map(|n| DeleteTopicState {
                    name: Some(n.to_string()),
                    topic_id: None,
                })
                .collect(),
        }
    }

    fn by_id(id: TopicId) -> DeleteTopicState {
        DeleteTopicState {
            name: None,
            topic_id: Some(id),
        }
    }

    fn with_topics(names: &[&str]) -> TestImage {
        let mut t = TestImage::new().brokers(1..=3).unfenced(1..=3);
        for n in names {
            let r = create_topics(&t.image, &create_req(n, 2, 2), &mut t.ctx);
            t.apply_all(&r.records);
        }
        t
    }

    #[test]
    fn delete_topics_by_name_removes_topic_partitions_and_configs() {
        let mut t = with_topics(&["a", "b"]);
        t.apply_all(&[Record::Config(ConfigRecord {
            resource_type: ConfigResourceType::Topic,
            resource_name: "a".into(),
            name: "retention.ms".into(),
            value: Some("5".into()),
        })]);
        let id = t.image.topic("a").unwrap().topic_id;
        let r = delete_topics(&t.image, &by_name(&["a"]));
        assert_eq!(r.reply.responses[0].error_code, ErrorCode::None);
        assert_eq!(r.reply.responses[0].topic_id, Some(id));
        assert_eq!(
            r.records,
            vec![Record::RemoveTopic(RemoveTopicRecord { topic_id: id })]
        );
        t.apply_all(&r.records);
        assert!(t.image.topic("a").is_none());
        assert!(t.image.topic_by_id(id).is_none());
        assert!(
            t.image
                .configs()
                .get(ConfigResourceType::Topic, "a")
                .is_none()
        );
        assert!(t.image.topic("b").is_some());
    }

    #[test]
    fn delete_topics_by_id_reports_the_name() {
        let mut t = with_topics(&["a"]);
        let id = t.image.topic("a").unwrap().topic_id;
        let r = delete_topics(
            &t.image,
            &DeleteTopics {
                topics: vec![by_id(id)],
            },
        );
        assert_eq!(r.reply.responses[0].name.as_deref(), Some("a"));
        t.apply_all(&r.records);
        assert!(t.image.topic("a").is_none());
    }

    #[test]
    fn delete_topics_rejects_unknown_name_and_id() {
        let t = with_topics(&["a"]);
        let mut req = by_name(&["nope"]);
        req.topics.push(by_id(TopicId(Uuid::from_u128(42))));
        let r = delete_topics(&t.image, &req);
        assert!(r.records.is_empty());
        assert_eq!(
            r.reply.responses[0].error_code,
            ErrorCode::UnknownTopicOrPartition
        );
        assert_eq!(r.reply.responses[1].error_code, ErrorCode::UnknownTopicId);
    }

    #[test]
    fn delete_topics_rejects_duplicates_by_name_or_id() {
        let t = with_topics(&["a", "b"]);
        let id_b = t.image.topic("b").unwrap().topic_id;
        let mut req = by_name(&["a", "a"]);
        req.topics.push(by_id(id_b));
        req.topics.push(by_id(id_b));
        let r = delete_topics(&t.image, &req);
        assert!(r.records.is_empty());
        for res in &r.reply.responses {
            assert_eq!(res.error_code, ErrorCode::InvalidRequest, "{res:?}");
        }
    }

    #[test]
    fn delete_topics_rejects_name_and_id_of_the_same_topic() {
        let t = with_topics(&["a"]);
        let id = t.image.topic("a").unwrap().topic_id;
        let mut req = by_name(&["a"]);
        req.topics.push(by_id(id));
        let r = delete_topics(&t.image, &req);
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.reply.responses[0].error_code, ErrorCode::None);
        assert_eq!(r.reply.responses[1].error_code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn delete_topics_rejects_both_or_neither_of_name_and_id() {
        let t = with_topics(&["a"]);
        let id = t.image.topic("a").unwrap().topic_id;
        let req = DeleteTopics {
            topics: vec![
                DeleteTopicState {
                    name: Some("a".into()),
                    topic_id: Some(id),
                },
                DeleteTopicState {
                    name: None,
                    topic_id: None,
                },
            ],
        };
        let r = delete_topics(&t.image, &req);
        assert!(r.records.is_empty());
        assert!(
            r.reply
                .responses
                .iter()
                .all(|r| r.error_code == ErrorCode::InvalidRequest)
        );
    }

    #[test]
    fn delete_then_create_same_name_gives_a_new_topic_id() {
        let mut t = with_topics(&["a"]);
        let old = t.image.topic("a").unwrap().topic_id;
        let r = delete_topics(&t.image, &by_name(&["a"]));
        t.apply_all(&r.records);
        let r = create_topics(&t.image, &create_req("a", 1, 1), &mut t.ctx);
        assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
        t.apply_all(&r.records);
        let new = t.image.topic("a").unwrap().topic_id;
        assert_ne!(old, new);
        assert_eq!(t.image.topic("a").unwrap().partitions.len(), 1);
    }

    #[test]
    fn delete_then_create_of_colliding_name_succeeds() {
        let mut t = with_topics(&["a.b"]);
        let r = delete_topics(&t.image, &by_name(&["a.b"]));
        t.apply_all(&r.records);
        let r = create_topics(&t.image, &create_req("a_b", 1, 1), &mut t.ctx);
        assert_eq!(r.reply.topics[0].error_code, ErrorCode::None);
        t.apply_all(&r.records);
    }
}
