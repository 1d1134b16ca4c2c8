//! Per-thread counters and HDR histograms (µs), merged at the end into one JSON line.

use std::fmt::Write;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::plan::{Mode, Plan};

/// Highest recordable value: 100 s in µs, with 3 significant digits.
const MAX_MICROS: u64 = 100_000_000;

/// What one stream delivered.
#[derive(Default)]
pub struct StreamOutcome {
    pub ttft: Option<Duration>,
    pub gaps: Vec<Duration>,
    pub events: u64,
    pub done: bool,
    pub error_event: bool,
}

pub struct Stats {
    /// Request latency (plain) or whole-stream duration (streams).
    latency: Histogram<u64>,
    ttft: Histogram<u64>,
    gap: Histogram<u64>,
    /// Responses received with a status, warm-up included: what the server answered.
    answered: u64,
    ok: u64,
    non_200: u64,
    errors: u64,
    first_error: Option<String>,
    last_completion: Option<Instant>,
    events_min: u64,
    events_max: u64,
    lost_events: u64,
    incomplete: u64,
    gaps_over_limit: u64,
    /// Streams complete, with nothing lost and no gap over the limit.
    clean_streams: u64,
    /// `Idle`: connections still open once answered, held idle.
    held: u64,
}

impl Stats {
    pub fn new() -> Self {
        let histogram =
            || Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds");
        Self {
            latency: histogram(),
            ttft: histogram(),
            gap: histogram(),
            answered: 0,
            ok: 0,
            non_200: 0,
            errors: 0,
            first_error: None,
            last_completion: None,
            events_min: u64::MAX,
            events_max: 0,
            lost_events: 0,
            incomplete: 0,
            gaps_over_limit: 0,
            clean_streams: 0,
            held: 0,
        }
    }

    pub fn count_answer(&mut self) {
        self.answered += 1;
    }

    pub fn record_response(&mut self, status: u16, latency: Duration) {
        if status != 200 {
            self.non_200 += 1;
            self.note_error(|| format!("status {status}"));
            return;
        }
        self.ok += 1;
        self.latency.saturating_record(micros(latency));
        let now = Instant::now();
        self.last_completion = Some(self.last_completion.map_or(now, |last| last.max(now)));
    }

    pub fn count_held(&mut self, connections: u64) {
        self.held += connections;
    }

    pub fn record_error(&mut self, describe: impl FnOnce() -> String) {
        self.errors += 1;
        self.note_error(describe);
    }

    /// Records a stream answered with status 200.
    pub fn record_stream(&mut self, outcome: &StreamOutcome, plan: &Plan) {
        if let Some(ttft) = outcome.ttft {
            self.ttft.saturating_record(micros(ttft));
        }
        let mut over_limit = 0;
        for gap in &outcome.gaps {
            self.gap.saturating_record(micros(*gap));
            over_limit += u64::from(*gap > plan.gap_limit);
        }
        self.gaps_over_limit += over_limit;
        self.events_min = self.events_min.min(outcome.events);
        self.events_max = self.events_max.max(outcome.events);
        let lost = plan.expect_events.saturating_sub(outcome.events);
        self.lost_events += lost;
        let complete = outcome.done && !outcome.error_event;
        self.incomplete += u64::from(!complete);
        self.clean_streams += u64::from(complete && lost == 0 && over_limit == 0);
    }

    pub fn any_ok(&self) -> bool {
        self.ok > 0
    }

    fn note_error(&mut self, describe: impl FnOnce() -> String) {
        if self.first_error.is_none() {
            self.first_error = Some(describe());
        }
    }

    pub fn merge(&mut self, other: Self) {
        self.latency
            .add(&other.latency)
            .expect("same histogram bounds");
        self.ttft.add(&other.ttft).expect("same histogram bounds");
        self.gap.add(&other.gap).expect("same histogram bounds");
        self.answered += other.answered;
        self.ok += other.ok;
        self.non_200 += other.non_200;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.last_completion = self.last_completion.max(other.last_completion);
        self.events_min = self.events_min.min(other.events_min);
        self.events_max = self.events_max.max(other.events_max);
        self.lost_events += other.lost_events;
        self.incomplete += other.incomplete;
        self.gaps_over_limit += other.gaps_over_limit;
        self.clean_streams += other.clean_streams;
        self.held += other.held;
    }

    /// The run's results as one JSON object.
    pub fn report(&self, plan: &Plan, driver: &str) -> String {
        let seconds = self.last_completion.map_or(0.0, |last| {
            last.saturating_duration_since(plan.measure_from)
                .as_secs_f64()
        });
        let rate = if seconds > 0.0 {
            self.ok as f64 / seconds
        } else {
            0.0
        };
        let mut json = JsonLine::default();
        json.text("mode", plan.mode.name());
        json.text("target", &plan.target.to_string());
        json.text("api", plan.api.name());
        json.text("path", &plan.path);
        json.text("driver", driver);
        json.number("concurrency", plan.concurrency);
        json.number("threads", plan.threads);
        json.number("seconds", format_args!("{seconds:.3}"));
        json.number("answered", self.answered);
        json.number("ok", self.ok);
        json.number("non_200", self.non_200);
        json.number("errors", self.errors);
        match plan.mode {
            Mode::Plain | Mode::Idle => {
                json.number("rps", format_args!("{rate:.1}"));
                percentiles(&mut json, "", &self.latency);
                json.number("mean_us", format_args!("{:.1}", self.latency.mean()));
                if plan.mode == Mode::Idle {
                    json.number("held", self.held);
                }
            }
            Mode::Stream | Mode::SlowStreams => {
                json.number("streams_per_s", format_args!("{rate:.1}"));
                percentiles(&mut json, "ttft_", &self.ttft);
                percentiles(&mut json, "gap_", &self.gap);
                percentiles(&mut json, "stream_", &self.latency);
                json.number("events_min", if self.ok > 0 { self.events_min } else { 0 });
                json.number("events_max", self.events_max);
                json.number("expected_events", plan.expect_events);
                json.number("lost_events", self.lost_events);
                json.number("incomplete", self.incomplete);
                json.number("gap_limit_ms", plan.gap_limit.as_millis());
                json.number("gaps_over_limit", self.gaps_over_limit);
                json.number("clean_streams", self.clean_streams);
            }
        }
        match &self.first_error {
            Some(error) => json.text("first_error", error),
            None => json.number("first_error", "null"),
        }
        json.finish()
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// p50, p90, p99 and max; `null` when nothing was recorded.
fn percentiles(json: &mut JsonLine, prefix: &str, histogram: &Histogram<u64>) {
    for (name, quantile) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        let key = format!("{prefix}{name}_us");
        if histogram.is_empty() {
            json.number(&key, "null");
        } else {
            json.number(&key, histogram.value_at_quantile(quantile));
        }
    }
}

/// A flat JSON object written field by field.
#[derive(Default)]
struct JsonLine {
    text: String,
}

impl JsonLine {
    fn number(&mut self, key: &str, value: impl std::fmt::Display) {
        self.key(key);
        let _ = write!(self.text, "{value}");
    }

    fn text(&mut self, key: &str, value: &str) {
        self.key(key);
        self.text.push('"');
        for character in value.chars() {
            match character {
                '"' => self.text.push_str("\\\""),
                '\\' => self.text.push_str("\\\\"),
                c if c.is_control() => {
                    let _ = write!(self.text, "\\u{:04x}", u32::from(c));
                }
                c => self.text.push(c),
            }
        }
        self.text.push('"');
    }

    fn key(&mut self, key: &str) {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        let _ = write!(self.text, "\"{key}\":");
    }

    fn finish(mut self) -> String {
        self.text.push('}');
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::JsonLine;

    #[test]
    fn json_line_escapes() {
        let mut json = JsonLine::default();
        json.number("n", 1);
        json.text("s", "a\"b\\c\n");
        assert_eq!(json.finish(), r#"{"n":1,"s":"a\"b\\c\u000a"}"#);
    }
}
