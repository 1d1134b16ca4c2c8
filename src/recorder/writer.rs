//! The logging thread's loop: takes events off the channel, turns them into rows, writes
//! them in batches, holds them (`RowBuffer`) while the database is away, replays the spill
//! file once it is back, and drains everything at shutdown.
//! Plain blocking code: the Tokio runtime is entered only for database calls.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, TryRecvError};
use tokio::runtime::Runtime;

use super::buffer::RowBuffer;
use super::health::{Backlog, DatabaseHealth};
use super::response::summarize_body;
use super::row::{LogRow, ResponseSummary};
use super::spill::SpillFile;
use super::store::{OpenError, Store};
use super::stream::StreamAccumulator;
use super::RecorderStats;
use gpt_api_common::log::{self, Value};
use gpt_api_common::record::{RecordEvent, RequestRecord, StreamId};
use gpt_api_common::DatabaseSettings;

/// Most rows written in one transaction.
const MAX_ROWS_PER_FLUSH: usize = 4096;
/// Longest a database call may take before it counts as failed.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// What a database call gets at shutdown even when the deadline has passed.
const FINAL_ATTEMPT: Duration = Duration::from_millis(500);
/// Longest the loop sleeps with nothing to do.
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// How often a busy logging thread looks for events. It polls rather than waiting on the
/// channel so that a worker's send never has to wake it (a futex wake per send showed up as
/// the largest cost per stream chunk); a row appears at most this much later.
const POLL_INTERVAL: Duration = Duration::from_millis(2);
/// After this long without events the thread waits on the channel instead of polling (500
/// wake-ups a second cost an idle gateway 2.4% of a core); the first send wakes it.
const POLL_UNTIL_QUIET_FOR: Duration = Duration::from_millis(100);

/// The logging thread's fixed parts, set up by `start`.
pub(super) struct Writer {
    pub settings: DatabaseSettings,
    pub runtime: Runtime,
    pub store: Option<Store>,
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
    buffer: RowBuffer,
    /// Rows replayed since the spill file was last empty.
    replayed: u64,
    /// Access lines of the events taken, written to stdout together.
    access_lines: String,
    /// When the last event was taken: the loop polls while events keep coming.
    last_event_at: Instant,
    /// Freed memory went back once the events stopped (see `gpt_api_common::alloc`).
    collected_since_last_event: bool,
}

impl Writer {
    pub(super) fn run(self, spill: SpillFile) {
        if spill.rows() > 0 {
            log::info("log_spill_pending", &[("rows", Value::Int(spill.rows()))]);
        }
        let mut state = Loop {
            health: DatabaseHealth::new(self.store.is_some()),
            buffer: RowBuffer::new(spill, self.settings.memory_records),
            writer: self,
            events_open: true,
            deadline: None,
            streams: HashMap::new(),
            replayed: 0,
            access_lines: String::new(),
            last_event_at: Instant::now(),
            collected_since_last_event: false,
        };
        while !state.finished() {
            state.receive();
            state.print_access_lines();
            if state.flush_due() {
                state.flush();
            } else if state.replay_due() {
                state.replay_batch();
            }
            state.buffer.flush_spill();
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
            let url = &self.settings.url;
            let opening = async { tokio::time::timeout(timeout, Store::open(url)).await };
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
        let inserting = async { tokio::time::timeout(timeout, store.insert(rows)).await };
        match self.runtime.block_on(inserting) {
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
    /// queued: up to one transaction's worth while the database keeps up (a backlog is
    /// written in bigger transactions), everything once the backlog passes the memory
    /// bound (so the overflow goes to the spill file rather than piling up).
    fn receive(&mut self) {
        let timeout = self.next_wake().saturating_duration_since(Instant::now());
        let events = if self.events_open {
            self.writer.events.clone()
        } else {
            crossbeam_channel::never()
        };
        let control = self.writer.control.clone();
        if events.is_empty() && self.events_open {
            // While events keep coming, poll (nothing waits on the channel, so sends never
            // wake this thread); once quiet, give memory back and wait on the channel.
            let polling = self.last_event_at.elapsed() < POLL_UNTIL_QUIET_FOR;
            let (woken_by, wait) = if polling {
                (crossbeam_channel::never(), timeout.min(POLL_INTERVAL))
            } else {
                (events.clone(), timeout)
            };
            if !polling && !self.collected_since_last_event {
                gpt_api_common::alloc::collect_quiet_thread();
                self.collected_since_last_event = true;
            }
            select! {
                recv(control) -> deadline => self.take_deadline(deadline.ok()),
                recv(woken_by) -> event => match event {
                    Ok(event) => self.accept(event),
                    Err(_) => self.events_open = false,
                },
                default(wait) => {}
            }
        }
        let queued = events.len();
        let keeping_up = self.health.is_up()
            && queued + self.buffer.len() <= self.writer.settings.memory_records;
        let limit = if keeping_up {
            MAX_ROWS_PER_FLUSH
        } else {
            queued
        };
        self.take_queued(limit);
    }

    /// One write for all the access lines of a cycle, instead of one per request.
    fn print_access_lines(&mut self) {
        if !self.access_lines.is_empty() {
            // `print!` rather than a raw stdout write, so that test runs capture it.
            print!("{}", self.access_lines);
            self.access_lines.clear();
        }
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
    /// Either way the workers are done: what is queued now is all there is, even if a
    /// sender clone is still alive somewhere (`close` takes any straggler).
    fn take_deadline(&mut self, deadline: Option<Instant>) {
        if deadline.is_none() {
            self.writer.control = crossbeam_channel::never();
        }
        self.deadline = Some(deadline.unwrap_or_else(Instant::now));
        self.take_queued(usize::MAX);
        self.events_open = false;
    }

    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let ready_at = self.health.ready_at(now);
        let mut wake = now + IDLE_WAKE;
        if let Some(deadline) = self.deadline {
            wake = wake.min(deadline);
        }
        if let Some(oldest) = self.buffer.oldest() {
            let due = if self.buffer.len() >= self.batch_size() || !self.events_open {
                now
            } else {
                oldest + self.writer.settings.flush_interval
            };
            wake = wake.min(due.max(ready_at));
        }
        if self.buffer.spilled() > 0 {
            wake = wake.min(ready_at);
        }
        wake
    }

    fn accept(&mut self, event: RecordEvent) {
        self.last_event_at = Instant::now();
        self.collected_since_last_event = false;
        let (record, summary) = match event {
            RecordEvent::Request(record) => {
                let summary = body_summary(&record);
                (record, summary)
            }
            RecordEvent::StreamChunk { stream, bytes } => {
                self.streams.entry(stream).or_default().feed(&bytes);
                return;
            }
            RecordEvent::StreamEnd { stream, record } => {
                let summary = match self.streams.remove(&stream) {
                    Some(accumulator) => accumulator.finish(),
                    None => body_summary(&record),
                };
                (record, summary)
            }
        };
        self.access_lines.push_str(&log::access_line(&record));
        self.access_lines.push('\n');
        let store_content = self.writer.settings.store_content;
        self.buffer
            .push(LogRow::new(*record, summary, store_content));
    }

    fn flush_due(&self) -> bool {
        let now = Instant::now();
        let Some(oldest) = self.buffer.oldest() else {
            return false;
        };
        self.health.may_call(now)
            && (self.buffer.len() >= self.batch_size()
                || !self.events_open
                || now >= oldest + self.writer.settings.flush_interval)
    }

    fn flush(&mut self) {
        let count = self.buffer.len().min(MAX_ROWS_PER_FLUSH);
        let timeout = self.operation_timeout();
        match self.writer.write(self.buffer.front(count), timeout) {
            Ok(()) => {
                self.buffer.written(count);
                self.succeeded(count);
            }
            Err(error) => self.failed(&error),
        }
    }

    fn replay_due(&self) -> bool {
        self.buffer.spilled() > 0
            && self.buffer.len() < self.batch_size()
            && self.health.may_call(Instant::now())
    }

    fn replay_batch(&mut self) {
        let rows = match self.buffer.spill().read_batch(MAX_ROWS_PER_FLUSH) {
            Ok(rows) => rows,
            Err(error) => return self.failed(&format!("reading the spill file: {error}")),
        };
        if let Err(error) = self.writer.write(&rows, self.operation_timeout()) {
            return self.failed(&error);
        }
        if let Err(error) = self.buffer.spill().commit_batch() {
            return self.failed(&format!("advancing the spill file: {error}"));
        }
        self.replayed += rows.len() as u64;
        self.succeeded(rows.len());
        if self.buffer.spilled() == 0 {
            let replayed = std::mem::take(&mut self.replayed);
            log::info("log_spill_replayed", &[("rows", Value::Int(replayed))]);
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
            buffered: self.buffer.len(),
            spilled: self.buffer.spilled(),
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

    fn publish_stats(&self) {
        let stats = &self.writer.stats;
        let buffered = self.buffer.len() as u64;
        stats.buffered.store(buffered, Ordering::Relaxed);
        stats
            .spilled
            .store(self.buffer.spilled(), Ordering::Relaxed);
        let connected = self.writer.store.is_some() && self.health.is_up();
        stats.connected.store(connected, Ordering::Relaxed);
    }

    /// Done once the channel is closed and every row is written, or at the deadline.
    fn finished(&self) -> bool {
        let now = Instant::now();
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            return true;
        }
        !self.events_open && self.buffer.len() == 0 && self.buffer.spilled() == 0
    }

    /// Takes what is still queued and, while the database answers, writes it (even past
    /// the deadline, so a shutdown with a healthy database spills nothing); what it did
    /// not take goes to the spill file, on disk.
    fn close(mut self) {
        self.take_queued(usize::MAX);
        self.print_access_lines();
        while self.buffer.len() > 0 && self.health.is_up() {
            self.flush();
        }
        self.buffer.spill_everything();
        if !self.streams.is_empty() {
            let streams = self.streams.len() as u64;
            log::warn(
                "log_streams_unfinished",
                &[("streams", Value::Int(streams))],
            );
        }
        self.publish_stats();
        if let Some(store) = self.writer.store.take() {
            self.writer.runtime.block_on(store.close());
        }
        let written = self.writer.stats.written();
        let spilled = self.buffer.spilled();
        log::info(
            "log_drained",
            &[
                ("written", Value::Int(written)),
                ("spilled", Value::Int(spilled)),
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
