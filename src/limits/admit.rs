//! Admission on the worker: a limited key's request is checked against its concurrency,
//! budget, requests-per-minute and tokens-per-minute counters, in that order, before any
//! upstream is contacted. Lock-free: each check is an atomic add or compare-and-swap on
//! the key's shared `KeyLedger`; a refused request gives back what it took.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::SystemTime;

use gpt_api_common::limits::{
    minute_window, Admission, BudgetAmount, KeyLedger, LimitKind, Period, WindowCounter,
};

use super::fleet::{FleetMode, FleetStatus};

use crate::config::ClientKey;
use crate::error::AppError;

/// Completion tokens assumed at admission when the request sets neither `max_tokens` nor
/// `max_completion_tokens` (settled with the real usage when the answer ends).
pub const DEFAULT_COMPLETION_ESTIMATE: u64 = 256;

/// The tokens reserved at admission: prompt bytes / 4, plus the completion's cap (or the
/// default) on the endpoints that generate text.
pub fn estimate_tokens(body_bytes: usize, max_tokens: Option<u64>, generates: bool) -> u64 {
    let completion = if generates {
        max_tokens.unwrap_or(DEFAULT_COMPLETION_ESTIMATE)
    } else {
        0
    };
    (body_bytes as u64).div_ceil(4) + completion
}

/// A request counted against `max_concurrent` until this is dropped (with its exchange, a
/// panic included).
pub struct ConcurrencySlot(Arc<KeyLedger>);

impl Drop for ConcurrencySlot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What an admitted request carries: its settlement, its slot and its response headers.
pub struct Admitted {
    pub admission: Admission,
    pub slot: Option<ConcurrencySlot>,
    pub headers: Vec<(&'static str, String)>,
}

/// A refusal, with the headers its 429 carries.
pub struct Refused {
    pub error: AppError,
    pub headers: Vec<(&'static str, String)>,
}

/// Checks and takes the request's share of the key's limits.
pub fn admit(
    key: &ClientKey,
    ledger: &Arc<KeyLedger>,
    estimate: u64,
    now: SystemTime,
    fleet: &FleetStatus,
) -> Result<Admitted, Refused> {
    let limits = &key.limits;
    let (window, left) = minute_window(now);
    // What this process may admit in the window: the whole limit alone, its leased share in
    // a fleet, `local_share` of it while Redis is away.
    let bound = |limit: u64, granted: &[WindowCounter; 2]| match fleet.mode() {
        FleetMode::Off => limit,
        FleetMode::Shared => granted[window as usize % 2].used(window).min(limit),
        FleetMode::Local => ((limit as f64 * fleet.local_share).ceil() as u64).min(limit),
    };
    let period = limits.budget.map_or(Period::Day, |budget| budget.period);
    let refuse = |kind: LimitKind, limit: u64, retry_after: f64| {
        ledger.count_refusal(kind);
        let retry_after = retry_after.ceil().max(1.0) as u64;
        let error = match kind {
            LimitKind::Budget => AppError::BudgetExhausted {
                key: key.name.clone(),
                budget: describe_budget(key),
                retry_after,
            },
            _ => AppError::RateLimited {
                key: key.name.clone(),
                kind,
                limit,
                retry_after,
            },
        };
        Refused {
            error,
            headers: rate_headers(key, ledger, now),
        }
    };
    let slot = match limits.max_concurrent {
        Some(limit) => {
            let slot = ConcurrencySlot(Arc::clone(ledger));
            if ledger.in_flight.fetch_add(1, Ordering::AcqRel) >= limit {
                return Err(refuse(LimitKind::Concurrent, limit, 1.0));
            }
            Some(slot)
        }
        None => None,
    };
    if let Some(budget) = limits.budget {
        let (number, _, end) = budget.period.bounds(now);
        let (usd, tokens) = ledger.spend.spent(number);
        let spent = match budget.amount {
            BudgetAmount::Usd(limit) => usd >= limit,
            BudgetAmount::Tokens(limit) => tokens >= limit,
        };
        if spent {
            let until_end = end as f64 - seconds(now);
            return Err(refuse(LimitKind::Budget, 0, until_end));
        }
    }
    if let Some(rpm) = limits.rpm {
        let allowed = bound(rpm, &ledger.granted_requests);
        if ledger.requests.try_take(window, 1, allowed).is_err() {
            return Err(refuse(LimitKind::Requests, rpm, left));
        }
    }
    let mut estimated_tokens = 0;
    if let Some(tpm) = limits.tpm {
        let allowed = bound(tpm, &ledger.granted_tokens);
        if ledger.tokens.try_take(window, estimate, allowed).is_err() {
            if limits.rpm.is_some() {
                ledger.requests.adjust(window, -1);
            }
            return Err(refuse(LimitKind::Tokens, tpm, left));
        }
        estimated_tokens = estimate;
    }
    Ok(Admitted {
        admission: Admission {
            ledger: Arc::clone(ledger),
            window,
            estimated_tokens,
            period,
        },
        slot,
        headers: rate_headers(key, ledger, now),
    })
}

fn seconds(at: SystemTime) -> f64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// `100 USD per day`, `5000000 tokens per month`.
fn describe_budget(key: &ClientKey) -> String {
    let Some(budget) = key.limits.budget else {
        return String::new();
    };
    let amount = match budget.amount {
        BudgetAmount::Usd(usd) => format!("{usd} USD"),
        BudgetAmount::Tokens(tokens) => format!("{tokens} tokens"),
    };
    format!("{amount} per {}", budget.period.name())
}

/// OpenAI's `x-ratelimit-*` headers for the key's `rpm` and `tpm` (whichever it has), as the
/// counters stand now.
pub fn rate_headers(
    key: &ClientKey,
    ledger: &KeyLedger,
    now: SystemTime,
) -> Vec<(&'static str, String)> {
    if key.limits.rpm.is_none() && key.limits.tpm.is_none() {
        return Vec::new();
    }
    let (window, left) = minute_window(now);
    let mut headers = Vec::new();
    let reset = reset_text(left);
    if let Some(rpm) = key.limits.rpm {
        let used = ledger.requests.used(window);
        headers.push(("x-ratelimit-limit-requests", rpm.to_string()));
        headers.push((
            "x-ratelimit-remaining-requests",
            rpm.saturating_sub(used).to_string(),
        ));
        headers.push(("x-ratelimit-reset-requests", reset.clone()));
    }
    if let Some(tpm) = key.limits.tpm {
        let used = ledger.tokens.used(window);
        headers.push(("x-ratelimit-limit-tokens", tpm.to_string()));
        headers.push((
            "x-ratelimit-remaining-tokens",
            tpm.saturating_sub(used).to_string(),
        ));
        headers.push(("x-ratelimit-reset-tokens", reset));
    }
    headers
}

/// How OpenAI writes a reset time: `350ms` under a second, else whole seconds (`12s`,
/// `1m0s`), rounded up.
fn reset_text(seconds: f64) -> String {
    if seconds < 1.0 {
        return format!("{}ms", (seconds * 1000.0).ceil().max(1.0) as u64);
    }
    let whole = seconds.ceil() as u64;
    if whole >= 60 {
        format!("{}m{}s", whole / 60, whole % 60)
    } else {
        format!("{whole}s")
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::config::{Budget, KeyLimits, KeyMatcher, Secret};

    fn key(limits: KeyLimits) -> ClientKey {
        ClientKey {
            name: "team-a".into(),
            key: Some(KeyMatcher::Plain(Secret::new("k".into()))),
            aws: None,
            models: vec![],
            limits,
        }
    }

    /// 10 s into a minute.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_796_212_810)
    }

    #[test]
    fn requests_per_minute_admit_exactly_the_limit() {
        let key = key(KeyLimits {
            rpm: Some(3),
            ..KeyLimits::default()
        });
        let ledger = Arc::new(KeyLedger::default());
        for remaining in ["2", "1", "0"] {
            let admitted = admit(&key, &ledger, 1, now(), &FleetStatus::off())
                .ok()
                .expect("admitted");
            assert_eq!(
                admitted.headers[1],
                ("x-ratelimit-remaining-requests", remaining.into())
            );
            assert_eq!(
                admitted.headers[2],
                ("x-ratelimit-reset-requests", "50s".into())
            );
        }
        let refused = admit(&key, &ledger, 1, now(), &FleetStatus::off())
            .err()
            .expect("refused");
        assert_eq!(
            refused.error.message(),
            "Rate limit reached for key 'team-a' on requests per minute: limit 3. Retry after 50s."
        );
        assert_eq!(refused.error.status(), 429);
        assert_eq!(refused.error.error_type(), "requests");
        assert_eq!(refused.error.retry_after(), Some(50));
        assert_eq!(ledger.refusals(LimitKind::Requests), 1);
        let next_minute = now() + Duration::from_secs(60);
        assert!(admit(&key, &ledger, 1, next_minute, &FleetStatus::off()).is_ok());
    }

    #[test]
    fn tokens_refused_give_the_request_back() {
        let key = key(KeyLimits {
            rpm: Some(10),
            tpm: Some(100),
            ..KeyLimits::default()
        });
        let ledger = Arc::new(KeyLedger::default());
        let admitted = admit(&key, &ledger, 80, now(), &FleetStatus::off())
            .ok()
            .expect("admitted");
        let refused = admit(&key, &ledger, 30, now(), &FleetStatus::off())
            .err()
            .expect("refused");
        assert_eq!(refused.error.error_type(), "tokens");
        let (window, _) = minute_window(now());
        assert_eq!(
            ledger.requests.used(window),
            1,
            "the refused request is not counted"
        );
        admitted.admission.settle(10, 0.0, now());
        assert!(
            admit(&key, &ledger, 30, now(), &FleetStatus::off()).is_ok(),
            "settled on the real usage"
        );
    }

    #[test]
    fn concurrency_and_budget() {
        let key = key(KeyLimits {
            max_concurrent: Some(1),
            budget: Some(Budget {
                amount: BudgetAmount::Tokens(50),
                period: Period::Day,
            }),
            ..KeyLimits::default()
        });
        let ledger = Arc::new(KeyLedger::default());
        let first = admit(&key, &ledger, 1, now(), &FleetStatus::off())
            .ok()
            .expect("admitted");
        let refused = admit(&key, &ledger, 1, now(), &FleetStatus::off())
            .err()
            .expect("refused");
        assert_eq!(refused.error.code(), "rate_limit_exceeded");
        drop(first.slot);
        first.admission.settle(60, 0.0, now());
        let refused = admit(&key, &ledger, 1, now(), &FleetStatus::off())
            .err()
            .expect("budget spent");
        assert_eq!(refused.error.code(), "insufficient_quota");
        assert_eq!(ledger.in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn estimates_and_reset_texts() {
        assert_eq!(estimate_tokens(400, Some(50), true), 150);
        assert_eq!(
            estimate_tokens(401, None, true),
            101 + DEFAULT_COMPLETION_ESTIMATE
        );
        assert_eq!(estimate_tokens(400, Some(50), false), 100);
        assert_eq!(reset_text(0.35), "350ms");
        assert_eq!(reset_text(12.2), "13s");
        assert_eq!(reset_text(60.0), "1m0s");
    }
}
