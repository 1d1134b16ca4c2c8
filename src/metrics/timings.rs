//! Live figures for the console, kept beside the Prometheus counters: latency and TTFT
//! per (model, upstream) cell in log-scale buckets fine enough for percentiles (4 per
//! doubling, ≤ 19% wide), and each target's breaker state as its worker last sampled it.
//! Written by one worker (relaxed atomics), summed by the console's sampler.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::time::Duration;

/// Buckets: one below 64 µs, then 4 per power of two up to 2^28 µs (268 s), the last open.
pub const FINE_BUCKETS: usize = 1 + 4 * (28 - 6);
const FIRST_POWER: u32 = 6;

/// The bucket of a duration.
pub fn fine_bucket(elapsed: Duration) -> usize {
    let micros = elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
    if micros < 1 << FIRST_POWER {
        return 0;
    }
    let power = 63 - micros.leading_zeros();
    let quarter = ((micros >> (power - 2)) & 3) as usize;
    (1 + (power - FIRST_POWER) as usize * 4 + quarter).min(FINE_BUCKETS - 1)
}

/// The middle of a bucket, in milliseconds (what a percentile in it reads as).
pub fn fine_bucket_middle_ms(bucket: usize) -> f64 {
    if bucket == 0 {
        return f64::from(1u32 << FIRST_POWER) / 2000.0;
    }
    let power = (bucket - 1) / 4 + FIRST_POWER as usize;
    let quarter = ((bucket - 1) % 4) as f64;
    let step = (1u64 << (power - 2)) as f64;
    (4.0 + quarter + 0.5) * step / 1000.0
}

/// Latency and TTFT buckets of one cell.
pub struct CellTimings {
    pub latency: [AtomicU64; FINE_BUCKETS],
    pub ttft: [AtomicU64; FINE_BUCKETS],
}

impl Default for CellTimings {
    fn default() -> Self {
        Self {
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            ttft: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl CellTimings {
    pub fn observe(&self, latency: Duration, ttft: Option<Duration>) {
        self.latency[fine_bucket(latency)].fetch_add(1, Relaxed);
        if let Some(ttft) = ttft {
            self.ttft[fine_bucket(ttft)].fetch_add(1, Relaxed);
        }
    }
}

/// A target's circuit breaker as the console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    /// Cooling down: the target gets no traffic but a last resort.
    Open = 1,
    /// Cooldown over: the next request probes it.
    HalfOpen = 2,
}

impl BreakerState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    fn from_code(code: u8) -> Self {
        match code {
            1 => Self::Open,
            2 => Self::HalfOpen,
            _ => Self::Closed,
        }
    }
}

/// Each target's breaker state on one worker (targets numbered model by model).
#[derive(Default)]
pub struct BreakerStates(Vec<AtomicU8>);

impl BreakerStates {
    pub fn new(targets: usize) -> Self {
        Self((0..targets).map(|_| AtomicU8::new(0)).collect())
    }

    pub fn set(&self, target: usize, state: BreakerState) {
        if let Some(slot) = self.0.get(target) {
            slot.store(state as u8, Relaxed);
        }
    }

    pub fn get(&self, target: usize) -> BreakerState {
        self.0.get(target).map_or(BreakerState::Closed, |slot| {
            BreakerState::from_code(slot.load(Relaxed))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_a_quarter_of_a_doubling_wide() {
        let bucket = |micros| fine_bucket(Duration::from_micros(micros));
        assert_eq!(bucket(10), 0);
        assert_eq!(bucket(64), 1);
        assert_eq!(bucket(79), 1);
        assert_eq!(bucket(80), 2);
        assert_eq!(bucket(128), 5);
        assert_eq!(bucket(u64::MAX), FINE_BUCKETS - 1);
        for micros in [100u64, 1_000, 12_345, 250_000, 3_000_000] {
            let middle = fine_bucket_middle_ms(bucket(micros)) * 1000.0;
            let error = (middle - micros as f64).abs() / micros as f64;
            assert!(error < 0.15, "{micros} µs reads as {middle} µs");
        }
    }
}
