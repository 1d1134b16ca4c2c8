//! Prometheus metrics. Each worker writes only its own counters (relaxed atomics, never
//! contended); a scrape sums every worker's at read time. No locks on the request path.
//! `timings` holds the finer figures only the console reads; `live` samples them.

mod live;
mod timings;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
pub use live::{LiveFigures, SAMPLE_EVERY};
use timings::BreakerStates;
pub use timings::{BreakerState, CellTimings};

/// Latency buckets in milliseconds (Prometheus `le` bounds).
const BUCKETS_MS: [f64; 14] = [
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
];
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS_MS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        if let Some(i) = BUCKETS_MS.iter().position(|&bound| ms <= bound) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_us.fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}

/// One worker's figures that do not depend on the config.
#[derive(Default)]
pub struct WorkerMetrics {
    pub latency: Histogram,
    pub ttft: Histogram,
    pub failovers: AtomicU64,
    pub stream_recoveries: AtomicU64,
    /// Held by the worker's upstream client, whichever config generation it belongs to.
    pub upstream_stale_resends: Arc<AtomicU64>,
    pub open_connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    /// Sampled every second by the worker.
    pub pooled_connections: AtomicU64,
    pub open_breakers: AtomicU64,
}

/// Requests by model, upstream and status class, for one worker and one config generation
/// (indices are that config's; names are resolved at scrape time); for the console also
/// latency and TTFT per (model, upstream) and each target's breaker state.
pub struct RequestCounters {
    config: Arc<Config>,
    counts: Vec<AtomicU64>,
    timings: Vec<CellTimings>,
    breakers: BreakerStates,
}

impl RequestCounters {
    pub fn new(config: Arc<Config>) -> Self {
        // One extra model and upstream slot for requests that never got that far.
        let cells = (config.models.len() + 1) * (config.upstreams.len() + 1);
        let targets = config.models.iter().map(|m| m.targets.len()).sum();
        Self {
            counts: (0..cells * STATUS_CLASSES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            timings: (0..cells).map(|_| CellTimings::default()).collect(),
            breakers: BreakerStates::new(targets),
            config,
        }
    }

    fn cell(&self, model: Option<usize>, upstream: Option<usize>) -> usize {
        let upstreams = self.config.upstreams.len() + 1;
        let model = model.unwrap_or(self.config.models.len());
        let upstream = upstream.unwrap_or(upstreams - 1);
        model * upstreams + upstream
    }

    pub fn count(&self, model: Option<usize>, upstream: Option<usize>, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let cell = self.cell(model, upstream);
        self.counts[cell * STATUS_CLASSES.len() + class].fetch_add(1, Relaxed);
    }

    /// The request's latency and (streams) time to first token, for the console.
    pub fn time(
        &self,
        model: Option<usize>,
        upstream: Option<usize>,
        latency: Duration,
        ttft: Option<Duration>,
    ) {
        self.timings[self.cell(model, upstream)].observe(latency, ttft);
    }

    /// The config these counters' indices refer to.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Every (model, upstream) cell with a request: the names ("" for none), the count per
    /// status class (1xx to 5xx) and the timings.
    pub fn cells(&self) -> impl Iterator<Item = (&str, &str, [u64; 5], &CellTimings)> {
        let upstreams = self.config.upstreams.len() + 1;
        self.timings
            .iter()
            .enumerate()
            .filter_map(move |(cell, timings)| {
                let classes = &self.counts[cell * STATUS_CLASSES.len()..][..STATUS_CLASSES.len()];
                let counts: [u64; 5] = std::array::from_fn(|class| classes[class].load(Relaxed));
                if counts.iter().all(|&count| count == 0) {
                    return None;
                }
                let model = self.config.models.get(cell / upstreams);
                let upstream = self.config.upstreams.get(cell % upstreams);
                Some((
                    model.map_or("", |m| m.name.as_str()),
                    upstream.map_or("", |u| &*u.name),
                    counts,
                    timings,
                ))
            })
    }

    /// Stores each target's breaker state (targets numbered model by model).
    pub fn set_breakers(&self, states: impl Iterator<Item = BreakerState>) {
        for (target, state) in states.enumerate() {
            self.breakers.set(target, state);
        }
    }

    /// The breaker state of the `target`th target, as last sampled.
    pub fn breaker(&self, target: usize) -> BreakerState {
        self.breakers.get(target)
    }

    fn add_to(&self, totals: &mut BTreeMap<(String, String, &'static str), u64>) {
        let upstreams = self.config.upstreams.len() + 1;
        for (index, count) in self.counts.iter().enumerate() {
            let count = count.load(Relaxed);
            if count == 0 {
                continue;
            }
            let class = STATUS_CLASSES[index % STATUS_CLASSES.len()];
            let cell = index / STATUS_CLASSES.len();
            let model = self
                .config
                .models
                .get(cell / upstreams)
                .map_or("", |m| m.name.as_str());
            let upstream = self
                .config
                .upstreams
                .get(cell % upstreams)
                .map_or("", |u| &*u.name);
            *totals
                .entry((model.to_string(), upstream.to_string(), class))
                .or_default() += count;
        }
    }
}

/// Figures from the logging thread, read at scrape time.
pub struct LogFigures {
    /// The log keeps what it is given: written to the database, or to the spill file.
    pub healthy: bool,
    /// The database is reachable now (its last call or probe succeeded).
    pub database_connected: bool,
    pub queue_depth: usize,
    pub written: u64,
    pub buffered: u64,
    pub spilled: u64,
    pub failed_flushes: u64,
}

/// Renders the Prometheus text format, summing over workers (and config generations).
pub fn render(
    workers: &[Arc<WorkerMetrics>],
    counters: &[Arc<RequestCounters>],
    log: &LogFigures,
) -> String {
    let mut out = String::with_capacity(4096);
    let sum = |f: &dyn Fn(&WorkerMetrics) -> u64| workers.iter().map(|w| f(w)).sum::<u64>();
    let mut totals = BTreeMap::new();
    counters.iter().for_each(|c| c.add_to(&mut totals));
    out.push_str("# HELP gpt_api_requests_total Requests by model, upstream and status class.\n# TYPE gpt_api_requests_total counter\n");
    for ((model, upstream, class), count) in &totals {
        let _ = writeln!(out, "gpt_api_requests_total{{model=\"{model}\",upstream=\"{upstream}\",status=\"{class}\"}} {count}");
    }
    render_histogram(
        &mut out,
        "gpt_api_request_duration_seconds",
        "Request latency.",
        workers,
        |w| &w.latency,
    );
    render_histogram(
        &mut out,
        "gpt_api_ttft_seconds",
        "Stream time to first token.",
        workers,
        |w| &w.ttft,
    );
    // Running totals are counters named `_total`; figures that go down as well are gauges.
    let counters: [(&str, &str, u64); 6] = [
        (
            "gpt_api_failovers_total",
            "Attempts beyond the first (retries and failovers).",
            sum(&|w| w.failovers.load(Relaxed)),
        ),
        (
            "gpt_api_stream_recoveries_total",
            "Broken streams continued from another target.",
            sum(&|w| w.stream_recoveries.load(Relaxed)),
        ),
        (
            "gpt_api_upstream_stale_resends_total",
            "Requests resent on a fresh connection because a pooled one had been closed.",
            sum(&|w| w.upstream_stale_resends.load(Relaxed)),
        ),
        (
            "gpt_api_log_failed_flushes_total",
            "Database writes or connects that failed.",
            log.failed_flushes,
        ),
        (
            "gpt_api_rejected_connections_total",
            "Client connections refused at the limit.",
            sum(&|w| w.rejected_connections.load(Relaxed)),
        ),
        (
            "gpt_api_log_rows_written_total",
            "Rows written to the database, replayed ones included.",
            log.written,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let gauges: [(&str, &str, u64); 8] = [
        (
            "gpt_api_open_connections",
            "Client connections open.",
            sum(&|w| w.open_connections.load(Relaxed)),
        ),
        (
            "gpt_api_upstream_pool_idle_connections",
            "Idle pooled upstream connections.",
            sum(&|w| w.pooled_connections.load(Relaxed)),
        ),
        (
            "gpt_api_open_breakers",
            "Targets cooling down after failures.",
            sum(&|w| w.open_breakers.load(Relaxed)),
        ),
        (
            "gpt_api_log_queue_depth",
            "Log events waiting for the logging thread.",
            log.queue_depth as u64,
        ),
        (
            "gpt_api_log_rows_buffered",
            "Rows held only in memory (what a crash would lose), not yet written or spilled.",
            log.buffered,
        ),
        (
            "gpt_api_log_rows_spilled",
            "Rows in the spill file, not yet replayed.",
            log.spilled,
        ),
        (
            "gpt_api_log_database_up",
            "1 while the log database is reachable.",
            u64::from(log.database_connected),
        ),
        ("gpt_api_workers", "Worker threads.", workers.len() as u64),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    out
}

fn render_histogram(
    out: &mut String,
    name: &str,
    help: &str,
    workers: &[Arc<WorkerMetrics>],
    pick: fn(&WorkerMetrics) -> &Histogram,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut cumulative = 0;
    for (i, bound) in BUCKETS_MS.iter().enumerate() {
        cumulative += workers
            .iter()
            .map(|w| pick(w).buckets[i].load(Relaxed))
            .sum::<u64>();
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {cumulative}",
            bound / 1000.0
        );
    }
    let count: u64 = workers.iter().map(|w| pick(w).count.load(Relaxed)).sum();
    let sum_us: u64 = workers.iter().map(|w| pick(w).sum_us.load(Relaxed)).sum();
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {}\n{name}_count {count}",
        sum_us as f64 / 1e6
    );
}

/// One client key's figures at scrape time (its limits' refusals and its period's spend).
pub struct KeyFigures {
    pub name: String,
    /// Refusals by kind: `requests`, `tokens`, `concurrent`, `budget`.
    pub refused: Vec<(&'static str, u64)>,
    pub spend_usd: f64,
    pub spend_tokens: u64,
    /// The spend's period (`day`, `week`, `month`).
    pub period: &'static str,
}

/// `gpt_api_ratelimited_total{key,kind}`, the spend gauges and, in fleet mode, whether the
/// limits are shared through Redis now (`fleet_shared`).
pub fn render_keys(out: &mut String, keys: &[KeyFigures], fleet_shared: Option<bool>) {
    if let Some(shared) = fleet_shared {
        out.push_str("# HELP gpt_api_limits_fleet_shared 1 while limits are leased from Redis, 0 while Redis is away (local_share of each limit).\n# TYPE gpt_api_limits_fleet_shared gauge\n");
        let _ = writeln!(out, "gpt_api_limits_fleet_shared {}", u8::from(shared));
    }
    out.push_str("# HELP gpt_api_ratelimited_total Requests refused by a client key's limits, by kind.\n# TYPE gpt_api_ratelimited_total counter\n");
    for key in keys {
        for (kind, count) in &key.refused {
            let name = label(&key.name);
            let _ = writeln!(
                out,
                "gpt_api_ratelimited_total{{key=\"{name}\",kind=\"{kind}\"}} {count}"
            );
        }
    }
    out.push_str("# HELP gpt_api_key_spend_usd A client key's spend in its budget period (a day without a budget).\n# TYPE gpt_api_key_spend_usd gauge\n");
    for key in keys {
        let (name, period) = (label(&key.name), key.period);
        let _ = writeln!(
            out,
            "gpt_api_key_spend_usd{{key=\"{name}\",period=\"{period}\"}} {}",
            key.spend_usd
        );
    }
    out.push_str("# HELP gpt_api_key_spend_tokens A client key's tokens in its budget period (a day without a budget).\n# TYPE gpt_api_key_spend_tokens gauge\n");
    for key in keys {
        let (name, period) = (label(&key.name), key.period);
        let _ = writeln!(
            out,
            "gpt_api_key_spend_tokens{{key=\"{name}\",period=\"{period}\"}} {}",
            key.spend_tokens
        );
    }
}

/// A label value with `\` and `"` escaped.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
