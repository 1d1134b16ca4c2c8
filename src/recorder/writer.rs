//! The logging thread's loop: takes events off the channel, turns them into rows, writes
//! them in batches, holds them in memory (then in the spill file) while the database is
//! away, replays the spill file once it is back, and drains everything at shutdown.
//! Plain blocking code: the Tokio runtime is entered only for database calls.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, TryRecvError};
use tokio::runtime::Runtime;

use super::health::{Backlog, DatabaseHealth};
use super::response::summarize_body;
use super::row::{LogRow, ResponseSummary};
use super::spill::SpillFile;
use super::store::{OpenError, Store};
use super::stream::StreamAccumulator;
use super::{RecorderSettings, RecorderStats};
use crate::log::{self, Value};
use crate::record::{RecordEvent, RequestRecord, StreamId};

/// Most rows written in one transaction.
const MAX_ROWS_PER_FLUSH: usize = 4096;
/// Longest a database call may take before it counts as failed.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// What a database call gets at shutdown even when the deadline has passed.
const FINAL_ATTEMPT: Duration = Duration::from_millis(500);
/// Longest the loop sleeps with nothing to do.
const IDLE_WAKE: Duration = Duration::from_secs(1);

/// The logging thread's fixed parts, set up by `start`.
pub(super) struct Writer {
    pub settings: RecorderSettings,
    pub runtime: Runtime,
    pub store: Option<Store>,
    pub spill: SpillFile,
    pub events: Receiver<RecordEvent>,
    pub control: Receiver<Instant>,
    pub stats: Arc<RecorderStats>,
}

/// The loop's moving parts.
struct Loop {
    writer: Writer,
    health: DatabaseHealth,
    events_open: bool,
    deadline: Option<Instant>,
    streams: HashMap<StreamId, StreamAccumulator>,
    pending: VecDeque<LogRow>,
    /// When the oldest pending row arrived: it is due `flush_interval` later.
    oldest_pending: Option<Instant>,
    spill_failing: bool,
    replayed: u64,
}

impl Writer {
    pub(super) fn run(self) {
        if self.spill.rows() > 0 {
            log::info(
                "log_spill_pending",
                &[("rows", Value::Int(self.spill.rows()))],
            );
        }
        let mut state = Loop {
            health: DatabaseHealth::new(self.store.is_some()),
            writer: self,
            events_open: true,
            deadline: None,
            streams: HashMap::new(),
            pending: VecDeque::new(),
            oldest_pending: None,
            spill_failing: false,
            replayed: 0,
        };
        while !state.finished() {
            state.receive();
            if state.flush_due() {
                state.flush();
            } else if state.replay_due() {
                state.replay_batch();
            }
            if let Err(error) = state.writer.spill.flush(false) {
                state.spill_failed(&error);
            }
            state.publish_stats();
        }
        state.close();
    }

    /// One database call, opening the store first if start-up could not.
    fn write(&mut self, rows: &[LogRow], timeout: Duration) -> Result<(), String> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.store.is_none() {
            // Timers must be created inside the runtime.
            let opening =
                async { tokio::time::timeout(timeout, Store::open(&self.settings.url)).await };
            match self.runtime.block_on(opening) {
                Ok(Ok(store)) => self.store = Some(store),
                Ok(Err(OpenError::Fatal(message))) => {
                    log::error("log_db_refused", &[("error", Value::Str(&message))]);
                    return Err(message);
                }
                Ok(Err(OpenError::Unavailable(message))) => return Err(message),
                Err(_) => return Err("timed out connecting".to_owned()),
            }
        }
        let store = self.store.as_ref().expect("store opened above");
        match self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, store.insert(rows)).await })
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("insert timed out after {} ms", timeout.as_millis())),
        }
    }
}

impl Loop {
    fn batch_size(&self) -> usize {
        let settings = &self.writer.settings;
        settings.batch_size.min(settings.memory_records).max(1)
    }

    /// Waits for an event, a shutdown deadline or the next due time, then takes what is
    /// queued: a batch while the database keeps up, everything once the backlog passes
    /// the memory bound (so the overflow goes to the spill file rather than piling up).
    fn receive(&mut self) {
        let timeout = self.next_wake().saturating_duration_since(Instant::now());
        let events = if self.events_open {
            self.writer.events.clone()
        } else {
            crossbeam_channel::never()
        };
        let control = self.writer.control.clone();
        select! {
            recv(events) -> event => match event {
                Ok(event) => self.accept(event),
                Err(_) => self.events_open = false,
            },
            recv(control) -> deadline => self.take_deadline(deadline.ok()),
            default(timeout) => {}
        }
        let queued = events.len();
        let keeping_up = self.health.is_up()
            && queued + self.pending.len() <= self.writer.settings.memory_records;
        let limit = if keeping_up {
            self.batch_size()
        } else {
            queued
        };
        self.take_queued(limit);
    }

    fn take_queued(&mut self, limit: usize) {
        for _ in 0..limit {
            match self.writer.events.try_recv() {
                Ok(event) => self.accept(event),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.events_open = false;
                    break;
                }
            }
        }
    }

    /// `shutdown` sent its deadline, or the `Recorder` was dropped without calling it.
    fn take_deadline(&mut self, deadline: Option<Instant>) {
        if deadline.is_none() {
            self.writer.control = crossbeam_channel::never();
        }
        self.deadline = Some(deadline.unwrap_or_else(Instant::now));
    }

    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let ready_at = self.health.ready_at(now);
        let mut wake = now + IDLE_WAKE;
        if let Some(deadline) = self.deadline {
            wake = wake.min(deadline);
        }
        if let Some(oldest) = self.oldest_pending {
            let due = if self.pending.len() >= self.batch_size() || !self.events_open {
                now
            } else {
                oldest + self.writer.settings.flush_interval
            };
            wake = wake.min(due.max(ready_at));
        }
        if self.writer.spill.rows() > 0 {
            wake = wake.min(ready_at);
        }
        wake
    }

    fn accept(&mut self, event: RecordEvent) {
        match event {
            RecordEvent::Request(record) => {
                crate::log::access(&record);
                let summary = body_summary(&record);
                self.push_row(*record, summary);
            }
            RecordEvent::StreamChunk { stream, bytes } => {
                self.streams.entry(stream).or_default().feed(&bytes);
            }
            RecordEvent::StreamEnd { stream, record } => {
                crate::log::access(&record);
                let summary = match self.streams.remove(&stream) {
                    Some(accumulator) => accumulator.finish(),
                    None => body_summary(&record),
                };
                self.push_row(*record, summary);
            }
        }
    }

    /// Past the memory bound a row goes to the spill file; if even that fails it stays
    /// in memory: the bound is exceeded rather than the row lost.
    fn push_row(&mut self, record: RequestRecord, summary: ResponseSummary) {
        let row = LogRow::new(record, summary, self.writer.settings.store_content);
        if self.pending.len() >= self.writer.settings.memory_records {
            match self.writer.spill.append(&row) {
                Ok(()) => return self.spilled_one(),
                Err(error) => self.spill_failed(&error),
            }
        }
        if self.pending.is_empty() {
            self.oldest_pending = Some(Instant::now());
        }
        self.pending.push_back(row);
    }

    fn flush_due(&self) -> bool {
        let now = Instant::now();
        let Some(oldest) = self.oldest_pending else {
            return false;
        };
        self.health.may_call(now)
            && (self.pending.len() >= self.batch_size()
                || !self.events_open
                || now >= oldest + self.writer.settings.flush_interval)
    }

    fn flush(&mut self) {
        let count = self.pending.len().min(MAX_ROWS_PER_FLUSH);
        let timeout = self.operation_timeout();
        let rows = &self.pending.make_contiguous()[..count];
        match self.writer.write(rows, timeout) {
            Ok(()) => {
                self.pending.drain(..count);
                self.oldest_pending = (!self.pending.is_empty()).then(Instant::now);
                self.succeeded(count);
            }
            Err(error) => self.failed(&error),
        }
    }

    fn replay_due(&self) -> bool {
        self.writer.spill.rows() > 0
            && self.pending.len() < self.batch_size()
            && self.health.may_call(Instant::now())
    }

    fn replay_batch(&mut self) {
        let rows = match self.writer.spill.read_batch(self.batch_size()) {
            Ok(rows) => rows,
            Err(error) => return self.failed(&format!("reading the spill file: {error}")),
        };
        if let Err(error) = self.writer.write(&rows, self.operation_timeout()) {
            return self.failed(&error);
        }
        if let Err(error) = self.writer.spill.commit_batch() {
            return self.failed(&format!("advancing the spill file: {error}"));
        }
        self.replayed += rows.len() as u64;
        self.succeeded(rows.len());
        if self.writer.spill.rows() == 0 {
            log::info(
                "log_spill_replayed",
                &[("rows", Value::Int(std::mem::take(&mut self.replayed)))],
            );
        }
    }

    fn operation_timeout(&self) -> Duration {
        let Some(deadline) = self.deadline else {
            return OPERATION_TIMEOUT;
        };
        deadline
            .saturating_duration_since(Instant::now())
            .clamp(FINAL_ATTEMPT, OPERATION_TIMEOUT)
    }

    fn backlog(&self) -> Backlog {
        Backlog {
            buffered: self.pending.len(),
            spilled: self.writer.spill.rows(),
        }
    }

    fn succeeded(&mut self, rows: usize) {
        let written = &self.writer.stats.written;
        written.fetch_add(rows as u64, Ordering::Relaxed);
        self.health.succeeded(self.backlog());
    }

    fn failed(&mut self, error: &str) {
        let failures = &self.writer.stats.failed_flushes;
        failures.fetch_add(1, Ordering::Relaxed);
        self.health.failed(error, self.backlog());
    }

    fn spilled_one(&mut self) {
        self.spill_failing = false;
        if self.writer.spill.rows() == 1 {
            log::warn(
                "log_spilling",
                &[
                    (
                        "path",
                        Value::Str(&self.writer.settings.spill_path.display().to_string()),
                    ),
                    ("buffered", Value::Int(self.pending.len() as u64)),
                ],
            );
        }
    }

    fn spill_failed(&mut self, error: &std::io::Error) {
        if !std::mem::replace(&mut self.spill_failing, true) {
            log::error(
                "log_spill_failed",
                &[("error", Value::Str(&error.to_string()))],
            );
        }
    }

    fn publish_stats(&self) {
        let stats = &self.writer.stats;
        stats
            .buffered
            .store(self.pending.len() as u64, Ordering::Relaxed);
        stats
            .spilled
            .store(self.writer.spill.rows(), Ordering::Relaxed);
        let connected = self.writer.store.is_some() && self.health.is_up();
        stats.connected.store(connected, Ordering::Relaxed);
    }

    /// Done once the channel is closed and every row is written, or at the deadline.
    fn finished(&self) -> bool {
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return true;
        }
        !self.events_open && self.pending.is_empty() && self.writer.spill.rows() == 0
    }

    /// Takes what is still queued and, while the database answers, writes it (even past
    /// the deadline, so a shutdown with a healthy database spills nothing); what it did
    /// not take goes to the spill file, on disk.
    fn close(mut self) {
        self.take_queued(usize::MAX);
        while !self.pending.is_empty() && self.health.is_up() {
            self.flush();
        }
        for row in std::mem::take(&mut self.pending) {
            if let Err(error) = self.writer.spill.append(&row) {
                self.spill_failed(&error);
            }
        }
        if let Err(error) = self.writer.spill.flush(true) {
            self.spill_failed(&error);
        }
        if !self.streams.is_empty() {
            log::warn(
                "log_streams_unfinished",
                &[("streams", Value::Int(self.streams.len() as u64))],
            );
        }
        self.publish_stats();
        if let Some(store) = self.writer.store.take() {
            self.writer.runtime.block_on(store.close());
        }
        log::info(
            "log_drained",
            &[
                (
                    "written",
                    Value::Int(self.writer.stats.written.load(Ordering::Relaxed)),
                ),
                ("spilled", Value::Int(self.writer.spill.rows())),
            ],
        );
    }
}

fn body_summary(record: &RequestRecord) -> ResponseSummary {
    let Some(body) = record.response_body.as_deref() else {
        return ResponseSummary::default();
    };
    summarize_body(record.status, body)
}
