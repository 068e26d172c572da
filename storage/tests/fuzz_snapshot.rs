//! Fuzz target on the stable toolchain (proptest as the engine): snapshot file bytes →
//! [`kraft_storage::snapshot::decode`]. Whatever the bytes, decode returns `Ok` or `Err`,
//! never panics; an `Ok` re-encodes to the same bytes. Inputs: raw bytes, valid files with
//! bytes flipped or cut, and files whose checksum is recomputed after the damage (so the
//! header and length checks behind the checksum are reached).
//!
//! Cases: `KRAFT_FUZZ_CASES` (default 256); long run:
//! `KRAFT_FUZZ_CASES=100000 cargo test -p kraft-storage --test fuzz_snapshot`.

use kraft_storage::snapshot::{StoredSnapshot, decode, encode};
use kraft_storage::types::SnapshotMeta;
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("KRAFT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn valid(data: Vec<u8>) -> Vec<u8> {
    encode(&StoredSnapshot {
        meta: SnapshotMeta::default(),
        data,
    })
    .expect("encode")
}

/// Replaces the trailing CRC with the right one for the (damaged) body.
fn recrc(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() < 4 {
        return bytes;
    }
    let n = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..n]);
    bytes[n..].copy_from_slice(&crc.to_be_bytes());
    bytes
}

/// Whatever decodes re-encodes to a file that decodes to the same snapshot. (Not to the same
/// bytes: the JSON header is read leniently, see
/// `a_header_with_an_unknown_field_behind_a_valid_checksum_decodes_stably`.)
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(s) = decode(bytes) {
        let back = decode(&encode(&s).expect("encode")).expect("re-decode");
        prop_assert_eq!(back.meta, s.meta);
        prop_assert_eq!(back.data, s.data);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn fuzz_snapshot_raw_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        check(&bytes)?;
    }

    #[test]
    fn fuzz_snapshot_damaged_valid_file(
        data in proptest::collection::vec(any::<u8>(), 0..64),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), 1u8..), 0..4),
        cut in any::<proptest::sample::Index>(),
        fix_crc in any::<bool>(),
    ) {
        let original = valid(data);
        let mut bytes = original.clone();
        let len = bytes.len();
        for (at, x) in &flips {
            bytes[at.index(len)] ^= x;
        }
        bytes.truncate(cut.index(len + 1));
        if fix_crc {
            bytes = recrc(bytes);
        }
        // With its checksum intact, any damage (flips that do not cancel out, a cut) is found.
        let damaged = bytes != original;
        let res = decode(&bytes);
        if damaged && !fix_crc {
            prop_assert!(res.is_err(), "damaged snapshot decoded");
        }
        check(&bytes)?;
    }
}

#[test]
fn huge_declared_lengths_are_refused_without_allocating() {
    // A header length of u32::MAX and a body length of u64::MAX behind a valid checksum.
    let mut b = b"KRSN".to_vec();
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    let err = decode(&recrc(b)).expect_err("huge header");
    assert!(err.contains("truncated"), "{err}");
    let good = valid(b"x".to_vec());
    let hlen = u32::from_be_bytes(good[8..12].try_into().expect("4 bytes")) as usize;
    let mut b = good[..12 + hlen].to_vec();
    b.extend_from_slice(&u64::MAX.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    let err = decode(&recrc(b)).expect_err("huge body");
    assert!(err.contains("body"), "{err}");
}

/// Found by `fuzz_snapshot_damaged_valid_file` (KRAFT_FUZZ_CASES=100000): one flipped byte
/// turned `"log_id"` inside the membership into `"mog_id"` and the checksum was recomputed.
/// serde ignores the unknown key and defaults the missing one, so the file decodes — only a
/// forged checksum gets here — and it must then re-encode to a snapshot that decodes the same.
#[test]
fn a_header_with_an_unknown_field_behind_a_valid_checksum_decodes_stably() {
    let good = valid(Vec::new());
    // `"log_id"` (quoted) appears once: the membership's (`"last_log_id"` does not match).
    let at = good
        .windows(8)
        .position(|w| w == b"\"log_id\"")
        .expect("the membership's log_id key");
    let mut b = good.clone();
    b[at + 1] = b'm';
    let s = decode(&recrc(b)).expect("lenient header decodes");
    let back = decode(&encode(&s).expect("encode")).expect("re-decode");
    assert_eq!(back.meta, s.meta);
    assert_eq!(back.data, s.data);
}
