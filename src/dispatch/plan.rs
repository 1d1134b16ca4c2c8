//! The plan of attempts for one request and the loop that walks it: the model's targets in
//! weighted order (retrying transient failures on the same target), then its fallback
//! models' targets, then, last and once each, the targets whose breaker is open, until one
//! attempt delivers or all are exhausted. Streams keep the plan after the first byte, so a
//! broken stream continues down the same order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use super::classify::{backoff, Failure, FailureKind};
use super::state::TargetHealth;
use super::Dispatcher;
use crate::config::{Model, ModelId, Target, Upstream};
use crate::error::{AppError, FailureSummary};
use crate::record::AttemptRecord;

/// One target to attempt, with everything an attempt needs to know about it.
#[derive(Clone, Copy)]
pub struct AttemptTarget<'a> {
    pub model_id: ModelId,
    pub model: &'a Model,
    pub index: usize,
    pub target: &'a Target,
    pub upstream: &'a Upstream,
}

/// One attempt: its target's label, when it ran and how it ended.
struct AttemptTimes {
    /// `upstream/upstream-model`, as the Tried list shows it.
    target: Arc<str>,
    started: Instant,
    ended: Option<Instant>,
    failure: Option<(FailureKind, String)>,
    /// Its answer went to the client (a failure after that broke a stream mid-way).
    delivered: bool,
    /// An earlier attempt had delivered: this one continues a broken stream.
    continuation: bool,
}

pub struct AttemptPlan<'a> {
    dispatcher: &'a Dispatcher,
    requested: &'a Model,
    requested_id: ModelId,
    /// The current model's targets not tried yet, in order.
    targets: VecDeque<(ModelId, usize)>,
    fallbacks: VecDeque<ModelId>,
    /// Targets whose breaker is open: after every other candidate, one attempt each.
    open: VecDeque<(ModelId, usize)>,
    /// The fallback models entered so far (the requested one is entered first).
    visited: Vec<ModelId>,
    /// One entry per attempt, in order: the Tried list and the console's timeline.
    timeline: Vec<AttemptTimes>,
    /// The target of the latest attempt (what a failed request's log names).
    last_target: Option<AttemptTarget<'a>>,
    /// The target of the latest attempt that delivered.
    answered_by: Option<AttemptTarget<'a>>,
    last_failure: Option<Failure>,
    /// The upstreams (by id) this request may go to; `None`: all.
    only_upstreams: Option<Vec<bool>>,
}

impl<'a> AttemptPlan<'a> {
    pub(super) fn new(dispatcher: &'a Dispatcher, model: ModelId) -> Self {
        let mut plan = Self {
            dispatcher,
            requested: dispatcher.config.model(model),
            requested_id: model,
            targets: VecDeque::new(),
            fallbacks: VecDeque::new(),
            open: VecDeque::new(),
            visited: Vec::new(),
            timeline: Vec::new(),
            last_target: None,
            answered_by: None,
            last_failure: None,
            only_upstreams: None,
        };
        plan.enter_model(model);
        plan
    }

    fn enter_model(&mut self, id: ModelId) {
        let model = self.dispatcher.config.model(id);
        let now = Instant::now();
        let state = &self.dispatcher.state;
        state.target_order(id, model, now, &mut self.targets, &mut self.open);
        self.fallbacks.extend(model.fallbacks.iter().copied());
    }

    /// The next target to try, moving on to fallback models when the current one is done,
    /// and to the open targets when everything else is; whether it is one of those.
    fn next_target(&mut self) -> Option<(AttemptTarget<'a>, bool)> {
        loop {
            if let Some((model_id, index)) = self.targets.pop_front() {
                if !self.may_use(model_id, index) {
                    continue;
                }
                // Its breaker may have opened since the plan was made (this request's own
                // failures on a fallback's shared upstream, or another request's).
                if self
                    .dispatcher
                    .state
                    .is_open(model_id, index, Instant::now())
                {
                    self.open.push_back((model_id, index));
                    continue;
                }
                return Some((self.attempt_target(model_id, index), false));
            }
            if let Some(next) = self.fallbacks.pop_front() {
                if next != self.requested_id && !self.visited.contains(&next) {
                    self.visited.push(next);
                    self.enter_model(next);
                }
                continue;
            }
            let (model_id, index) = self.open.pop_front()?;
            if !self.may_use(model_id, index) {
                continue;
            }
            return Some((self.attempt_target(model_id, index), true));
        }
    }

    /// Keeps this request to these upstreams (indexed by `UpstreamId`): the others cannot
    /// serve it. Targets skipped this way are not attempts.
    pub fn only_upstreams(&mut self, allowed: Vec<bool>) {
        self.only_upstreams = Some(allowed);
    }

    fn may_use(&self, model_id: ModelId, index: usize) -> bool {
        let Some(allowed) = &self.only_upstreams else {
            return true;
        };
        let upstream = self.dispatcher.config.model(model_id).targets[index].upstream;
        allowed.get(upstream.0).copied().unwrap_or(false)
    }

    fn attempt_target(&self, model_id: ModelId, index: usize) -> AttemptTarget<'a> {
        let config = &*self.dispatcher.config;
        let model = config.model(model_id);
        let target = &model.targets[index];
        AttemptTarget {
            model_id,
            model,
            index,
            target,
            upstream: config.upstream(target.upstream),
        }
    }

    /// Context too long: the rest of this model's targets would fail the same way.
    fn skip_to_fallbacks(&mut self, model: ModelId) {
        self.targets.retain(|(id, _)| *id != model);
        self.open.retain(|(id, _)| *id != model);
    }

    /// Runs attempts until one delivers (a success, or an answer that is the client's own
    /// fault) or the plan is exhausted.
    pub async fn run<T>(
        &mut self,
        mut attempt: impl AsyncFnMut(&AttemptTarget<'a>) -> Result<T, Failure>,
    ) -> Result<(T, AttemptTarget<'a>), AppError> {
        while let Some((target, was_open)) = self.next_target() {
            let policy = &target.model.routing;
            let state = &self.dispatcher.state;
            let mut retry = 0;
            let mut restarted = false;
            loop {
                state.begin_attempt(target.model_id, target.index, policy.breaker_cooldown);
                self.timeline.push(AttemptTimes {
                    target: target.target.label.clone(),
                    started: Instant::now(),
                    ended: None,
                    failure: None,
                    delivered: false,
                    continuation: self.answered_by.is_some(),
                });
                self.last_target = Some(target);
                let failure = match attempt(&target).await {
                    Ok(delivered) => {
                        self.record(&target, TargetHealth::Succeeded);
                        if let Some(times) = self.timeline.last_mut() {
                            times.delivered = true;
                        }
                        self.answered_by = Some(target);
                        return Ok((delivered, target));
                    }
                    Err(failure) => failure,
                };
                let kind = failure.kind;
                self.record_failure(&target, failure);
                // An open breaker (opened by this failure, or the target was tried as a
                // last resort) means no more attempts here: other requests are skipping it.
                let open = was_open || state.is_open(target.model_id, target.index, Instant::now());
                match kind {
                    FailureKind::Transient { retry_after } if retry < policy.retries && !open => {
                        let delay = match retry_after {
                            Some(delay) if delay > policy.max_retry_after => break,
                            Some(delay) => delay,
                            None => backoff(policy.backoff_base, policy.backoff_max, retry),
                        };
                        monoio::time::sleep(delay).await;
                        retry += 1;
                    }
                    // The attempt closure sends the same target a restart this time.
                    FailureKind::PrefillRefused if !restarted => restarted = true,
                    FailureKind::TooLong => {
                        self.skip_to_fallbacks(target.model_id);
                        break;
                    }
                    _ => break,
                }
            }
        }
        Err(AppError::AllUpstreamsFailed(self.summary()))
    }

    /// A failed attempt, or a stream that broke after its attempt had delivered: the
    /// target's breaker hears of it, and it becomes the "Last error" of the summary.
    pub fn record_failure(&mut self, target: &AttemptTarget<'_>, failure: Failure) {
        let health = match failure.kind {
            FailureKind::Misconfigured => TargetHealth::Broken,
            // The upstream answered properly; the request is what it would not take.
            FailureKind::TooLong | FailureKind::Refused | FailureKind::PrefillRefused => {
                TargetHealth::Succeeded
            }
            _ => TargetHealth::Failed,
        };
        self.record(target, health);
        if let Some(times) = self.timeline.last_mut() {
            times.ended = Some(Instant::now());
            times.failure = Some((failure.kind, failure.message.clone()));
        }
        self.last_failure = Some(failure);
    }

    /// A stream that broke and could not be continued: `failure` is what ended it.
    pub fn interrupted_by(&mut self, failure: Failure) -> FailureSummary {
        self.last_failure = Some(failure);
        self.summary()
    }

    /// How many attempts were made so far.
    pub fn attempts(&self) -> usize {
        self.timeline.len()
    }

    /// The target the request's row names: the one that last delivered, or else the last one
    /// tried.
    pub fn named_target(&self) -> Option<&AttemptTarget<'a>> {
        self.answered_by.as_ref().or(self.last_target.as_ref())
    }

    pub fn last_failure(&self) -> Option<&Failure> {
        self.last_failure.as_ref()
    }

    /// The attempts with their timing and outcome, times in ms after `origin` (when the
    /// request arrived); an attempt still open (the one that answered) ends now.
    pub fn timeline(&self, origin: Instant) -> Vec<AttemptRecord> {
        let now = Instant::now();
        let since = |at: Instant| at.saturating_duration_since(origin).as_secs_f64() * 1000.0;
        self.timeline
            .iter()
            .map(|times| {
                let ended = times.ended.unwrap_or(now);
                let (outcome, error) = match &times.failure {
                    Some((kind, message)) => (kind.name(), Some(message.clone())),
                    None => ("ok", None),
                };
                AttemptRecord {
                    target: times.target.clone(),
                    start_ms: since(times.started),
                    duration_ms: since(ended) - since(times.started),
                    outcome,
                    error,
                    mid_stream: times.delivered && times.failure.is_some(),
                    continuation: times.continuation,
                }
            })
            .collect()
    }

    /// `upstream/upstream-model` of each attempt, in order.
    pub fn tried(&self) -> impl Iterator<Item = Arc<str>> + '_ {
        self.timeline.iter().map(|times| times.target.clone())
    }

    fn record(&self, target: &AttemptTarget<'_>, health: TargetHealth) {
        let policy = &target.model.routing;
        self.dispatcher.state.record(
            target.model_id,
            target.index,
            health,
            policy.breaker_failures,
            policy.breaker_cooldown,
        );
    }

    /// What was tried, for the exhaustion and stream-interruption errors.
    pub fn summary(&self) -> FailureSummary {
        let last = self.last_failure.as_ref();
        FailureSummary {
            model: self.requested.name.clone(),
            tried: self.tried().collect(),
            last_error: last
                .map_or_else(|| "no target could be tried".into(), |f| f.message.clone()),
            last_was_timeout: last.is_some_and(Failure::is_timeout),
        }
    }
}

#[cfg(test)]
mod tests;
