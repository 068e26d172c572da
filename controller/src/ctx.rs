//! The handler context: the only window handlers have on the world (STYLE §3).
//!
//! Handlers run on the leader and take `&mut Ctx`; the clock, randomness and new ids come
//! only from here, so a seeded `Ctx` makes every handler decision reproducible in tests.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use uuid::Uuid;

use crate::ids::TopicId;
use crate::limits::Limits;

/// Clock, RNG, id source and resource limits for handlers.
#[derive(Clone, Debug)]
pub struct Ctx {
    rng: StdRng,
    now_ms: i64,
    limits: Limits,
}

impl Ctx {
    /// A context with an RNG seeded from `seed` and the clock at `now_ms`.
    pub fn new(seed: u64, now_ms: i64) -> Self {
        Ctx::from_rng(StdRng::seed_from_u64(seed), now_ms)
    }

    /// A context around an existing RNG (e.g. `StdRng::from_os_rng()` in the service).
    pub fn from_rng(rng: StdRng, now_ms: i64) -> Self {
        Ctx {
            rng,
            now_ms,
            limits: Limits::default(),
        }
    }

    /// The same context enforcing `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The resource limits handlers enforce.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The injected wall-clock time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Set the clock; the service calls this before each handler.
    pub fn set_now_ms(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// The injected RNG (placement shuffles with it).
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// A new random (version 4) topic id; never the nil uuid. The caller checks it is unused.
    pub fn new_topic_id(&mut self) -> TopicId {
        loop {
            let mut bytes = [0u8; 16];
            self.rng.fill_bytes(&mut bytes);
            let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
            if id != Uuid::nil() {
                return TopicId(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_topic_ids() {
        let mut a = Ctx::new(7, 0);
        let mut b = Ctx::new(7, 0);
        assert_eq!(a.new_topic_id(), b.new_topic_id());
        assert_ne!(a.new_topic_id(), Ctx::new(8, 0).new_topic_id());
        assert_eq!(a.new_topic_id().0.get_version_num(), 4);
    }
}
