//! Which upstream issued each Responses API response id, so that a follow-up naming it in
//! `previous_response_id` goes where that response is stored. Shared by every worker without
//! a lock: a fixed table of 65,536 atomic slots (512 KiB), each holding a fingerprint of a
//! response id and a hash of the upstream's name, placed by the id's hash. A newer id that
//! lands in a taken slot replaces the older one, so the table remembers about the last
//! 65,536 responses (fewer when ids collide); an id it does not know (evicted, or issued
//! before a restart) routes like any request.

use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};

const SLOTS: usize = 1 << 16;

pub struct ResponseAffinity {
    slots: Box<[AtomicU64]>,
}

impl Default for ResponseAffinity {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn hash(text: &str) -> u64 {
    // Fixed keys: the same id must hash alike on every worker and across reloads.
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(text.as_bytes());
    hasher.finish()
}

/// The slot of an id and the fingerprint stored in it (never 0, the empty slot).
fn place(response_id: &str) -> (usize, u64) {
    let hash = hash(response_id);
    (hash as usize % SLOTS, (hash >> 32) | 1)
}

/// The name hash an upstream is remembered by.
pub fn upstream_key(upstream_name: &str) -> u32 {
    hash(upstream_name) as u32
}

impl ResponseAffinity {
    pub fn remember(&self, response_id: &str, upstream_name: &str) {
        let (slot, fingerprint) = place(response_id);
        let value = (fingerprint << 32) | u64::from(upstream_key(upstream_name));
        self.slots[slot].store(value, Ordering::Relaxed);
    }

    /// The key (`upstream_key`) of the upstream that issued `response_id`, when known.
    pub fn upstream_of(&self, response_id: &str) -> Option<u32> {
        let (slot, fingerprint) = place(response_id);
        let value = self.slots[slot].load(Ordering::Relaxed);
        (value >> 32 == fingerprint).then_some(value as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_issuing_upstream() {
        let affinity = ResponseAffinity::default();
        assert_eq!(affinity.upstream_of("resp_1"), None);
        affinity.remember("resp_1", "primary");
        affinity.remember("resp_2", "backup");
        assert_eq!(
            affinity.upstream_of("resp_1"),
            Some(upstream_key("primary"))
        );
        assert_eq!(affinity.upstream_of("resp_2"), Some(upstream_key("backup")));
        assert_eq!(affinity.upstream_of("resp_3"), None);
    }
}
