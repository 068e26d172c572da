//! ListTopics (read-only).

use crate::ids::TopicId;
use crate::image::MetadataImage;

/// One topic in a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicListing {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub topic_id: TopicId,
    /// Number of partitions.
    pub num_partitions: usize,
}

/// Every topic, sorted by name.
pub fn list_topics(image: &MetadataImage) -> Vec<TopicListing> {
    image
        .topics()
        .iter()
        .map(|t| TopicListing {
            name: t.name.clone(),
            topic_id: t.topic_id,
            num_partitions: t.partitions.len(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::create_topics;
    use crate::testing::{TestImage, create_req};

    #[test]
    fn list_topics_is_sorted_by_name() {
        let mut t = TestImage::new().brokers(1..=1).unfenced(1..=1);
        for name in ["zeta", "alpha", "mid"] {
            let r = create_topics(&t.image, &create_req(name, 2, 1), &mut t.ctx);
            t.apply_all(&r.records);
        }
        let names: Vec<_> = list_topics(&t.image).into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["alpha", "mid", "zeta"]);
        assert!(list_topics(&t.image).iter().all(|l| l.num_partitions == 2));
    }
}
