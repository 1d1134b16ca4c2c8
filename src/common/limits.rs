//! The per-key counters behind rate limits and budgets, shared by every worker (admission)
//! and the logging thread (settlement): atomics only, no lock on the request path.
//!
//! Rates (`rpm`, `tpm`) count in fixed one-minute windows aligned to the UTC clock, each
//! counter one `AtomicU64` holding the window's number and what it used, changed by
//! compare-and-swap: a key's limit holds exactly across all cores, and every process of a
//! fleet agrees on the windows without talking. Spend counts per budget period (UTC day,
//! ISO week from Monday, calendar month); only the logging thread adds to it, when it has
//! read an answer's usage.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use crate::time::{civil_from_days, days_from_civil, unix_seconds};

/// A model's price in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    /// Cached prompt tokens (`usage.prompt_tokens_details.cached_tokens`); the input price
    /// when not set.
    pub cached_input_per_mtok: Option<f64>,
}

impl Price {
    /// What an answer's usage cost, in USD.
    pub fn cost(&self, prompt: u64, cached: u64, completion: u64) -> f64 {
        let cached = cached.min(prompt);
        let cached_price = self.cached_input_per_mtok.unwrap_or(self.input_per_mtok);
        ((prompt - cached) as f64 * self.input_per_mtok
            + cached as f64 * cached_price
            + completion as f64 * self.output_per_mtok)
            / 1e6
    }
}

/// A budget's period, in UTC and aligned to the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    /// Monday 00:00 UTC to the next Monday.
    Week,
    Month,
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// The period holding `at`: its number, start and end (Unix seconds).
    pub fn bounds(self, at: SystemTime) -> (u64, u64, u64) {
        let days = (unix_seconds(at) / 86_400) as i64;
        let (number, first, next) = match self {
            Self::Day => (days, days, days + 1),
            Self::Week => {
                // 1970-01-01 was a Thursday: Monday-aligned weeks start 3 days earlier.
                let week = (days + 3).div_euclid(7);
                (week, week * 7 - 3, week * 7 + 4)
            }
            Self::Month => {
                let (year, month, _) = civil_from_days(days);
                let (next_year, next_month) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                (
                    year * 12 + i64::from(month),
                    days_from_civil(year, month, 1),
                    days_from_civil(next_year, next_month, 1),
                )
            }
        };
        let seconds = |days: i64| days.max(0) as u64 * 86_400;
        (number.max(0) as u64, seconds(first), seconds(next))
    }
}

/// What a budget counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BudgetAmount {
    Usd(f64),
    Tokens(u64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub amount: BudgetAmount,
    pub period: Period,
}

/// The minute window holding `at`, and the seconds left in it (at least 1 ms, as seconds).
pub fn minute_window(at: SystemTime) -> (u32, f64) {
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let window = (since.as_secs() / 60) as u32;
    let left = 60.0 - (since.as_secs() % 60) as f64 - f64::from(since.subsec_millis()) / 1000.0;
    (window, left.max(0.001))
}

/// One rate's use in the current minute: `(window << 32) | used`, changed by CAS.
#[derive(Debug, Default)]
pub struct WindowCounter(AtomicU64);

fn pack(window: u32, used: u64) -> u64 {
    (u64::from(window) << 32) | used.min(u64::from(u32::MAX))
}

fn unpack(word: u64) -> (u32, u64) {
    ((word >> 32) as u32, word & u64::from(u32::MAX))
}

impl WindowCounter {
    /// What `window` has used so far (0 when the counter is in an older window).
    pub fn used(&self, window: u32) -> u64 {
        let (at, used) = unpack(self.0.load(Ordering::Acquire));
        if at == window {
            used
        } else {
            0
        }
    }

    /// Takes `amount` when the window's use stays within `limit`: the use after it, or the
    /// use that refused it.
    pub fn try_take(&self, window: u32, amount: u64, limit: u64) -> Result<u64, u64> {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            let (at, used) = unpack(current);
            let used = if at == window { used } else { 0 };
            if used + amount > limit {
                return Err(used);
            }
            let next = pack(window, used + amount);
            match self
                .0
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(used + amount),
                Err(actual) => current = actual,
            }
        }
    }

    /// Corrects `window`'s use by `delta` (settlement, or giving back a refused request's
    /// share); nothing once the window is over.
    pub fn adjust(&self, window: u32, delta: i64) {
        let _ = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |current| {
                let (at, used) = unpack(current);
                (at == window).then(|| pack(at, used.saturating_add_signed(delta)))
            });
    }
}

/// Spend in one budget period: nano-USD and tokens. Written by one thread at a time (the
/// logging thread; restore before the workers start), read by any.
#[derive(Debug, Default)]
pub struct PeriodSpend {
    period: AtomicU64,
    nano_usd: AtomicU64,
    tokens: AtomicU64,
}

impl PeriodSpend {
    /// (USD, tokens) spent in period `number` (nothing when the counter is in another).
    pub fn spent(&self, number: u64) -> (f64, u64) {
        if self.period.load(Ordering::Acquire) != number {
            return (0.0, 0);
        }
        let nano = self.nano_usd.load(Ordering::Relaxed);
        (nano as f64 / 1e9, self.tokens.load(Ordering::Relaxed))
    }

    /// Adds to period `number`'s spend, starting it from zero if it is new; returns the
    /// nano-USD added.
    pub fn add(&self, number: u64, usd: f64, tokens: u64) -> u64 {
        if self.period.load(Ordering::Acquire) != number {
            self.set(number, 0, 0);
        }
        let nano = nano_usd(usd);
        self.nano_usd.fetch_add(nano, Ordering::Relaxed);
        self.tokens.fetch_add(tokens, Ordering::Relaxed);
        nano
    }

    /// The fleet's total for period `number` (read from Redis), in place of this process's.
    pub fn set(&self, number: u64, nano_usd: u64, tokens: u64) {
        self.nano_usd.store(nano_usd, Ordering::Relaxed);
        self.tokens.store(tokens, Ordering::Relaxed);
        self.period.store(number, Ordering::Release);
    }
}

/// USD in nano-USD, the unit spend is counted in (exact sums across processes).
pub fn nano_usd(usd: f64) -> u64 {
    (usd.max(0.0) * 1e9).round() as u64
}

impl PeriodSpend {
    /// (nano-USD, tokens) spent in period `number`.
    pub fn spent_exact(&self, number: u64) -> (u64, u64) {
        if self.period.load(Ordering::Acquire) != number {
            return (0, 0);
        }
        (
            self.nano_usd.load(Ordering::Relaxed),
            self.tokens.load(Ordering::Relaxed),
        )
    }
}

/// Why a request was refused, for `gpt_api_ratelimited_total{kind}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Requests,
    Tokens,
    Concurrent,
    Budget,
}

impl LimitKind {
    pub const ALL: [Self; 4] = [Self::Requests, Self::Tokens, Self::Concurrent, Self::Budget];

    pub fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
            Self::Concurrent => "concurrent",
            Self::Budget => "budget",
        }
    }
}

/// One client key's counters, kept across config reloads (found by the key's name).
#[derive(Debug, Default)]
pub struct KeyLedger {
    pub requests: WindowCounter,
    pub tokens: WindowCounter,
    /// Fleet mode: the share of a window's `rpm` / `tpm` this process leased from Redis, in
    /// slot `window % 2` (the next window's first lease is taken before it starts).
    pub granted_requests: [WindowCounter; 2],
    pub granted_tokens: [WindowCounter; 2],
    pub in_flight: AtomicU64,
    pub spend: PeriodSpend,
    /// Spend settled here and not yet added to the fleet's total in Redis.
    pub unshared: PendingSpend,
    refused: [AtomicU64; 4],
}

/// Spend waiting to be added to the fleet's total: taken whole, put back when Redis fails,
/// so each settlement reaches Redis exactly once.
#[derive(Debug, Default)]
pub struct PendingSpend {
    nano_usd: AtomicU64,
    tokens: AtomicU64,
}

impl PendingSpend {
    pub fn add(&self, nano_usd: u64, tokens: u64) {
        self.nano_usd.fetch_add(nano_usd, Ordering::AcqRel);
        self.tokens.fetch_add(tokens, Ordering::AcqRel);
    }

    /// (nano-USD, tokens) waiting, left in place.
    pub fn peek(&self) -> (u64, u64) {
        (
            self.nano_usd.load(Ordering::Acquire),
            self.tokens.load(Ordering::Acquire),
        )
    }

    /// (nano-USD, tokens) waiting, now zero here.
    pub fn take(&self) -> (u64, u64) {
        (
            self.nano_usd.swap(0, Ordering::AcqRel),
            self.tokens.swap(0, Ordering::AcqRel),
        )
    }
}

impl KeyLedger {
    pub fn count_refusal(&self, kind: LimitKind) {
        self.refused[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn refusals(&self, kind: LimitKind) -> u64 {
        self.refused[kind as usize].load(Ordering::Relaxed)
    }
}

/// What a worker's admission left for the logging thread to settle once the answer's usage
/// is known: the tokens reserved on the estimate, and the period the spend goes to.
#[derive(Debug, Clone)]
pub struct Admission {
    pub ledger: Arc<KeyLedger>,
    /// The minute window the estimate was taken from.
    pub window: u32,
    /// Tokens reserved (0 for a key without `tpm`).
    pub estimated_tokens: u64,
    /// The spend's period: the key's budget period (a day for a key without a budget).
    pub period: Period,
}

impl Admission {
    /// Replaces the estimate by the real usage (in the same window, if it is still
    /// running) and adds the spend to the period of `now`.
    pub fn settle(&self, total_tokens: u64, cost_usd: f64, now: SystemTime) {
        if self.estimated_tokens > 0 {
            let delta = total_tokens as i64 - self.estimated_tokens as i64;
            self.ledger.tokens.adjust(self.window, delta);
        }
        let (number, _, _) = self.period.bounds(now);
        let nano = self.ledger.spend.add(number, cost_usd, total_tokens);
        self.ledger.unshared.add(nano, total_tokens);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn periods_follow_the_utc_calendar() {
        // 2026-12-02T12:00:00Z, a Wednesday.
        let noon = at(1_796_212_800);
        let (_, start, end) = Period::Day.bounds(noon);
        assert_eq!((start, end), (1_796_169_600, 1_796_256_000));
        let (_, start, end) = Period::Week.bounds(noon);
        assert_eq!(
            (start, end),
            (1_796_169_600 - 2 * 86_400, 1_796_169_600 + 5 * 86_400)
        );
        let (_, start, end) = Period::Month.bounds(noon);
        let first = days_from_civil(2026, 12, 1) as u64 * 86_400;
        let next = days_from_civil(2027, 1, 1) as u64 * 86_400;
        assert_eq!((start, end), (first, next));
    }

    #[test]
    fn a_window_takes_up_to_its_limit_then_starts_again() {
        let counter = WindowCounter::default();
        assert_eq!(counter.try_take(7, 3, 5), Ok(3));
        assert_eq!(counter.try_take(7, 3, 5), Err(3));
        assert_eq!(counter.try_take(7, 2, 5), Ok(5));
        counter.adjust(7, -4);
        assert_eq!(counter.used(7), 1);
        assert_eq!(counter.used(8), 0);
        counter.adjust(6, 100); // an old window: nothing
        assert_eq!(counter.try_take(8, 5, 5), Ok(5));
        assert_eq!(counter.used(7), 0);
    }

    #[test]
    fn takes_from_many_threads_add_up_exactly() {
        let counter = Arc::new(WindowCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| counter.try_take(1, 1, 2500).is_ok())
                        .count()
                })
            })
            .collect();
        let admitted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(admitted, 2500);
        assert_eq!(counter.used(1), 2500);
    }

    #[test]
    fn settlement_replaces_the_estimate_and_adds_spend() {
        let ledger = Arc::new(KeyLedger::default());
        ledger.tokens.try_take(3, 100, 1000).unwrap();
        let admission = Admission {
            ledger: Arc::clone(&ledger),
            window: 3,
            estimated_tokens: 100,
            period: Period::Day,
        };
        admission.settle(30, 0.25, at(86_400 * 2 + 5));
        assert_eq!(ledger.tokens.used(3), 30);
        assert_eq!(ledger.spend.spent(2), (0.25, 30));
        admission.settle(10, 0.5, at(86_400 * 3));
        assert_eq!(
            ledger.spend.spent(3),
            (0.5, 10),
            "a new day starts from zero"
        );
        let price = Price {
            input_per_mtok: 1.0,
            output_per_mtok: 2.0,
            cached_input_per_mtok: Some(0.5),
        };
        assert!((price.cost(1_000_000, 500_000, 1_000_000) - 2.75).abs() < 1e-9);
    }
}
