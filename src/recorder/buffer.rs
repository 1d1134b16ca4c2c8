//! Rows waiting for the database: in memory while they are young (less than
//! `flush_interval` since the logging thread took them) and fewer than `memory_records`,
//! otherwise in the spill file. If even the spill file fails, a row stays in memory: the
//! bound is exceeded rather than the row lost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::row::LogRow;
use super::spill::SpillFile;
use gpt_api_common::log::{self, Value};

/// Under load the spill file may fill and empty every few seconds (a write that takes
/// longer than `flush_interval`); one warning a minute says so without flooding the log.
const SPILL_WARNING_EVERY: Duration = Duration::from_secs(60);

pub(super) struct RowBuffer {
    /// Rows in memory, oldest first, with when each was taken off the channel.
    pending: VecDeque<(Instant, LogRow)>,
    memory_records: usize,
    spill: SpillFile,
    /// The spill file's last write failed (logged once per failing run).
    spill_failing: bool,
    /// When `log_spilling` was last logged.
    warned_at: Option<Instant>,
}

impl RowBuffer {
    pub(super) fn new(spill: SpillFile, memory_records: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            memory_records,
            spill,
            spill_failing: false,
            warned_at: None,
        }
    }

    /// A row taken off the channel at `taken`.
    pub(super) fn push(&mut self, taken: Instant, row: LogRow) {
        if self.pending.len() >= self.memory_records {
            match self.spill.append(&row) {
                Ok(()) => return self.spilled_one(),
                Err(error) => self.spill_failed(&error),
            }
        }
        self.pending.push_back((taken, row));
    }

    /// Rows in memory.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// When the oldest row in memory was taken off the channel.
    pub(super) fn oldest(&self) -> Option<Instant> {
        self.pending.front().map(|(taken, _)| *taken)
    }

    /// Rows in the spill file.
    pub(super) fn spilled(&self) -> u64 {
        self.spill.rows()
    }

    /// The spill file's last write failed: rows the database cannot take stay in memory.
    pub(super) fn spill_failing(&self) -> bool {
        self.spill_failing
    }

    pub(super) fn spill(&mut self) -> &mut SpillFile {
        &mut self.spill
    }

    /// Takes the oldest `count` rows out of memory, for one write; with when the first was taken.
    pub(super) fn take_front(&mut self, count: usize) -> (Vec<LogRow>, Option<Instant>) {
        let oldest = self.oldest();
        let rows = self.pending.drain(..count).map(|(_, row)| row).collect();
        (rows, oldest)
    }

    /// Rows a failed write gives back: first in line again, as taken at `taken`.
    pub(super) fn put_back(&mut self, taken: Instant, rows: Vec<LogRow>) {
        for row in rows.into_iter().rev() {
            self.pending.push_front((taken, row));
        }
    }

    /// Moves the rows taken before `cutoff` to the spill file (they waited long enough).
    pub(super) fn spill_taken_before(&mut self, cutoff: Instant) {
        while let Some((taken, _)) = self.pending.front() {
            if *taken >= cutoff {
                break;
            }
            let (taken, row) = self.pending.pop_front().expect("front checked above");
            if let Err(error) = self.spill.append(&row) {
                // Keep it, and stop here: the rows after it are younger.
                self.pending.push_front((taken, row));
                return self.spill_failed(&error);
            }
            self.spilled_one();
        }
    }

    /// Copies rows that are not in memory (a write still under way) to the spill file.
    /// Whether they all got there.
    pub(super) fn spill_copies(&mut self, rows: &[LogRow]) -> bool {
        for row in rows {
            if let Err(error) = self.spill.append(row) {
                self.spill_failed(&error);
                return false;
            }
            // No warning: the database is taking these, only slowly (a fresh SQLite file's
            // first write, say); the copies are insurance against a crash meanwhile.
            self.spill_failing = false;
        }
        true
    }

    /// Hands appended rows to the operating system (each loop turn), so that they survive
    /// the process being killed.
    pub(super) fn flush_spill(&mut self) {
        if let Err(error) = self.spill.flush(false) {
            self.spill_failed(&error);
        }
    }

    /// At shutdown: every row in memory goes to the spill file, synced to disk.
    pub(super) fn spill_everything(&mut self) {
        for (_, row) in std::mem::take(&mut self.pending) {
            if let Err(error) = self.spill.append(&row) {
                self.spill_failed(&error);
            }
        }
        if let Err(error) = self.spill.flush(true) {
            self.spill_failed(&error);
        }
    }

    fn spilled_one(&mut self) {
        self.spill_failing = false;
        let quiet = self
            .warned_at
            .is_some_and(|at| at.elapsed() < SPILL_WARNING_EVERY);
        if !quiet {
            self.warned_at = Some(Instant::now());
            let path = self.spill.path().display().to_string();
            let buffered = self.pending.len() as u64;
            let fields = [
                ("path", Value::Str(&path)),
                ("buffered", Value::Int(buffered)),
            ];
            log::warn("log_spilling", &fields);
        }
    }

    fn spill_failed(&mut self, error: &std::io::Error) {
        if !std::mem::replace(&mut self.spill_failing, true) {
            let error = error.to_string();
            log::error("log_spill_failed", &[("error", Value::Str(&error))]);
        }
    }
}
