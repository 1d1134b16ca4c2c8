//! What the logging thread asks of the database thread, one call at a time, and what it does
//! with the answer; and the bound on what a crash can lose: a row the database has not taken
//! within `flush_interval` of leaving the channel goes to the spill file (appended and handed
//! to the operating system every turn, so it survives kill -9), as a copy while the
//! database is up (see `spill`). Replays are idempotent (the insert skips an id already
//! there), so a row may be both written and spilled.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::database::{Call, CallResult};
use super::health::Backlog;
use super::row::LogRow;
use super::writer::Loop;
use gpt_api_common::log::{self, Value};

/// Most rows written in one transaction.
const MAX_ROWS_PER_FLUSH: usize = 4096;
/// Longest a database call may take before it counts as failed.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);
/// What a database call gets at shutdown even when the deadline has passed.
const FINAL_ATTEMPT: Duration = Duration::from_millis(500);

/// The call the database thread is making.
pub(super) enum InFlight {
    /// Rows from memory; `taken` is when the oldest left the channel, `copied` how many
    /// (from the front) are in the spill file too (they, or the write, waited longer than
    /// `flush_interval`), `copies` those copies the write settles once it succeeds
    /// (`generation`, count).
    Write {
        rows: Arc<Vec<LogRow>>,
        taken: Instant,
        copied: usize,
        copies: (u64, u64),
    },
    /// A batch read from the spill file, moved past there once written.
    Replay { rows: usize },
    /// Whether the database answers, when nothing else asks it.
    Probe,
}

impl Loop {
    /// Starts the next call unless one is under way or the database is backing off:
    /// rows in memory that are due, else a batch of the spill file, else a probe if due.
    pub(super) fn call_database(&mut self) {
        let now = Instant::now();
        if self.in_flight.is_some() || !self.health.may_call(now) {
            return;
        }
        if self.write_due(now) {
            self.write_rows();
        } else if self.buffer.needs_replay() && self.buffer.len() < self.batch_size() {
            self.replay_batch();
        } else if now >= self.health.probe_at() {
            self.start(Call::Probe, InFlight::Probe);
        }
    }

    fn write_due(&self, now: Instant) -> bool {
        let Some(oldest) = self.buffer.oldest() else {
            return false;
        };
        self.buffer.len() >= self.batch_size()
            || !self.events_open
            || now >= oldest + self.writer.settings.flush_interval
    }

    pub(super) fn write_rows(&mut self) {
        let count = self.buffer.len().min(MAX_ROWS_PER_FLUSH);
        let taken = self.buffer.take_front(count);
        let rows = Arc::new(taken.rows);
        let in_flight = InFlight::Write {
            rows: Arc::clone(&rows),
            taken: taken.taken.unwrap_or_else(Instant::now),
            copied: taken.copied,
            copies: (taken.generation, taken.copied as u64),
        };
        self.start(Call::Insert(rows), in_flight);
    }

    fn replay_batch(&mut self) {
        let rows = match self.buffer.spill().read_batch(MAX_ROWS_PER_FLUSH) {
            Ok(rows) => rows,
            Err(error) => return self.failed(&format!("reading the spill file: {error}")),
        };
        if rows.is_empty() {
            // Only damaged lines (logged): nothing to write, move past them.
            if let Err(error) = self.buffer.spill().commit_batch() {
                self.failed(&format!("advancing the spill file: {error}"));
            }
            return;
        }
        let count = rows.len();
        self.start(
            Call::Insert(Arc::new(rows)),
            InFlight::Replay { rows: count },
        );
    }

    fn start(&mut self, call: Call, in_flight: InFlight) {
        self.in_flight = Some(in_flight);
        if !self.writer.database.call(call, self.operation_timeout()) {
            self.call_returned(None);
        }
    }

    /// The database thread answered (`None`: it is gone).
    pub(super) fn call_returned(&mut self, result: Option<CallResult>) {
        let result = result.unwrap_or_else(|| {
            if !std::mem::replace(&mut self.database_gone, true) {
                log::error("log_db_thread_gone", &[]);
                self.results = crossbeam_channel::never();
            }
            Err("the database thread is gone".to_owned())
        });
        let Some(call) = self.in_flight.take() else {
            return;
        };
        match (call, result) {
            (InFlight::Write { copies, .. }, Ok(inserted)) => {
                self.buffer.settle(copies.0, copies.1);
                self.succeeded(inserted);
            }
            (InFlight::Probe, Ok(inserted)) => self.succeeded(inserted),
            (InFlight::Replay { rows }, Ok(inserted)) => self.replayed(rows, inserted),
            (
                InFlight::Write {
                    rows,
                    taken,
                    copied,
                    ..
                },
                Err(error),
            ) => {
                self.take_back(rows, taken, copied);
                self.failed(&error);
            }
            (InFlight::Replay { .. } | InFlight::Probe, Err(error)) => self.failed(&error),
        }
    }

    fn replayed(&mut self, rows: usize, inserted: u64) {
        if let Err(error) = self.buffer.spill().commit_batch() {
            return self.failed(&format!("advancing the spill file: {error}"));
        }
        self.replayed += rows as u64;
        self.succeeded(inserted);
        if !self.buffer.needs_replay() {
            let replayed = std::mem::take(&mut self.replayed);
            log::info("log_spill_replayed", &[("rows", Value::Int(replayed))]);
        }
    }

    /// A failed write's rows not in the spill file go back to memory, first in line (the
    /// spill file takes them once they have waited their interval); those in it are
    /// replayed from there.
    fn take_back(&mut self, rows: Arc<Vec<LogRow>>, taken: Instant, copied: usize) {
        match Arc::try_unwrap(rows) {
            Ok(rows) => self.buffer.put_back(taken, rows.into_iter().skip(copied)),
            // The database thread still holds them (it cannot: it drops a call before
            // answering); put them on disk rather than lose them.
            Err(rows) => self.buffer.move_rows(&rows[copied..]),
        }
    }

    /// At shutdown, a call that did not answer in time: its rows go to the spill file.
    pub(super) fn abandon_call(&mut self) {
        if let Some(InFlight::Write { rows, copied, .. }) = self.in_flight.take() {
            self.buffer.move_rows(&rows[copied..]);
        }
    }

    /// The crash bound: rows in memory, and rows of a write still under way, that left the
    /// channel more than `flush_interval` ago go to the spill file.
    pub(super) fn spill_what_waited(&mut self) {
        let interval = self.writer.settings.flush_interval;
        let Some(cutoff) = Instant::now().checked_sub(interval) else {
            return;
        };
        self.buffer.spill_taken_before(cutoff, self.health.is_up());
        if let Some(InFlight::Write {
            rows,
            taken,
            copied,
            copies,
        }) = &mut self.in_flight
        {
            if *copied < rows.len()
                && *taken < cutoff
                && self.buffer.copy_rows(&rows[*copied..], copies)
            {
                *copied = rows.len();
            }
        }
    }

    pub(super) fn operation_timeout(&self) -> Duration {
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

    fn succeeded(&mut self, inserted: u64) {
        let written = &self.writer.stats.written;
        written.fetch_add(inserted, Ordering::Relaxed);
        self.health.succeeded(self.backlog());
    }

    fn failed(&mut self, error: &str) {
        let failures = &self.writer.stats.failed_flushes;
        failures.fetch_add(1, Ordering::Relaxed);
        self.health.failed(error, self.backlog());
    }
}
