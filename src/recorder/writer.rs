//! The logging thread's loop: takes events off the channel, turns them into rows and access
//! lines, hands batches to the database thread (`calls`), spills to disk what waits longer
//! than `flush_interval`, and drains everything at shutdown.
//! Plain blocking code that never waits on the database: its only waits are on the channel,
//! the shutdown deadline and the database thread's results, all in one `select!`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{select, Receiver, RecvTimeoutError, TryRecvError};

use super::buffer::RowBuffer;
use super::calls::InFlight;
use super::database::{CallResult, Database};
use super::health::DatabaseHealth;
use super::response::summarize_body;
use super::row::{format_utc, LogRow, ResponseSummary};
use super::spill::SpillFile;
use super::stream::StreamAccumulator;
use super::RecorderStats;
use gpt_api_common::log::{self, Value};
use gpt_api_common::record::{RecordEvent, RequestRecord, StreamId};
use gpt_api_common::DatabaseSettings;

/// Most events taken in one turn of the loop, so that access lines go out and batches start
/// while a backlog is worked through.
const MAX_EVENTS_PER_TURN: usize = 4096;
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
    pub database: Database,
    pub events: Receiver<RecordEvent>,
    pub control: Receiver<Instant>,
    pub stats: Arc<RecorderStats>,
}

/// The loop's moving parts.
pub(super) struct Loop {
    pub(super) writer: Writer,
    pub(super) health: DatabaseHealth,
    /// Where the database thread's results arrive (`never` once that thread is gone).
    pub(super) results: Receiver<CallResult>,
    /// The database thread ended (it panicked): every call fails, rows go to the spill file.
    pub(super) database_gone: bool,
    /// The call the database thread is making.
    pub(super) in_flight: Option<InFlight>,
    pub(super) buffer: RowBuffer,
    pub(super) events_open: bool,
    pub(super) deadline: Option<Instant>,
    streams: HashMap<StreamId, StreamAccumulator, BuildHasherDefault<StreamIdHasher>>,
    /// Rows replayed since the spill file was last empty.
    pub(super) replayed: u64,
    /// Access lines of the events taken, written to stdout together.
    access_lines: String,
    /// When the last turn's events were taken: the loop polls while events keep coming.
    last_event_at: Instant,
    /// Freed memory went back once the events stopped (see `gpt_api_common::alloc`).
    collected_since_last_event: bool,
}

impl Writer {
    /// `connected`: whether start-up reached the database.
    pub(super) fn run(self, spill: SpillFile, connected: bool) {
        if spill.rows() > 0 {
            log::info("log_spill_pending", &[("rows", Value::Int(spill.rows()))]);
        }
        let mut state = Loop {
            health: DatabaseHealth::new(connected),
            results: self.database.results().clone(),
            database_gone: false,
            in_flight: None,
            buffer: RowBuffer::new(spill, self.settings.memory_records),
            writer: self,
            events_open: true,
            deadline: None,
            streams: HashMap::default(),
            replayed: 0,
            access_lines: String::new(),
            last_event_at: Instant::now(),
            collected_since_last_event: false,
        };
        while !state.finished() {
            state.receive();
            state.print_access_lines();
            state.call_database();
            state.spill_what_waited();
            state.buffer.flush_spill();
            state.publish_stats();
        }
        state.close();
    }
}

impl Loop {
    /// Waits (unless events are queued) for an event, a result, a shutdown deadline or the
    /// next due time, then takes a turn's worth of what is queued.
    fn receive(&mut self) {
        let events_queued = self.events_open && !self.writer.events.is_empty();
        self.wait(events_queued);
        self.take_queued(MAX_EVENTS_PER_TURN);
    }

    /// With `events_queued`, waits for nothing but still takes a result or a deadline that is
    /// there: under a steady stream of events the queue may never be empty, and a result
    /// left unread would keep the database thread idle while rows pile up.
    fn wait(&mut self, events_queued: bool) {
        let timeout = if events_queued {
            Duration::ZERO
        } else {
            self.next_wake().saturating_duration_since(Instant::now())
        };
        // While events keep coming, poll (nothing waits on the channel, so sends never wake
        // this thread); once quiet, give memory back and wait on the channel.
        let polling = events_queued
            || (self.events_open && self.last_event_at.elapsed() < POLL_UNTIL_QUIET_FOR);
        let (events, wait) = if polling {
            (crossbeam_channel::never(), timeout.min(POLL_INTERVAL))
        } else if self.events_open {
            (self.writer.events.clone(), timeout)
        } else {
            (crossbeam_channel::never(), timeout)
        };
        if self.events_open && !polling && !self.collected_since_last_event {
            gpt_api_common::alloc::collect_quiet_thread();
            self.collected_since_last_event = true;
        }
        let control = self.writer.control.clone();
        let results = self.results.clone();
        select! {
            recv(control) -> deadline => self.take_deadline(deadline.ok()),
            recv(events) -> event => match event {
                Ok(event) => {
                    self.event_arrived();
                    self.accept(event);
                }
                Err(_) => self.events_open = false,
            },
            recv(results) -> result => self.call_returned(result.ok()),
            default(wait) => {}
        }
    }

    /// One write for all the access lines of a turn, instead of one per request.
    fn print_access_lines(&mut self) {
        if !self.access_lines.is_empty() {
            // `print!` rather than a raw stdout write, so that test runs capture it.
            print!("{}", self.access_lines);
            self.access_lines.clear();
        }
    }

    fn take_queued(&mut self, limit: usize) {
        for taken in 0..limit {
            match self.writer.events.try_recv() {
                Ok(event) => {
                    if taken == 0 {
                        self.event_arrived();
                    }
                    self.accept(event);
                }
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

    /// The earliest of: the shutdown deadline, when the oldest row in memory is due (to be
    /// written, or spilled if the database cannot take it), when the write under way has
    /// taken too long, and (no call under way) when the database may be called again.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let interval = self.writer.settings.flush_interval;
        let mut wake = now + IDLE_WAKE;
        if let Some(deadline) = self.deadline {
            wake = wake.min(deadline);
        }
        if let Some(oldest) = self.buffer.oldest_not_copied() {
            let due = oldest + interval;
            // A spill file that fails is retried on the next event or idle wake, not in a spin.
            if due > now || !self.buffer.spill_failing() {
                wake = wake.min(due);
            }
        }
        match &self.in_flight {
            Some(InFlight::Write {
                rows,
                taken,
                copied,
                ..
            }) if *copied < rows.len() => wake = wake.min(*taken + interval),
            Some(_) => {}
            None => {
                let has_work = self.buffer.len() >= self.batch_size()
                    || self
                        .buffer
                        .oldest()
                        .is_some_and(|oldest| oldest + interval <= now)
                    || (!self.events_open && self.buffer.len() > 0)
                    || self.buffer.needs_replay();
                if has_work {
                    wake = wake.min(self.health.ready_at(now));
                }
                wake = wake.min(self.health.probe_at());
            }
        }
        wake
    }

    /// Events are coming: the loop polls, and the rows of this turn's events count as taken
    /// now (one clock read per turn, not per event).
    fn event_arrived(&mut self) {
        self.last_event_at = Instant::now();
        self.collected_since_last_event = false;
    }

    fn accept(&mut self, event: RecordEvent) {
        let (mut record, summary) = match event {
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
        let row_admission = record.admission.take();
        let row_total = summary.total();
        let settings = &self.writer.settings;
        let created_at = format_utc(record.created_at);
        if settings.access_log {
            log::push_access_line(&mut self.access_lines, &record, &created_at);
        }
        let store_content = settings.store_content;
        let row = LogRow::new(*record, created_at, summary, store_content);
        if let Some(admission) = &row_admission {
            // The key's tokens and spend, from the real usage (the row's cost).
            admission.settle(row_total, row.cost_usd.unwrap_or(0.0), SystemTime::now());
        }
        self.buffer.push(self.last_event_at, row);
    }

    pub(super) fn batch_size(&self) -> usize {
        let settings = &self.writer.settings;
        settings.batch_size.min(settings.memory_records).max(1)
    }

    fn publish_stats(&self) {
        let stats = &self.writer.stats;
        // Rows a crash would lose: in memory and neither written nor spilled yet.
        let in_flight = match &self.in_flight {
            Some(InFlight::Write { rows, copied, .. }) => rows.len() - copied,
            _ => 0,
        };
        let buffered = (self.buffer.only_in_memory() + in_flight) as u64;
        stats.buffered.store(buffered, Ordering::Relaxed);
        stats
            .spilled
            .store(self.buffer.spilled(), Ordering::Relaxed);
        stats
            .connected
            .store(self.health.is_up(), Ordering::Relaxed);
        stats
            .spill_failing
            .store(self.buffer.spill_failing(), Ordering::Relaxed);
    }

    /// Done once the channel is closed and every row is written, or at the deadline.
    fn finished(&self) -> bool {
        let now = Instant::now();
        if self.deadline.is_some_and(|deadline| now >= deadline) {
            return true;
        }
        !self.events_open
            && self.in_flight.is_none()
            && self.buffer.len() == 0
            && !self.buffer.needs_replay()
    }

    /// Takes what is still queued, waits for the call under way and, while the database
    /// answers, writes what is in memory (even past the deadline, so a shutdown with a
    /// healthy database spills nothing); the rest goes to the spill file, on disk.
    fn close(mut self) {
        self.take_queued(usize::MAX);
        self.print_access_lines();
        let mut hung = false;
        loop {
            if self.in_flight.is_some() {
                match self.results.recv_timeout(self.operation_timeout()) {
                    Ok(result) => self.call_returned(Some(result)),
                    Err(RecvTimeoutError::Disconnected) => self.call_returned(None),
                    Err(RecvTimeoutError::Timeout) => {
                        self.abandon_call();
                        hung = true;
                        break;
                    }
                }
            } else if self.buffer.len() > 0 && self.health.is_up() {
                self.write_rows();
            } else {
                break;
            }
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
        self.writer.database.close(!hung);
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

/// Stream ids are the process's own (a worker's index in the top bits, its counter below),
/// not a client's: a multiplication spreads them over the table, where SipHash (the default,
/// against chosen keys) cost more than the lookup it serves, once per chunk.
#[derive(Default)]
struct StreamIdHasher(u64);

impl Hasher for StreamIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, id: u64) {
        let spread = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = spread ^ (spread >> 32);
    }
}

fn body_summary(record: &RequestRecord) -> ResponseSummary {
    let Some(body) = record.response_body.as_deref() else {
        return ResponseSummary::default();
    };
    summarize_body(&record.endpoint, record.status, body)
}
