//! Storage timings for the controller's `/metrics`: lock-free histograms and gauges that the
//! write path updates with a few relaxed atomic adds (no lock, no allocation), and that a
//! scrape reads with [`Histogram::snapshot`].
//!
//! ```text
//!   LogStore::append ─► LogStats.append  (batch insert + fsync, the whole acknowledged write)
//!   LogStore::flush  ─► LogStats.fsync   (every fsync: append, vote, truncate, purge)
//!   SnapshotDir::save / load ─► SnapshotStats (bytes of the last snapshot, when it was taken)
//!   build_snapshot          ─► SnapshotStats (how long the last build took)
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Upper bounds, in seconds, of the storage latency buckets (100 µs .. 2.5 s).
pub const STORAGE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A Prometheus-style latency histogram with fixed buckets, updated with atomics.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// `counts[i]`: observations in `(bounds[i-1], bounds[i]]`; the last slot is `+Inf`.
    counts: Box<[AtomicU64]>,
    sum_nanos: AtomicU64,
}

/// A point-in-time copy of a [`Histogram`], buckets cumulative as Prometheus wants them.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Bucket upper bounds, seconds (without `+Inf`).
    pub bounds: &'static [f64],
    /// Cumulative count per bound, same length as `bounds`.
    pub cumulative: Vec<u64>,
    /// All observations (the `+Inf` bucket).
    pub count: u64,
    /// Sum of all observations, seconds.
    pub sum_seconds: f64,
}

impl Histogram {
    /// An empty histogram with `bounds` (ascending, seconds).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, took: Duration) {
        let secs = took.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Reads the histogram (each counter atomically; the set as of roughly one instant).
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        let mut total = 0;
        for c in self.counts.iter() {
            total += c.load(Ordering::Relaxed);
            cumulative.push(total);
        }
        cumulative.truncate(self.bounds.len());
        HistogramSnapshot {
            bounds: self.bounds,
            cumulative,
            count: total,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// Raft log write timings of one [`crate::LogStore`].
#[derive(Debug)]
pub struct LogStats {
    /// `append`: entries inserted and fsynced, until openraft is told they are durable.
    pub append: Histogram,
    /// Every fsync of the log `Db` (appends, votes, truncations, purges).
    pub fsync: Histogram,
}

impl Default for LogStats {
    fn default() -> Self {
        Self {
            append: Histogram::new(STORAGE_BUCKETS),
            fsync: Histogram::new(STORAGE_BUCKETS),
        }
    }
}

/// The last snapshot file written or loaded by one [`crate::snapshot::SnapshotDir`].
#[derive(Debug, Default)]
pub struct SnapshotStats {
    bytes: AtomicU64,
    /// Milliseconds since the Unix epoch when the snapshot was taken; 0: no snapshot yet.
    taken_unix_ms: AtomicU64,
    /// Microseconds the last snapshot built here took (encode + write + fsync), plus one;
    /// 0: none built since start.
    build_micros: AtomicU64,
}

/// What [`SnapshotStats::last`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastSnapshot {
    /// Size of the snapshot file, bytes.
    pub bytes: u64,
    /// When it was built or installed here (the file's modification time after a restart).
    pub taken: SystemTime,
}

impl SnapshotStats {
    /// Notes a snapshot file of `bytes` taken at `taken`.
    pub fn record(&self, bytes: u64, taken: SystemTime) {
        let ms = taken
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
            .max(1);
        self.bytes.store(bytes, Ordering::Relaxed);
        self.taken_unix_ms.store(ms, Ordering::Relaxed);
    }

    /// Notes how long building (encoding, writing and fsyncing) the last snapshot took.
    pub fn record_build(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX - 1);
        self.build_micros.store(micros + 1, Ordering::Relaxed);
    }

    /// How long the last snapshot built by this process took (`None`: none built yet;
    /// installed and loaded snapshots do not count).
    pub fn last_build(&self) -> Option<Duration> {
        match self.build_micros.load(Ordering::Relaxed) {
            0 => None,
            m => Some(Duration::from_micros(m - 1)),
        }
    }

    /// The last snapshot, if there is one.
    pub fn last(&self) -> Option<LastSnapshot> {
        let ms = self.taken_unix_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| LastSnapshot {
            bytes: self.bytes.load(Ordering::Relaxed),
            taken: UNIX_EPOCH + Duration::from_millis(ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_overflow_goes_to_inf() {
        let h = Histogram::new(&[0.001, 0.01]);
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(3));
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![1, 3]);
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 3.0105).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn snapshot_stats_start_empty_and_keep_the_last() {
        let s = SnapshotStats::default();
        assert_eq!(s.last(), None);
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(s.last_build(), None);
        s.record_build(Duration::from_millis(250));
        assert_eq!(s.last_build(), Some(Duration::from_millis(250)));
        s.record(10, t);
        s.record(42, t + Duration::from_secs(5));
        assert_eq!(
            s.last(),
            Some(LastSnapshot {
                bytes: 42,
                taken: t + Duration::from_secs(5)
            })
        );
    }
}
