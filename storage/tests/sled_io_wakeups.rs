//! The vendored sled (`vendor/sled`, `[patch.crates-io]`) writes a flushed buffer on the
//! flushing thread, and wakes one IO thread per job it does hand to its pool.
//!
//! See `vendor/sled/KRAFTD-PATCH.md`. sled 0.34.7 from crates.io handed each sealed buffer to
//! its IO thread pool, waking every idle pool thread (at least 7) with `notify_all`, and the
//! flushing thread then waited to be woken in turn. This counts the voluntary context
//! switches of the `sled-io-*` threads (each time one goes back to sleep, or waits for the
//! disk): per write batch (sled still hands those buffers to the pool) 4.6–4.9 patched,
//! 10.5–10.6 with `notify_all` (each pool write ends in an `fdatasync` since patch item 5, an
//! I/O wait counted as a voluntary switch; before it 2.9 and 8.5–8.7); per plain insert +
//! flush 0 patched, ~2 when the flush goes through the pool. It runs in its
//! own test binary (own process), because the pool is process-wide and other tests'
//! databases would add their writes to the count.
#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::time::{Duration, Instant};

/// Voluntary context switches (each time one goes back to sleep; preemption by other
/// processes is not counted) of every `sled-io-*` thread of this process, and
/// how many such threads there are.
fn sled_io_switches() -> (u64, usize) {
    let mut total = 0;
    let mut threads = 0;
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for task in tasks.flatten() {
        let path = task.path();
        let comm = fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("sled-io") {
            continue;
        }
        threads += 1;
        let status = fs::read_to_string(path.join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line.strip_prefix("voluntary_ctxt_switches:") {
                total += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    (total, threads)
}

/// Waits (with a deadline) until sled's IO pool runs its 7 idle threads; returns how many run.
fn wait_for_pool() -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, threads) = sled_io_switches();
        if threads >= 7 {
            return threads;
        }
        assert!(
            Instant::now() < deadline,
            "sled's IO pool should keep at least 7 threads; {threads} after 10 s"
        );
        std::thread::yield_now();
    }
}

/// Voluntary context switches of the `sled-io-*` threads per call of `op`, over `n` calls.
fn switches_per_call(n: u64, mut op: impl FnMut(u64)) -> f64 {
    let (before, _) = sled_io_switches();
    for i in 0..n {
        op(i);
    }
    let (after, _) = sled_io_switches();
    after.saturating_sub(before) as f64 / n as f64
}

#[test]
fn flushes_write_inline_and_pool_jobs_wake_one_thread() {
    const N: u64 = 300;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = common::open_sled(dir.path());
    // A batch seals sled's buffer before and after its marker and hands each sealed buffer to
    // the pool, which starts it (7 idle threads) on first use.
    let mut warm = sled::Batch::default();
    warm.insert(b"warm-up", b"v".as_slice());
    db.apply_batch(warm).expect("batch");
    db.flush().expect("flush");
    let threads = wait_for_pool();
    let per_batch = switches_per_call(N, |i| {
        let mut batch = sled::Batch::default();
        batch.insert(&i.to_be_bytes(), vec![1u8; 200]);
        db.apply_batch(batch).expect("batch");
        db.flush().expect("flush");
    });
    eprintln!("sled IO threads: {threads}, voluntary context switches per batch: {per_batch:.2}");
    assert!(
        per_batch < 7.5,
        "sled's IO threads switched {per_batch:.1} times per batch with {threads} threads: \
         is vendor/sled (notify_one) still the sled in use?"
    );

    // Plain inserts: the flush writes the one sealed buffer itself, the pool stays asleep.
    let per_flush = switches_per_call(N, |i| {
        db.insert(i.to_be_bytes(), vec![0u8; 200]).expect("insert");
        db.flush().expect("flush");
    });
    eprintln!("voluntary context switches of sled IO threads per insert + flush: {per_flush:.2}");
    assert!(
        per_flush < 0.5,
        "sled's IO threads switched {per_flush:.1} times per flush: does vendor/sled's \
         make_stable still write the buffer on the flushing thread?"
    );
}
