//! Per-key limits and spend: admission on the worker (`admit`, no locks, no Redis on the
//! request path), the ledgers every worker shares (found by key name, kept across reloads),
//! spend restored from `request_logs` at start, and the `/v1/usage` view. Settlement (the
//! real usage replacing the estimate, spend added) is the logging thread's, through the
//! `Admission` a request's record carries (`gpt_api_common::limits`).

mod admit;
pub mod fleet;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gpt_api_common::admin::{AdminQuery, AdminReply};
use gpt_api_common::limits::{minute_window, BudgetAmount, KeyLedger, Period};
use simd_json::prelude::*;

pub use self::admit::{admit, estimate_tokens, rate_headers, Admitted, ConcurrencySlot, Refused};
use crate::config::{ClientKey, Config};
use crate::json::push_json_string;
use crate::log::{self, Value};

/// Every client key's counters by name: the same ledger across config generations, so a
/// reload neither resets a key's windows nor its spend.
#[derive(Default)]
pub struct Ledgers(Mutex<HashMap<String, Arc<KeyLedger>>>);

impl Ledgers {
    /// The ledger of the key named `name` (made on first use). Taken on reload, not per request.
    pub fn for_key(&self, name: &str) -> Arc<KeyLedger> {
        let mut ledgers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(ledgers.entry(name.to_owned()).or_default())
    }

    /// Every ledger, sorted by key name (for scrapes).
    pub fn all(&self) -> Vec<(String, Arc<KeyLedger>)> {
        let ledgers = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = ledgers
            .iter()
            .map(|(name, ledger)| (name.clone(), Arc::clone(ledger)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

/// The period a key's spend is counted in: its budget's, else a day.
pub fn spend_period(key: &ClientKey) -> Period {
    key.limits
        .budget
        .map_or(Period::Day, |budget| budget.period)
}

/// At start, before the workers serve: each key's spend in its current period, from
/// `request_logs` (so a restart does not hand a key its budget again). A database that
/// cannot answer leaves every key at zero, said in one `limits_spend_not_restored` line. `ask` answers an
/// admin query (blocking: this runs on the main thread).
pub fn restore_spend(config: &Config, ledgers: &Ledgers, ask: impl Fn(AdminQuery) -> AdminReply) {
    let now = SystemTime::now();
    for key in &config.client_keys {
        let (number, start, _) = spend_period(key).bounds(now);
        let query = AdminQuery::KeySpend {
            key: key.name.clone(),
            since: UNIX_EPOCH + Duration::from_secs(start),
        };
        let spent = ask(query)
            .map_err(|failure| format!("{failure:?}"))
            .and_then(|body| {
                let mut bytes = body.into_bytes();
                let value: simd_json::OwnedValue =
                    simd_json::from_slice(&mut bytes).map_err(|e| e.to_string())?;
                Ok((
                    value.get_f64("usd").unwrap_or(0.0),
                    value.get_u64("tokens").unwrap_or(0),
                ))
            });
        match spent {
            Ok((usd, tokens)) => {
                ledgers.for_key(&key.name).spend.add(number, usd, tokens);
                log::info(
                    "limits_spend_restored",
                    &[
                        ("client_key", Value::Str(&key.name)),
                        ("usd", Value::Num(usd)),
                        ("tokens", Value::Int(tokens)),
                    ],
                );
            }
            Err(error) => {
                // A database that cannot answer one key will not answer the next: one line,
                // and no start-up that waits a connect timeout per key.
                log::warn(
                    "limits_spend_not_restored",
                    &[
                        ("keys", Value::Int(config.client_keys.len() as u64)),
                        ("error", Value::Str(&error)),
                    ],
                );
                return;
            }
        }
    }
}

/// `GET /v1/usage` for the calling key: its limits, what remains in the current windows,
/// and the period's spend.
pub fn usage_view(key: &ClientKey, ledger: &KeyLedger, now: SystemTime) -> String {
    let limits = &key.limits;
    let (window, left) = minute_window(now);
    let mut body = String::from("{\"object\":\"usage\",\"key\":");
    push_json_string(&mut body, &key.name);
    let optional = |value: Option<u64>| value.map_or("null".to_owned(), |v| v.to_string());
    let _ = write!(
        body,
        ",\"limits\":{{\"rpm\":{},\"tpm\":{},\"max_concurrent\":{},\"budget\":",
        optional(limits.rpm),
        optional(limits.tpm),
        optional(limits.max_concurrent)
    );
    match limits.budget {
        Some(budget) => {
            let amount = match budget.amount {
                BudgetAmount::Usd(usd) => format!("\"usd\":{usd}"),
                BudgetAmount::Tokens(tokens) => format!("\"tokens\":{tokens}"),
            };
            let _ = write!(
                body,
                "{{{amount},\"period\":\"{}\"}}}}",
                budget.period.name()
            );
        }
        None => body.push_str("null}"),
    }
    for (name, limit, counter) in [
        ("requests", limits.rpm, &ledger.requests),
        ("tokens", limits.tpm, &ledger.tokens),
    ] {
        let used = counter.used(window);
        let remaining = limit.map(|limit| limit.saturating_sub(used));
        let _ = write!(
            body,
            ",\"{name}\":{{\"used\":{used},\"remaining\":{},\"reset_seconds\":{left:.3}}}",
            optional(remaining)
        );
    }
    let in_flight = ledger.in_flight.load(Ordering::Relaxed);
    let _ = write!(body, ",\"concurrent\":{{\"in_flight\":{in_flight}}}");
    let period = spend_period(key);
    let (number, start, end) = period.bounds(now);
    let (usd, tokens) = ledger.spend.spent(number);
    let _ = write!(
        body,
        ",\"spend\":{{\"period\":\"{}\",\"start\":{start},\"end\":{end},\"usd\":{usd},\"tokens\":{tokens}",
        period.name()
    );
    if let Some(budget) = limits.budget {
        let remaining = match budget.amount {
            BudgetAmount::Usd(limit) => format!("{}", (limit - usd).max(0.0)),
            BudgetAmount::Tokens(limit) => limit.saturating_sub(tokens).to_string(),
        };
        let _ = write!(body, ",\"remaining\":{remaining}");
    }
    body.push_str("}}");
    body
}
