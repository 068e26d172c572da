//! Start-up cross-checks between the Raft log and the snapshot file.
//!
//! Each store checks itself when it opens ([`LogStore::open`], [`crate::snapshot`]); this
//! checks that together they still describe one gapless history: the snapshot covers
//! everything the log no longer holds. A node that fails must not serve — its state would be
//! missing entries its peers count it as holding.

use std::path::Path;

use crate::error::StorageError;
use crate::log_store::LogSummary;
use crate::types::LogId;

/// Checks that `snapshot` (the last log id of the loaded snapshot, `None` when there is no
/// snapshot file) and the log summarised by `log` leave no gap:
/// * a purged log needs a snapshot at or past the purge point (openraft purges only what a
///   durable snapshot covers);
/// * the first entry in the log follows the snapshot (or is index 0 without one).
///
/// Errors name the file that is missing or short.
pub fn check_log_against_snapshot(
    log: &LogSummary,
    log_path: &Path,
    snapshot: Option<LogId>,
    snapshot_file: &Path,
) -> Result<(), StorageError> {
    let snap_index = snapshot.map(|l| l.index);
    if let Some(purged) = log.last_purged
        && snap_index.is_none_or(|s| s < purged.index)
    {
        let reason = match snap_index {
            None => format!(
                "missing, but the raft log was purged up to index {}: the state before it \
                 existed only in this snapshot",
                purged.index
            ),
            Some(s) => format!(
                "covers the log only up to index {s}, but the raft log was purged up to index {}",
                purged.index
            ),
        };
        return Err(StorageError::BadSnapshot {
            path: snapshot_file.display().to_string(),
            reason,
        });
    }
    if let Some(first) = log.first_index {
        let next = snap_index.map_or(0, |s| s + 1);
        if first > next {
            return Err(StorageError::CorruptLog {
                path: log_path.display().to_string(),
                reason: format!(
                    "the first entry is index {first} but the snapshot covers only up to {}: \
                     entries are missing",
                    snap_index.map_or("nothing".to_string(), |s| format!("index {s}"))
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u64) -> LogId {
        crate::types::log_id(1, 1, index)
    }

    fn check(log: LogSummary, snap: Option<u64>) -> Result<(), String> {
        check_log_against_snapshot(
            &log,
            Path::new("/d/raft-log"),
            snap.map(id),
            Path::new("/d/snapshots/snapshot.bin"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_log_from_zero_needs_no_snapshot() {
        let log = LogSummary {
            first_index: Some(0),
            last_log_id: Some(id(9)),
            ..LogSummary::default()
        };
        assert_eq!(check(log.clone(), None), Ok(()));
        assert_eq!(check(log, Some(5)), Ok(()));
        assert_eq!(check(LogSummary::default(), None), Ok(()));
    }

    #[test]
    fn a_purged_log_without_its_snapshot_names_the_snapshot_file() {
        let log = LogSummary {
            first_index: Some(11),
            last_log_id: Some(id(20)),
            last_purged: Some(id(10)),
            ..LogSummary::default()
        };
        assert_eq!(check(log.clone(), Some(15)), Ok(()));
        let err = check(log.clone(), None).unwrap_err();
        assert!(err.contains("/d/snapshots/snapshot.bin: missing"), "{err}");
        let err = check(log, Some(9)).unwrap_err();
        assert!(err.contains("covers the log only up to index 9"), "{err}");
    }

    #[test]
    fn a_gap_between_snapshot_and_log_names_the_log() {
        let log = LogSummary {
            first_index: Some(12),
            last_log_id: Some(id(20)),
            ..LogSummary::default()
        };
        let err = check(log.clone(), Some(10)).unwrap_err();
        assert!(err.contains("corrupt raft log /d/raft-log"), "{err}");
        assert!(err.contains("first entry is index 12"), "{err}");
        assert_eq!(check(log, Some(11)), Ok(()));
    }
}
