//! Whether the database is reachable now: retry timing with capped exponential backoff, the
//! probes that find out while nothing is written, and the outage's log lines (one when it
//! starts, one when it ends).

use std::time::{Duration, Instant};

use gpt_api_common::log::{self, Value};

const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);
/// How long the database may go unasked while it is up: an idle gateway still notices
/// (within this and one connect timeout) that it went away.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);

pub(super) struct DatabaseHealth {
    /// Set while the database is failing: no call before this time.
    retry_at: Option<Instant>,
    retry_delay: Duration,
    /// When the current outage began.
    outage_since: Option<Instant>,
    /// When the database last answered.
    answered_at: Instant,
}

/// How much is waiting, for the outage's log lines.
pub(super) struct Backlog {
    pub buffered: usize,
    pub spilled: u64,
}

impl DatabaseHealth {
    /// `connected`: whether the database was reached at start-up.
    pub(super) fn new(connected: bool) -> Self {
        let now = Instant::now();
        Self {
            retry_at: (!connected).then(|| now + FIRST_RETRY),
            retry_delay: FIRST_RETRY,
            outage_since: (!connected).then_some(now),
            answered_at: now,
        }
    }

    /// The last call succeeded (or none failed yet).
    pub(super) fn is_up(&self) -> bool {
        self.retry_at.is_none()
    }

    /// When the next call may be made: now when the database is up.
    pub(super) fn ready_at(&self, now: Instant) -> Instant {
        self.retry_at.unwrap_or(now)
    }

    pub(super) fn may_call(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }

    /// When to ask the database whether it is there, if nothing else does: at the next
    /// retry while it is down, `PROBE_INTERVAL` after its last answer while it is up.
    pub(super) fn probe_at(&self) -> Instant {
        self.retry_at.unwrap_or(self.answered_at + PROBE_INTERVAL)
    }

    pub(super) fn succeeded(&mut self, backlog: Backlog) {
        self.answered_at = Instant::now();
        self.retry_at = None;
        self.retry_delay = FIRST_RETRY;
        if let Some(since) = self.outage_since.take() {
            log::info(
                "log_db_recovered",
                &[
                    ("down_ms", Value::Int(since.elapsed().as_millis() as u64)),
                    ("buffered", Value::Int(backlog.buffered as u64)),
                    ("spilled", Value::Int(backlog.spilled)),
                ],
            );
        }
    }

    pub(super) fn failed(&mut self, error: &str, backlog: Backlog) {
        let now = Instant::now();
        self.retry_at = Some(now + self.retry_delay);
        self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
        if self.outage_since.is_none() {
            self.outage_since = Some(now);
            log::warn(
                "log_db_unavailable",
                &[
                    ("error", Value::Str(error)),
                    ("buffered", Value::Int(backlog.buffered as u64)),
                    ("spilled", Value::Int(backlog.spilled)),
                ],
            );
        }
    }
}
