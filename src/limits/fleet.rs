//! Fleet mode: limits and spend shared by every gateway process pointing at the same Redis
//! (or Valkey), kept by one thread of its own ("gpt-api-fleet") so that no worker ever waits
//! on Redis. Each process leases slices of each key's per-window allowance (a twentieth of
//! the limit at a time, `INCRBY` on the window's key: the fleet's total can never pass the
//! limit) and admits locally against what it holds; it takes the next slice when less than
//! one is left, and the next window's first slice before that window starts. Spend settled
//! here goes to Redis as exact deltas (nano-USD and tokens, `INCRBY`), and the fleet's total
//! comes back as this process's spend. When Redis is away the process serves under
//! `local_share` of each limit alone and keeps its deltas; back, it adds them once
//! (a delta leaves this process only when Redis took it), so no spend is counted twice.
//!
//! The client is redis-rs (the most used Rust Redis client, maintained by the Redis team's
//! contributors) without default features: its blocking connection only, no async runtime,
//! which suits a thread of its own and keeps Tokio out of this crate.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use gpt_api_common::limits::{minute_window, KeyLedger, WindowCounter};
use redis::{Client, Connection, RedisResult};

use super::spend_period;
use crate::config::{ClientKey, LimitsSettings, Secret};
use crate::log::{self, Value};

/// How often the thread looks at the leases.
const TURN: Duration = Duration::from_millis(5);
/// How often spend goes to Redis and the fleet's total comes back.
const SPEND_EVERY: Duration = Duration::from_millis(100);
/// Connect, read and write timeouts: a Redis that does not answer in this is away.
const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// While Redis is away, how often to try it again.
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// Lease the next window's first slice this long before it starts.
const PRE_LEASE_SECONDS: f64 = 2.0;

/// Where limits come from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetMode {
    /// No `[limits] redis_url`: this process alone.
    Off = 0,
    /// Leases from Redis.
    Shared = 1,
    /// Redis is away: `local_share` of each limit, this process alone.
    Local = 2,
}

impl FleetMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Shared => "shared",
            Self::Local => "local",
        }
    }
}

/// The fleet's state as workers, `/ready` and `/metrics` read it.
#[derive(Debug)]
pub struct FleetStatus {
    mode: AtomicU8,
    pub local_share: f64,
}

impl FleetStatus {
    pub fn off() -> Self {
        Self::new(&LimitsSettings {
            redis_url: None,
            local_share: 1.0,
        })
    }

    /// `Off` without Redis; with it, `Local` until the fleet thread first reaches Redis.
    pub fn new(settings: &LimitsSettings) -> Self {
        let mode = match settings.redis_url {
            Some(_) => FleetMode::Local,
            None => FleetMode::Off,
        };
        Self {
            mode: AtomicU8::new(mode as u8),
            local_share: settings.local_share,
        }
    }

    pub fn mode(&self) -> FleetMode {
        match self.mode.load(Ordering::Acquire) {
            1 => FleetMode::Shared,
            2 => FleetMode::Local,
            _ => FleetMode::Off,
        }
    }

    fn set(&self, mode: FleetMode) {
        self.mode.store(mode as u8, Ordering::Release);
    }
}

/// The keys and their ledgers, as the current config has them (read every turn, so a
/// reload's keys are leased for too).
pub type KeyList = Box<dyn Fn() -> Vec<(ClientKey, Arc<KeyLedger>)> + Send>;

/// Connects (or finds Redis away), makes the first leases, then keeps them on a thread of
/// its own. A URL that cannot be a Redis URL is an error; an unreachable Redis is not.
pub fn start(url: &Secret, status: Arc<FleetStatus>, keys: KeyList) -> Result<(), String> {
    let client =
        Client::open(url.expose()).map_err(|error| format!("limits.redis_url: {error}"))?;
    let mut fleet = Fleet {
        client,
        connection: None,
        status,
        keys,
        exhausted: HashMap::new(),
        seeded: HashSet::new(),
        spend_synced_at: None,
        down_since: None,
    };
    fleet.turn();
    std::thread::Builder::new()
        .name("gpt-api-fleet".to_owned())
        .spawn(move || loop {
            let wait = if fleet.down_since.is_some() {
                RETRY_EVERY
            } else {
                TURN
            };
            std::thread::sleep(wait);
            fleet.turn();
        })
        .map_err(|error| format!("cannot start the fleet thread: {error}"))?;
    Ok(())
}

struct Fleet {
    client: Client,
    connection: Option<Connection>,
    status: Arc<FleetStatus>,
    keys: KeyList,
    /// (key, kind) → the window whose fleet allowance is all leased out.
    exhausted: HashMap<(String, &'static str), u32>,
    /// Spend keys this process has seeded (from its own restored spend, if Redis had none).
    seeded: HashSet<String>,
    spend_synced_at: Option<Instant>,
    down_since: Option<Instant>,
}

impl Fleet {
    fn turn(&mut self) {
        match self.sync() {
            Ok(()) => {
                if let Some(since) = self.down_since.take() {
                    let down_ms = since.elapsed().as_millis() as u64;
                    log::info("limits_fleet_rejoined", &[("down_ms", Value::Int(down_ms))]);
                }
                self.status.set(FleetMode::Shared);
            }
            Err(error) => {
                self.connection = None;
                if self.down_since.is_none() {
                    self.down_since = Some(Instant::now());
                    let share = self.status.local_share;
                    log::warn(
                        "limits_fleet_unavailable",
                        &[
                            ("error", Value::Str(&error.to_string())),
                            ("local_share", Value::Num(share)),
                        ],
                    );
                }
                self.status.set(FleetMode::Local);
            }
        }
    }

    fn sync(&mut self) -> RedisResult<()> {
        if self.connection.is_none() {
            let connection = self.client.get_connection_with_timeout(REDIS_TIMEOUT)?;
            connection.set_read_timeout(Some(REDIS_TIMEOUT))?;
            connection.set_write_timeout(Some(REDIS_TIMEOUT))?;
            self.connection = Some(connection);
            // A rejoin: the windows may have moved on, and other processes with them.
            self.exhausted.clear();
            self.spend_synced_at = None;
        }
        let now = SystemTime::now();
        let (window, left) = minute_window(now);
        let spend_due = self
            .spend_synced_at
            .is_none_or(|at| at.elapsed() >= SPEND_EVERY);
        for (key, ledger) in (self.keys)() {
            let rates = [
                (
                    "requests",
                    key.limits.rpm,
                    &ledger.requests,
                    &ledger.granted_requests,
                ),
                (
                    "tokens",
                    key.limits.tpm,
                    &ledger.tokens,
                    &ledger.granted_tokens,
                ),
            ];
            for (kind, limit, used, granted) in rates {
                let Some(limit) = limit else { continue };
                self.lease(&key.name, kind, limit, window, used, granted)?;
                if left < PRE_LEASE_SECONDS {
                    self.lease(&key.name, kind, limit, window + 1, used, granted)?;
                }
            }
            if spend_due {
                self.share_spend(&key, &ledger, now)?;
            }
        }
        if spend_due {
            self.spend_synced_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Takes one more slice of `window`'s allowance when less than one is left unused here.
    fn lease(
        &mut self,
        name: &str,
        kind: &'static str,
        limit: u64,
        window: u32,
        used: &WindowCounter,
        granted: &[WindowCounter; 2],
    ) -> RedisResult<()> {
        let slot = &granted[window as usize % 2];
        let slice = (limit / 20).max(1);
        let held = slot.used(window);
        let unused = held.saturating_sub(used.used(window));
        let exhausted = self.exhausted.get(&(name.to_owned(), kind)) == Some(&window);
        if held >= limit || unused >= slice || exhausted {
            return Ok(());
        }
        let redis_key = format!("gpt-api:{name}:{kind}:{window}");
        let connection = self.connection.as_mut().expect("connected above");
        let (total,): (u64,) = redis::pipe()
            .cmd("INCRBY")
            .arg(&redis_key)
            .arg(slice)
            .cmd("EXPIRE")
            .arg(&redis_key)
            .arg(180)
            .ignore()
            .query(connection)?;
        let granted_now = slice.saturating_sub(total.saturating_sub(limit));
        if granted_now > 0 {
            let _ = slot.try_take(window, granted_now, u64::from(u32::MAX));
        }
        if total >= limit {
            self.exhausted.insert((name.to_owned(), kind), window);
        }
        Ok(())
    }

    /// Adds this process's unshared spend to the fleet's total and takes the total back.
    fn share_spend(
        &mut self,
        key: &ClientKey,
        ledger: &KeyLedger,
        now: SystemTime,
    ) -> RedisResult<()> {
        let period = spend_period(key);
        let (number, _, end) = period.bounds(now);
        let base = format!("gpt-api:{}:spend:{}:{number}", key.name, period.name());
        let (usd_key, tokens_key) = (format!("{base}:nano_usd"), format!("{base}:tokens"));
        let expire = end.saturating_sub(gpt_api_common::time::unix_seconds(now)) + 86_400;
        let connection = self.connection.as_mut().expect("connected above");
        if !self.seeded.contains(&base) {
            // A fleet's first process brings the spend it restored from the database (what it
            // has not settled since: that goes below, as deltas).
            let (spent_usd, spent_tokens) = ledger.spend.spent_exact(number);
            let (pending_usd, pending_tokens) = ledger.unshared.peek();
            redis::pipe()
                .cmd("SET")
                .arg(&usd_key)
                .arg(spent_usd.saturating_sub(pending_usd))
                .arg("NX")
                .arg("EX")
                .arg(expire)
                .ignore()
                .cmd("SET")
                .arg(&tokens_key)
                .arg(spent_tokens.saturating_sub(pending_tokens))
                .arg("NX")
                .arg("EX")
                .arg(expire)
                .ignore()
                .query::<()>(connection)?;
            self.seeded.insert(base);
        }
        let (usd, tokens) = ledger.unshared.take();
        let totals: RedisResult<(u64, u64)> = redis::pipe()
            .cmd("INCRBY")
            .arg(&usd_key)
            .arg(usd)
            .cmd("INCRBY")
            .arg(&tokens_key)
            .arg(tokens)
            .cmd("EXPIRE")
            .arg(&usd_key)
            .arg(expire)
            .ignore()
            .cmd("EXPIRE")
            .arg(&tokens_key)
            .arg(expire)
            .ignore()
            .query(connection);
        match totals {
            Ok((total_usd, total_tokens)) => {
                ledger.spend.set(number, total_usd, total_tokens);
                Ok(())
            }
            Err(error) => {
                // Not taken (or not known to be): kept for the next try. A reply lost after
                // Redis applied it would count twice; Redis answering within the timeout
                // is what keeps that from happening.
                ledger.unshared.add(usd, tokens);
                Err(error)
            }
        }
    }
}
