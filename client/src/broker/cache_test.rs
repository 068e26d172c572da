//! The cache's apply, dedup and gap rules, without a network.

use kraft_controller::records::{ClusterIdRecord, Record};
use kraft_controller::{MetadataImage, RecordBatch};
use kraft_proto::fetch_metadata_response::Payload;
use kraft_proto::{FetchMetadataResponse, MetadataDelta, MetadataImageChunk, MetadataKeepAlive};

use super::*;

fn delta(offset: i64, batch: Option<RecordBatch>) -> FetchMetadataResponse {
    FetchMetadataResponse {
        payload: Some(Payload::Delta(MetadataDelta {
            offset,
            batch: batch.map(|b| b.encode().unwrap()).unwrap_or_default(),
            time_ms: 0,
        })),
    }
}

fn cluster_id(id: &str) -> RecordBatch {
    RecordBatch::new(vec![Record::ClusterId(ClusterIdRecord {
        cluster_id: id.into(),
    })])
}

/// `image` encoded and split into `n` chunks.
fn chunks(image: &MetadataImage, n: usize) -> Vec<FetchMetadataResponse> {
    let bytes = image.encode().unwrap();
    let size = bytes.len().div_ceil(n);
    let total = bytes.chunks(size).count();
    bytes
        .chunks(size)
        .enumerate()
        .map(|(i, c)| FetchMetadataResponse {
            payload: Some(Payload::Image(MetadataImageChunk {
                offset: image.last_applied_offset() as i64,
                position: (i * size) as i64,
                data: c.to_vec(),
                last: i + 1 == total,
            })),
        })
        .collect()
}

/// A controller-side image: `cluster_id("c")` at 1, blanks up to `offset`.
fn image_at(offset: u64) -> MetadataImage {
    let mut image = MetadataImage::new();
    image.apply(&cluster_id("c"), 1).unwrap();
    for o in 2..=offset {
        image.apply(&RecordBatch::default(), o).unwrap();
    }
    image
}

#[test]
fn image_in_chunks_replaces_state_and_deltas_follow() {
    let mut s = CacheState::new();
    let image = image_at(5);
    let parts = chunks(&image, 3);
    assert!(parts.len() > 1);
    for p in &parts[..parts.len() - 1] {
        assert_eq!(s.handle(p.clone()), Ok(Applied::ImageChunk));
        assert_eq!(s.offset(), None, "nothing loads before the last chunk");
    }
    assert_eq!(
        s.handle(parts.last().unwrap().clone()),
        Ok(Applied::Image(5))
    );
    assert_eq!(s.image(), &image);
    assert_eq!(s.handle(delta(6, None)), Ok(Applied::Delta(6)));
    assert_eq!(s.offset(), Some(6));
    assert_eq!(s.image().last_applied_offset(), 6);
}

#[test]
fn duplicates_are_ignored_and_never_applied_twice() {
    let mut s = CacheState::new();
    for c in chunks(&image_at(3), 1) {
        s.handle(c).unwrap();
    }
    // A ClusterId record applied twice would be rejected; here it must not even be tried.
    assert_eq!(
        s.handle(delta(1, Some(cluster_id("x")))),
        Ok(Applied::Duplicate(1))
    );
    assert_eq!(s.handle(delta(3, None)), Ok(Applied::Duplicate(3)));
    assert_eq!(s.image().cluster_id(), Some("c"));
    // An older (or equal) image does not roll the cache back.
    for c in chunks(&image_at(2), 1) {
        assert_eq!(s.handle(c), Ok(Applied::Duplicate(2)));
    }
    assert_eq!(s.offset(), Some(3));
}

#[test]
fn a_gap_asks_for_a_reconnect_and_changes_nothing() {
    let mut s = CacheState::new();
    assert_eq!(
        s.handle(delta(1, None)),
        Err(StreamError::Gap {
            applied: None,
            got: 1
        }),
        "a delta before any image is a gap"
    );
    for c in chunks(&image_at(3), 1) {
        s.handle(c).unwrap();
    }
    let before = s.image().clone();
    assert_eq!(
        s.handle(delta(5, None)),
        Err(StreamError::Gap {
            applied: Some(3),
            got: 5
        })
    );
    assert_eq!((s.offset(), s.image()), (Some(3), &before));
    assert_eq!(s.handle(delta(4, None)), Ok(Applied::Delta(4)));
}

#[test]
fn deltas_apply_with_the_controller_rules() {
    // Same entries through the cache and through `committed::apply_entry` directly (what a
    // controller runs): equal images, equal hashes.
    let entries: Vec<(u64, Option<RecordBatch>)> = vec![
        (1, None),
        (2, Some(cluster_id("c"))),
        (3, Some(cluster_id("again"))), // rejected by the guard: only the offset moves
        (4, None),
    ];
    let mut controller = MetadataImage::new();
    for (o, b) in &entries {
        let data = b.as_ref().map(|b| b.encode().unwrap());
        apply_entry(&mut controller, *o, data.as_deref());
    }
    let mut s = CacheState::new();
    for c in chunks(&MetadataImage::new(), 1) {
        assert_eq!(s.handle(c), Ok(Applied::Image(0)));
    }
    for (o, b) in entries {
        assert_eq!(s.handle(delta(o as i64, b)), Ok(Applied::Delta(o)));
    }
    assert_eq!(s.image(), &controller);
    assert_eq!(image_hash(s.image()), image_hash(&controller));
    assert_eq!(s.image().cluster_id(), Some("c"));
}

#[test]
fn broken_images_and_messages_are_refused() {
    let mut s = CacheState::new();
    let parts = chunks(&image_at(4), 2);
    // Out of order: the second chunk first.
    assert!(matches!(
        s.handle(parts[1].clone()),
        Err(StreamError::BadImage { .. })
    ));
    // A delta in the middle of an image.
    s.handle(parts[0].clone()).unwrap();
    assert!(matches!(
        s.handle(delta(5, None)),
        Err(StreamError::Protocol(_))
    ));
    // After a reconnect the partial image is forgotten; a whole one loads.
    s.reset_stream();
    for p in parts {
        s.handle(p).unwrap();
    }
    assert_eq!(s.offset(), Some(4));
    // Bytes that are not an image, or an image at another offset than announced.
    let mut s = CacheState::new();
    let lie = FetchMetadataResponse {
        payload: Some(Payload::Image(MetadataImageChunk {
            offset: 9,
            position: 0,
            data: image_at(4).encode().unwrap(),
            last: true,
        })),
    };
    assert!(matches!(s.handle(lie), Err(StreamError::BadImage { .. })));
    assert!(matches!(
        s.handle(FetchMetadataResponse { payload: None }),
        Err(StreamError::Protocol(_))
    ));
    assert_eq!(
        s.handle(FetchMetadataResponse {
            payload: Some(Payload::KeepAlive(MetadataKeepAlive {
                committed_offset: 7
            }))
        }),
        Ok(Applied::KeepAlive(7))
    );
    assert_eq!(s.offset(), None);
}
