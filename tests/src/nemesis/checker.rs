//! Checks over a history: linearizability of per-key registers (a Wing–Gong search with
//! memoisation, as Porcupine and Knossos do), monotonic epochs, disjoint producer-id blocks
//! and acknowledged writes present in the final image.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use super::history::{Entry, Op, Outcome, PartitionObs};

/// One operation as the linearizability search sees it.
#[derive(Clone, Debug)]
pub struct LinOp<O> {
    /// Invocation time.
    pub invoke: u64,
    /// Completion time; `None` when the outcome is unknown (it may take effect any time
    /// after `invoke`, or never).
    pub complete: Option<u64>,
    /// The operation and its result.
    pub op: O,
}

/// Searches for a linearization of `ops` from `init` where `step(state, op)` lists the
/// states `op` may lead to (empty: `op` cannot happen in `state`). `Err` says why not, or
/// that the search gave up after `budget` states.
///
/// The search recurses once per linearized operation, so it runs on its own thread with a
/// stack for [`SEARCH_STACK_BYTES`]: a long run's config history has thousands of operations,
/// more than a test thread's 2 MiB hold in a debug build.
pub fn linearizable<S, O>(
    init: S,
    ops: &[LinOp<O>],
    step: impl Fn(&S, &O) -> Vec<S> + Send,
    budget: usize,
) -> Result<(), String>
where
    S: Clone + Eq + Hash + Send,
    O: Sync,
{
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("linearizability".into())
            .stack_size(SEARCH_STACK_BYTES)
            .spawn_scoped(scope, move || search(init, ops, step, budget))
            .map_err(|e| format!("could not start the linearizability search: {e}"))?
            .join()
            .map_err(|_| "the linearizability search panicked".to_string())?
    })
}

/// Address space reserved for the search's stack (pages are only used as it goes deep).
pub const SEARCH_STACK_BYTES: usize = 1 << 30;

fn search<S, O>(
    init: S,
    ops: &[LinOp<O>],
    step: impl Fn(&S, &O) -> Vec<S>,
    budget: usize,
) -> Result<(), String>
where
    S: Clone + Eq + Hash,
{
    struct Search<'a, S, O, F> {
        ops: &'a [LinOp<O>],
        step: F,
        seen: HashSet<(Vec<u64>, S)>,
        budget: usize,
        deepest: usize,
    }
    impl<S: Clone + Eq + Hash, O, F: Fn(&S, &O) -> Vec<S>> Search<'_, S, O, F> {
        fn go(&mut self, done: &mut Vec<u64>, count: usize, state: &S) -> Result<bool, ()> {
            if count == self.ops.len() {
                return Ok(true);
            }
            self.deepest = self.deepest.max(count);
            let undone = |i: usize, done: &Vec<u64>| done[i / 64] & (1 << (i % 64)) == 0;
            // An operation can go next only if no other pending operation completed before
            // it was invoked.
            let horizon = (0..self.ops.len())
                .filter(|&i| undone(i, done))
                .filter_map(|i| self.ops[i].complete)
                .min()
                .unwrap_or(u64::MAX);
            for i in 0..self.ops.len() {
                if !undone(i, done) || self.ops[i].invoke > horizon {
                    continue;
                }
                for next in (self.step)(state, &self.ops[i].op) {
                    done[i / 64] |= 1 << (i % 64);
                    let fresh = self.seen.insert((done.clone(), next.clone()));
                    if fresh {
                        if self.seen.len() > self.budget {
                            return Err(());
                        }
                        if self.go(done, count + 1, &next)? {
                            return Ok(true);
                        }
                    }
                    done[i / 64] &= !(1 << (i % 64));
                }
            }
            Ok(false)
        }
    }
    let mut search = Search {
        ops,
        step,
        seen: HashSet::new(),
        budget,
        deepest: 0,
    };
    let mut done = vec![0u64; ops.len().div_ceil(64).max(1)];
    match search.go(&mut done, 0, &init) {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!(
            "not linearizable: at most {} of {} operations linearize",
            search.deepest,
            ops.len()
        )),
        Err(()) => Err(format!(
            "search gave up after {budget} states ({} operations)",
            ops.len()
        )),
    }
}

fn lin_interval(e: &Entry) -> (u64, Option<u64>) {
    match e.outcome {
        Outcome::Unknown(_) => (e.invoke, None),
        _ => (e.invoke, Some(e.complete)),
    }
}

/// A write on a contended topic, with how sure we are that it happened.
#[derive(Clone, Debug)]
pub enum TopicOp {
    /// Create with this many partitions; `sure` = acknowledged.
    Create { partitions: u32, sure: bool },
    /// Delete.
    Delete { sure: bool },
    /// Grow to `count` partitions.
    Grow { count: u32, sure: bool },
    /// A read that saw this (None = absent).
    Read(Option<u32>),
}

/// The topic register: `None` = absent, `Some(n)` = exists with `n` partitions.
pub fn topic_step(s: &Option<u32>, op: &TopicOp) -> Vec<Option<u32>> {
    let (effect, sure) = match *op {
        TopicOp::Read(seen) => return if *s == seen { vec![*s] } else { vec![] },
        TopicOp::Create { partitions, sure } => (s.is_none().then_some(Some(partitions)), sure),
        TopicOp::Delete { sure } => (s.is_some().then_some(None), sure),
        TopicOp::Grow { count, sure } => (s.filter(|c| *c < count).map(|_| Some(count)), sure),
    };
    match (effect, sure) {
        (Some(next), true) => vec![next],
        (None, true) => vec![],
        (Some(next), false) => vec![next, *s],
        (None, false) => vec![*s],
    }
}

/// A write or read of the cluster-wide config register.
#[derive(Clone, Debug)]
pub enum ConfigOp {
    /// Set to this value; `sure` = acknowledged.
    Set { value: String, sure: bool },
    /// A read that saw this.
    Read(Option<String>),
}

/// The config register.
pub fn config_step(s: &Option<String>, op: &ConfigOp) -> Vec<Option<String>> {
    match op {
        ConfigOp::Read(seen) => {
            if s == seen {
                vec![s.clone()]
            } else {
                vec![]
            }
        }
        ConfigOp::Set { value, sure: true } => vec![Some(value.clone())],
        ConfigOp::Set { value, sure: false } => vec![Some(value.clone()), s.clone()],
    }
}

/// Per contended topic name, its operations for the search (failed reads left out).
pub fn topic_histories(entries: &[Entry]) -> BTreeMap<String, Vec<LinOp<TopicOp>>> {
    let mut by_key: BTreeMap<String, Vec<LinOp<TopicOp>>> = BTreeMap::new();
    for e in entries {
        let sure = e.outcome == Outcome::Ok;
        let (name, op) = match (&e.op, &e.outcome) {
            (Op::ReadTopic { name }, Outcome::Topic(seen)) => (name, TopicOp::Read(*seen)),
            (Op::ReadTopic { .. }, _) => continue,
            (Op::CreateTopic { name, partitions }, _) => (
                name,
                TopicOp::Create {
                    partitions: *partitions,
                    sure,
                },
            ),
            (Op::DeleteTopic { name }, _) => (name, TopicOp::Delete { sure }),
            (Op::CreatePartitions { name, count }, _) => (
                name,
                TopicOp::Grow {
                    count: *count,
                    sure,
                },
            ),
            _ => continue,
        };
        let (invoke, complete) = lin_interval(e);
        by_key.entry(name.clone()).or_default().push(LinOp {
            invoke,
            complete,
            op,
        });
    }
    by_key
}

/// The config register's operations for the search (failed reads left out).
pub fn config_history(entries: &[Entry]) -> Vec<LinOp<ConfigOp>> {
    entries
        .iter()
        .filter_map(|e| {
            let op = match (&e.op, &e.outcome) {
                (Op::ReadConfig, Outcome::Config(v)) => ConfigOp::Read(v.clone()),
                (Op::SetConfig { value }, o) => ConfigOp::Set {
                    value: value.to_string(),
                    sure: *o == Outcome::Ok,
                },
                _ => return None,
            };
            let (invoke, complete) = lin_interval(e);
            Some(LinOp {
                invoke,
                complete,
                op,
            })
        })
        .collect()
}

/// Leader and partition epochs never go backwards: an observation that began after another
/// one completed shows epochs at least as high (per topic id and partition).
pub fn check_epochs(entries: &[Entry]) -> Result<usize, String> {
    // (topic id, partition) → (invoke, complete, observation).
    type Timed<'a> = (u64, u64, &'a PartitionObs);
    let mut by_part: BTreeMap<(String, i32), Vec<Timed<'_>>> = BTreeMap::new();
    for e in entries {
        for o in &e.observed {
            by_part
                .entry((o.topic_id.clone(), o.partition))
                .or_default()
                .push((e.invoke, e.complete, o));
        }
    }
    let mut checked = 0;
    for ((topic, p), mut obs) in by_part {
        // Sweep in invocation order, keeping the highest epochs of everything completed
        // before the current invocation.
        let mut completed: Vec<(u64, i32, i32)> = obs
            .iter()
            .map(|(_, c, o)| (*c, o.leader_epoch, o.partition_epoch))
            .collect();
        completed.sort();
        obs.sort_by_key(|(i, _, _)| *i);
        let (mut k, mut max_le, mut max_pe) = (0, i32::MIN, i32::MIN);
        for (invoke, _, o) in &obs {
            while k < completed.len() && completed[k].0 < *invoke {
                max_le = max_le.max(completed[k].1);
                max_pe = max_pe.max(completed[k].2);
                k += 1;
            }
            if o.leader_epoch < max_le || o.partition_epoch < max_pe {
                return Err(format!(
                    "{topic}/{p}: observed leader epoch {} / partition epoch {} after {max_le} / \
                     {max_pe} had been observed",
                    o.leader_epoch, o.partition_epoch
                ));
            }
            checked += 1;
        }
    }
    Ok(checked)
}

/// No producer id is in two acknowledged blocks.
pub fn check_producer_ids(entries: &[Entry]) -> Result<usize, String> {
    let mut blocks: Vec<(i64, i32)> = entries
        .iter()
        .filter_map(|e| match e.outcome {
            Outcome::Pids { start, len } => Some((start, len)),
            _ => None,
        })
        .collect();
    blocks.sort();
    for w in blocks.windows(2) {
        if w[0].0 + i64::from(w[0].1) > w[1].0 {
            return Err(format!(
                "producer-id blocks overlap: {:?} and {:?}",
                w[0], w[1]
            ));
        }
    }
    Ok(blocks.len())
}

/// The parts of the final image the durability check reads.
#[derive(Clone, Debug, Default)]
pub struct FinalImage {
    /// Topic name → (topic id, partition index → partition epoch).
    pub topics: BTreeMap<String, (String, BTreeMap<i32, i32>)>,
    /// Broker id → broker epoch.
    pub brokers: BTreeMap<i32, i64>,
}

/// Every acknowledged durable write is in the final image: created durable topics with
/// their ids, acknowledged ISR changes (partition epoch at least the acknowledged one),
/// registrations (broker epoch at least the acknowledged one). Returns how many were checked.
pub fn check_durable(entries: &[Entry], image: &FinalImage) -> Result<usize, String> {
    let mut lost = Vec::new();
    let mut checked = 0;
    for e in entries {
        match (&e.op, &e.outcome) {
            (Op::CreateDurable { name }, Outcome::Created(id)) => {
                checked += 1;
                if image.topics.get(name).map(|t| &t.0) != Some(id) {
                    lost.push(format!("topic {name} ({id})"));
                }
            }
            (Op::AlterPartition { name, partition }, Outcome::Ok) => {
                checked += 1;
                // The acknowledged state is the last observation of the partition.
                let acked = e
                    .observed
                    .iter()
                    .rev()
                    .find(|o| o.partition == *partition)
                    .map_or(0, |o| o.partition_epoch);
                let have = image
                    .topics
                    .get(name)
                    .and_then(|t| t.1.get(partition))
                    .copied();
                if have.is_none_or(|h| h < acked) {
                    lost.push(format!(
                        "ISR change of {name}/{partition} at partition epoch {acked} (final {have:?})"
                    ));
                }
            }
            (Op::RegisterBroker { id }, Outcome::Registered(epoch)) => {
                checked += 1;
                if image.brokers.get(id).is_none_or(|have| have < epoch) {
                    lost.push(format!("registration of broker {id} at epoch {epoch}"));
                }
            }
            _ => {}
        }
    }
    if lost.is_empty() {
        Ok(checked)
    } else {
        Err(format!(
            "{} acknowledged writes lost: {}",
            lost.len(),
            lost.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op<O>(invoke: u64, complete: Option<u64>, op: O) -> LinOp<O> {
        LinOp {
            invoke,
            complete,
            op,
        }
    }

    #[test]
    fn a_lost_acknowledged_create_is_not_linearizable() {
        let h = vec![
            op(
                0,
                Some(10),
                TopicOp::Create {
                    partitions: 1,
                    sure: true,
                },
            ),
            op(20, Some(30), TopicOp::Read(None)),
        ];
        assert!(linearizable(None, &h, topic_step, 10_000).is_err());
    }

    #[test]
    fn an_unknown_write_may_take_effect_late_but_not_before_its_invocation() {
        let create = op(
            0,
            Some(10),
            TopicOp::Create {
                partitions: 2,
                sure: true,
            },
        );
        let seen = op(20, Some(30), TopicOp::Read(Some(2)));
        let gone = op(40, Some(50), TopicOp::Read(None));
        let h = vec![create.clone(), seen.clone(), gone.clone()];
        assert!(linearizable(None, &h, topic_step, 10_000).is_err());
        let early = op(0, None, TopicOp::Delete { sure: false });
        let h = vec![early, create.clone(), seen.clone(), gone.clone()];
        assert!(linearizable(None, &h, topic_step, 10_000).is_ok());
        let late = op(60, None, TopicOp::Delete { sure: false });
        let h = vec![create, seen, gone, late];
        assert!(linearizable(None, &h, topic_step, 10_000).is_err());
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let h = vec![
            op(
                0,
                Some(5),
                ConfigOp::Set {
                    value: "1".into(),
                    sure: true,
                },
            ),
            op(
                6,
                Some(9),
                ConfigOp::Set {
                    value: "2".into(),
                    sure: true,
                },
            ),
            op(10, Some(12), ConfigOp::Read(Some("1".into()))),
        ];
        assert!(linearizable(None, &h, config_step, 10_000).is_err());
        let mut ok = h.clone();
        ok[2].invoke = 7;
        assert!(linearizable(None, &ok, config_step, 10_000).is_ok());
    }

    fn entry(invoke: u64, complete: u64, le: i32, pe: i32) -> Entry {
        Entry {
            client: 0,
            op: Op::ReadDurable { name: "d".into() },
            invoke,
            complete,
            outcome: Outcome::Ok,
            observed: vec![PartitionObs {
                topic_id: "id".into(),
                partition: 0,
                leader_epoch: le,
                partition_epoch: pe,
            }],
        }
    }

    #[test]
    fn a_history_of_many_thousand_operations_does_not_overflow_the_stack() {
        // Sequential writes to one key: the search goes one level deeper per operation.
        let h: Vec<LinOp<ConfigOp>> = (0..8_000u64)
            .map(|i| {
                let value = i.to_string();
                op(2 * i, Some(2 * i + 1), ConfigOp::Set { value, sure: true })
            })
            .collect();
        assert!(linearizable(None, &h, config_step, 1_000_000).is_ok());
    }

    #[test]
    fn epochs_going_backwards_are_caught() {
        assert!(check_epochs(&[entry(0, 5, 1, 3), entry(6, 9, 1, 2)]).is_err());
        assert!(check_epochs(&[entry(0, 5, 2, 3), entry(6, 9, 1, 3)]).is_err());
        // Overlapping reads may see either order.
        assert_eq!(check_epochs(&[entry(0, 5, 1, 3), entry(4, 9, 1, 2)]), Ok(2));
    }

    #[test]
    fn overlapping_producer_id_blocks_are_caught() {
        let pids = |start, len| Entry {
            client: 0,
            op: Op::AllocatePids { broker: 1 },
            invoke: 0,
            complete: 1,
            outcome: Outcome::Pids { start, len },
            observed: vec![],
        };
        assert_eq!(
            check_producer_ids(&[pids(0, 1000), pids(1000, 1000)]),
            Ok(2)
        );
        assert!(check_producer_ids(&[pids(0, 1000), pids(999, 1000)]).is_err());
    }
}
