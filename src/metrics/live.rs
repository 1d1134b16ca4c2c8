//! The console's "now": every `SAMPLE_EVERY` a sampler thread sums the workers' request
//! counters and timings and keeps what changed since the last sample, for the last
//! `KEPT_INTERVALS`. The console reads rates, error rates and percentiles over the last
//! minute from them, per model and per upstream, and a series for its charts. The lock is
//! taken by the sampler and by console reads only, never on the request path.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::timings::{fine_bucket_middle_ms, FINE_BUCKETS};
use super::RequestCounters;

/// How often the sampler sums the counters.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Five minutes of intervals.
const KEPT_INTERVALS: usize = 150;
/// The span the "now" figures cover.
const WINDOW: Duration = Duration::from_secs(60);

/// Counts per status class and bucket counts, summed over workers, of one (model, upstream).
#[derive(Clone, Default)]
struct CellTotals {
    classes: [u64; 5],
    latency: Vec<u64>,
    ttft: Vec<u64>,
}

impl CellTotals {
    fn minus(&self, earlier: Option<&Self>) -> Self {
        let difference = |now: &[u64], then: Option<&[u64]>| -> Vec<u64> {
            now.iter()
                .enumerate()
                .map(|(i, n)| n.saturating_sub(then.map_or(0, |t| t.get(i).copied().unwrap_or(0))))
                .collect()
        };
        Self {
            classes: std::array::from_fn(|class| {
                self.classes[class]
                    - earlier
                        .map_or(0, |e| e.classes[class])
                        .min(self.classes[class])
            }),
            latency: difference(&self.latency, earlier.map(|e| e.latency.as_slice())),
            ttft: difference(&self.ttft, earlier.map(|e| e.ttft.as_slice())),
        }
    }

    fn add(&mut self, other: &Self) {
        for (mine, theirs) in self.classes.iter_mut().zip(other.classes) {
            *mine += theirs;
        }
        add_buckets(&mut self.latency, &other.latency);
        add_buckets(&mut self.ttft, &other.ttft);
    }

    fn is_empty(&self) -> bool {
        self.classes.iter().all(|&count| count == 0)
    }
}

fn add_buckets(into: &mut Vec<u64>, from: &[u64]) {
    into.resize(FINE_BUCKETS, 0);
    for (mine, theirs) in into.iter_mut().zip(from) {
        *mine += theirs;
    }
}

type Cells = HashMap<(String, String), CellTotals>;

/// What changed over one sampling interval.
struct Interval {
    /// When it ended, in ms since the epoch.
    ended_ms: u64,
    seconds: f64,
    cells: Cells,
}

#[derive(Default)]
struct Samples {
    last: Cells,
    sampled_at: Option<SystemTime>,
    intervals: VecDeque<Interval>,
}

/// The sampled intervals, shared by the sampler and the console's readers.
#[derive(Default)]
pub struct LiveFigures(Mutex<Samples>);

impl LiveFigures {
    /// Sums `counters` (every worker, every config generation: each only grows) and keeps
    /// the change since the previous call.
    pub fn sample(&self, counters: &[Arc<RequestCounters>]) {
        let mut totals: Cells = HashMap::new();
        for counter in counters {
            for (model, upstream, classes, timings) in counter.cells() {
                let cell = totals
                    .entry((model.to_owned(), upstream.to_owned()))
                    .or_default();
                let load = |buckets: &[std::sync::atomic::AtomicU64]| {
                    buckets.iter().map(|b| b.load(Relaxed)).collect::<Vec<_>>()
                };
                cell.add(&CellTotals {
                    classes,
                    latency: load(&timings.latency),
                    ttft: load(&timings.ttft),
                });
            }
        }
        let now = SystemTime::now();
        let mut samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = samples.sampled_at {
            let cells = totals
                .iter()
                .map(|(key, cell)| (key.clone(), cell.minus(samples.last.get(key))))
                .filter(|(_, cell)| !cell.is_empty())
                .collect();
            let seconds = now
                .duration_since(previous)
                .unwrap_or(SAMPLE_EVERY)
                .as_secs_f64();
            let ended_ms = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            samples.intervals.push_back(Interval {
                ended_ms,
                seconds,
                cells,
            });
            if samples.intervals.len() > KEPT_INTERVALS {
                samples.intervals.pop_front();
            }
        }
        samples.last = totals;
        samples.sampled_at = Some(now);
    }

    /// `"window_s":…,"total":{…},"models":[…],"upstreams":[…],"series":[…]` (the caller
    /// adds the braces and its own fields).
    pub fn render(&self, out: &mut String) {
        let samples = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let recent = samples
            .intervals
            .len()
            .min((WINDOW.as_secs() / SAMPLE_EVERY.as_secs()) as usize);
        let window: Vec<&Interval> = samples.intervals.iter().rev().take(recent).collect();
        let seconds: f64 = window.iter().map(|i| i.seconds).sum();
        let mut total = CellTotals::default();
        let mut models: BTreeMap<&str, CellTotals> = BTreeMap::new();
        let mut upstreams: BTreeMap<&str, CellTotals> = BTreeMap::new();
        for interval in &window {
            for ((model, upstream), cell) in &interval.cells {
                total.add(cell);
                models.entry(model.as_str()).or_default().add(cell);
                upstreams.entry(upstream.as_str()).or_default().add(cell);
            }
        }
        let _ = write!(out, "\"window_s\":{seconds:.1},\"total\":");
        push_figures(out, &total, seconds);
        for (name, groups) in [("models", &models), ("upstreams", &upstreams)] {
            let _ = write!(out, ",\"{name}\":[");
            for (index, (group, cell)) in groups.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                crate::json::push_json_string(out, group);
                out.push_str(",\"figures\":");
                push_figures(out, cell, seconds);
                out.push('}');
            }
            out.push(']');
        }
        out.push_str(",\"series\":[");
        for (index, interval) in samples.intervals.iter().enumerate() {
            let mut sum = CellTotals::default();
            interval.cells.values().for_each(|cell| sum.add(cell));
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{{\"at_ms\":{},\"figures\":", interval.ended_ms);
            push_figures(out, &sum, interval.seconds);
            out.push('}');
        }
        out.push(']');
    }
}

/// `{"requests":…,"requests_per_s":…,"error_rate":…,"client_error_rate":…,
/// "latency_p50_ms":…,"latency_p95_ms":…,"ttft_p50_ms":…,"ttft_p95_ms":…}`.
fn push_figures(out: &mut String, cell: &CellTotals, seconds: f64) {
    let requests: u64 = cell.classes.iter().sum();
    let share = |count: u64| {
        if requests == 0 {
            0.0
        } else {
            count as f64 / requests as f64
        }
    };
    let rate = if seconds > 0.0 {
        requests as f64 / seconds
    } else {
        0.0
    };
    let _ = write!(
        out,
        "{{\"requests\":{requests},\"requests_per_s\":{rate:.3},\"error_rate\":{:.4},\
         \"client_error_rate\":{:.4},\"latency_p50_ms\":{},\"latency_p95_ms\":{},\
         \"ttft_p50_ms\":{},\"ttft_p95_ms\":{}}}",
        share(cell.classes[4]),
        share(cell.classes[3]),
        percentile(&cell.latency, 0.5),
        percentile(&cell.latency, 0.95),
        percentile(&cell.ttft, 0.5),
        percentile(&cell.ttft, 0.95),
    );
}

/// The `quantile` of bucket counts, as its bucket's middle in ms (`null` without data).
fn percentile(buckets: &[u64], quantile: f64) -> String {
    let count: u64 = buckets.iter().sum();
    if count == 0 {
        return "null".to_owned();
    }
    let rank = ((count as f64) * quantile).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (bucket, &n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return format!("{:.3}", fine_bucket_middle_ms(bucket));
        }
    }
    "null".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config() -> Arc<Config> {
        let text = r#"
            [[upstream]]
            name = "a"
            base_url = "http://127.0.0.1:9/v1"
            [[model]]
            name = "m"
            targets = [{ upstream = "a" }]
        "#;
        Arc::new(crate::config::parse(text, &|_| None).expect("config"))
    }

    #[test]
    fn intervals_give_rates_error_rates_and_percentiles() {
        let counters = Arc::new(RequestCounters::new(config()));
        let live = LiveFigures::default();
        live.sample(std::slice::from_ref(&counters));
        for n in 0..20u64 {
            let status = if n < 2 { 502 } else { 200 };
            counters.count(Some(0), Some(0), status);
            let latency = Duration::from_millis(if n < 19 { 10 } else { 900 });
            counters.time(Some(0), Some(0), latency, Some(Duration::from_millis(3)));
        }
        live.sample(std::slice::from_ref(&counters));
        let mut out = String::from("{");
        live.render(&mut out);
        out.push('}');
        let value: simd_json::OwnedValue =
            simd_json::to_owned_value(&mut out.clone().into_bytes()).expect(&out);
        use simd_json::prelude::*;
        let total = &value["total"];
        assert_eq!(total["requests"].as_u64(), Some(20));
        assert_eq!(total["error_rate"].as_f64(), Some(0.1));
        let p50 = total["latency_p50_ms"].as_f64().unwrap();
        let p95 = total["latency_p95_ms"].as_f64().unwrap();
        assert!((9.0..11.5).contains(&p50), "{out}");
        assert!((9.0..11.5).contains(&p95), "19 of 20 took 10 ms: {out}");
        assert!((2.5..3.5).contains(&total["ttft_p50_ms"].as_f64().unwrap()));
        assert_eq!(value["models"][0]["name"].as_str(), Some("m"));
        assert_eq!(value["upstreams"][0]["name"].as_str(), Some("a"));
        assert_eq!(value["series"].as_array().map(Vec::len), Some(1));
    }
}
