//! Choosing where a request goes: the plan of attempts (targets by smooth weighted
//! round-robin, then fallback models), failure classes, and per-worker breaker state.

mod affinity;
mod classify;
mod plan;
mod state;

use std::sync::Arc;

pub use affinity::{upstream_key, ResponseAffinity};
pub use classify::{
    classify_body_error, classify_continuation_answer, classify_send_error, classify_status,
    Failure, FailureKind,
};
pub use plan::{AttemptPlan, AttemptTarget};
use state::RoutingState;

use crate::config::{Config, ModelId};
use crate::metrics::BreakerState;

/// One per worker: the config it routes by and its own routing state.
pub struct Dispatcher {
    config: Arc<Config>,
    state: RoutingState,
}

impl Dispatcher {
    pub fn new(config: Arc<Config>) -> Self {
        let state = RoutingState::new(&config);
        Self { config, state }
    }

    pub fn plan(&self, model: ModelId) -> AttemptPlan<'_> {
        AttemptPlan::new(self, model)
    }

    pub fn open_breakers(&self) -> usize {
        self.state.open_breakers(std::time::Instant::now())
    }

    /// Each target's breaker, model by model.
    pub fn breaker_states(&self) -> impl Iterator<Item = BreakerState> + '_ {
        self.state.breaker_states(std::time::Instant::now())
    }
}
