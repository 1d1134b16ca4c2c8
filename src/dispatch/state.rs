//! Per-worker routing state: the smooth weighted round-robin cursor of each model and the
//! circuit breaker of each target. Plain `Cell`s: one worker thread owns it, no locks.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{Config, Model, ModelId};
use crate::metrics::BreakerState;

pub struct RoutingState {
    /// Per model: nginx's "current weight" per target.
    current_weights: Vec<RefCell<Vec<i64>>>,
    /// Per model, per target.
    breakers: Vec<Vec<Breaker>>,
}

#[derive(Default)]
struct Breaker {
    consecutive_failures: Cell<u32>,
    /// Open until then; once due, each attempt re-arms it, so one probe goes out per cooldown.
    open_until: Cell<Option<Instant>>,
}

/// How a target fared, for its breaker.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TargetHealth {
    Succeeded,
    Failed,
    /// Misconfigured (401/403/404): cool down at once.
    Broken,
}

impl RoutingState {
    pub fn new(config: &Config) -> Self {
        Self {
            current_weights: config
                .models
                .iter()
                .map(|m| RefCell::new(vec![0; m.targets.len()]))
                .collect(),
            breakers: config
                .models
                .iter()
                .map(|m| m.targets.iter().map(|_| Breaker::default()).collect())
                .collect(),
        }
    }

    /// The model's targets in the order to try them: the smooth weighted round-robin pick
    /// first, then the rest by weight, appended to `order`. Targets whose breaker is open go to
    /// `open` instead: the plan tries them only after every other candidate, fallback models'
    /// included. Appended in place: the plan's lists, not two more per request.
    pub fn target_order(
        &self,
        id: ModelId,
        model: &Model,
        now: Instant,
        order: &mut VecDeque<(ModelId, usize)>,
        open: &mut VecDeque<(ModelId, usize)>,
    ) {
        let first = self.pick_weighted(id, model, now);
        order.extend(first.map(|index| (id, index)));
        let (rest_from, open_from) = (order.len(), open.len());
        for index in (0..model.targets.len()).filter(|&index| Some(index) != first) {
            match self.is_open(id, index, now) {
                true => open.push_back((id, index)),
                false => order.push_back((id, index)),
            }
        }
        // Stable: equal weights keep the configured order.
        let by_weight = |&(_, index): &(ModelId, usize)| Reverse(model.targets[index].weight);
        order.make_contiguous()[rest_from..].sort_by_key(by_weight);
        open.make_contiguous()[open_from..].sort_by_key(by_weight);
    }

    /// nginx's smooth weighted round-robin over the targets whose breaker is not open.
    fn pick_weighted(&self, id: ModelId, model: &Model, now: Instant) -> Option<usize> {
        let mut current = self.current_weights[id.0].borrow_mut();
        let mut total = 0i64;
        let mut best: Option<usize> = None;
        for (i, target) in model.targets.iter().enumerate() {
            if self.is_open(id, i, now) {
                continue;
            }
            current[i] += i64::from(target.weight);
            total += i64::from(target.weight);
            if best.is_none_or(|b| current[i] > current[b]) {
                best = Some(i);
            }
        }
        let best = best?;
        current[best] -= total;
        Some(best)
    }

    /// Open: failing and cooling down, or half-open with its one probe out.
    pub fn is_open(&self, id: ModelId, target: usize, now: Instant) -> bool {
        self.breakers[id.0][target]
            .open_until
            .get()
            .is_some_and(|until| now < until)
    }

    /// Called as an attempt starts: an attempt at an open target is its probe, so the
    /// breaker is re-armed and other requests keep skipping it meanwhile.
    pub fn begin_attempt(&self, id: ModelId, target: usize, cooldown: Duration) {
        let breaker = &self.breakers[id.0][target];
        if breaker.open_until.get().is_some() {
            breaker.open_until.set(Some(Instant::now() + cooldown));
        }
    }

    pub fn record(
        &self,
        id: ModelId,
        target: usize,
        health: TargetHealth,
        failures_to_open: u32,
        cooldown: Duration,
    ) {
        let breaker = &self.breakers[id.0][target];
        match health {
            TargetHealth::Succeeded => {
                breaker.consecutive_failures.set(0);
                breaker.open_until.set(None);
            }
            TargetHealth::Failed | TargetHealth::Broken => {
                let failures = breaker.consecutive_failures.get().saturating_add(1);
                breaker.consecutive_failures.set(failures);
                let was_open = breaker.open_until.get().is_some();
                if health == TargetHealth::Broken || was_open || failures >= failures_to_open {
                    breaker.open_until.set(Some(Instant::now() + cooldown));
                }
            }
        }
    }

    /// Each target's breaker (model by model) as the console shows it: open while cooling
    /// down, half-open once the cooldown is over and until a probe succeeds.
    pub fn breaker_states(&self, now: Instant) -> impl Iterator<Item = BreakerState> + '_ {
        self.breakers
            .iter()
            .flatten()
            .map(move |breaker| match breaker.open_until.get() {
                None => BreakerState::Closed,
                Some(until) if now < until => BreakerState::Open,
                Some(_) => BreakerState::HalfOpen,
            })
    }

    /// Targets whose breaker is open now, for metrics.
    pub fn open_breakers(&self, now: Instant) -> usize {
        self.breakers
            .iter()
            .flatten()
            .filter(|b| b.open_until.get().is_some_and(|until| now < until))
            .count()
    }
}

#[cfg(test)]
mod tests;
