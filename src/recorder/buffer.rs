//! Rows waiting for the database: in memory while they are young (less than
//! `flush_interval` since the logging thread took them) and fewer than `memory_records`,
//! otherwise in the spill file. While the database is up, a row that waited its interval
//! is copied there and stays in memory too (up to `MAX_COPIES_IN_MEMORY`; see `spill`).
//! If even the spill file fails, a row stays in memory: the bound is exceeded rather than
//! the row lost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::row::LogRow;
use super::spill::SpillFile;
use gpt_api_common::log::{self, Value};

/// Under load the spill file may fill and empty every few seconds (a write that takes
/// longer than `flush_interval`); one warning a minute says so without flooding the log.
const SPILL_WARNING_EVERY: Duration = Duration::from_secs(60);
/// Most rows kept in memory once copied to the spill file (a write's worth, bounding what a
/// slow database holds in memory); older ones leave memory.
const MAX_COPIES_IN_MEMORY: usize = 4096;

pub(super) struct RowBuffer {
    /// Rows in memory, oldest first, with when each was taken off the channel.
    pending: VecDeque<(Instant, LogRow)>,
    /// How many of `pending`, from the front, are copied to the spill file.
    copied: usize,
    memory_records: usize,
    spill: SpillFile,
    /// The spill file's last write failed (logged once per failing run).
    spill_failing: bool,
    /// When `log_spilling` was last logged.
    warned_at: Option<Instant>,
}

/// Rows taken out of memory for one write.
pub(super) struct Taken {
    pub rows: Vec<LogRow>,
    /// When the first was taken off the channel.
    pub taken: Option<Instant>,
    /// How many, from the front, are copied to the spill file, in `generation`.
    pub copied: usize,
    pub generation: u64,
}

impl RowBuffer {
    pub(super) fn new(spill: SpillFile, memory_records: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            copied: 0,
            memory_records,
            spill,
            spill_failing: false,
            warned_at: None,
        }
    }

    /// A row taken off the channel at `taken`.
    pub(super) fn push(&mut self, taken: Instant, row: LogRow) {
        if self.pending.len() >= self.memory_records {
            match self.move_out(&row) {
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

    /// Rows in memory and not in the spill file: what a crash would lose.
    pub(super) fn only_in_memory(&self) -> usize {
        self.pending.len() - self.copied
    }

    /// When the oldest row in memory was taken off the channel.
    pub(super) fn oldest(&self) -> Option<Instant> {
        self.pending.front().map(|(taken, _)| *taken)
    }

    /// When the oldest row not yet in the spill file was taken off the channel.
    pub(super) fn oldest_not_copied(&self) -> Option<Instant> {
        self.pending.get(self.copied).map(|(taken, _)| *taken)
    }

    /// Rows in the spill file that the database does not have yet.
    pub(super) fn spilled(&self) -> u64 {
        self.spill.waiting()
    }

    /// Whether the spill file holds rows that must be replayed.
    pub(super) fn needs_replay(&self) -> bool {
        self.spill.needs_replay()
    }

    /// The spill file's last write failed: rows the database cannot take stay in memory.
    pub(super) fn spill_failing(&self) -> bool {
        self.spill_failing
    }

    pub(super) fn spill(&mut self) -> &mut SpillFile {
        &mut self.spill
    }

    /// Takes the oldest `count` rows out of memory, for one write.
    pub(super) fn take_front(&mut self, count: usize) -> Taken {
        let taken = self.oldest();
        let copied = self.copied.min(count);
        self.copied -= copied;
        let rows = self.pending.drain(..count).map(|(_, row)| row).collect();
        Taken {
            rows,
            taken,
            copied,
            generation: self.spill.generation(),
        }
    }

    /// Rows a failed write gives back (those it had not copied to the spill file): first in
    /// line again, as taken at `taken`. The database is failing: copies are replayed.
    pub(super) fn put_back(
        &mut self,
        taken: Instant,
        rows: impl DoubleEndedIterator<Item = LogRow>,
    ) {
        self.fold();
        for row in rows.rev() {
            self.pending.push_front((taken, row));
        }
    }

    /// The database has the rows of a write: its copies in the spill file are settled.
    pub(super) fn settle(&mut self, generation: u64, copies: u64) {
        if let Err(error) = self.spill.settle(generation, copies) {
            self.spill_failed(&error);
        }
    }

    /// Copies of a write's rows to the spill file (it took longer than `flush_interval`),
    /// added to the copies the write settles once it succeeds (`generation`, count; copies of
    /// an older generation were folded into the replay). Whether all of them got there.
    pub(super) fn copy_rows(&mut self, rows: &[LogRow], settles: &mut (u64, u64)) -> bool {
        if settles.0 != self.spill.generation() {
            *settles = (self.spill.generation(), 0);
        }
        for row in rows {
            match self.spill.append_copy(row) {
                Ok(settled_later) => settles.1 += u64::from(settled_later),
                Err(error) => {
                    // The copies made are not settled by the write: replayed instead.
                    self.fold();
                    self.spill_failed(&error);
                    return false;
                }
            }
            // No warning: the database is taking these, only slowly (a fresh SQLite file's
            // first write, say); the copies are insurance against a crash meanwhile.
            self.spill_failing = false;
        }
        true
    }

    /// Rows out of memory into the spill file (a write abandoned at shutdown).
    pub(super) fn move_rows(&mut self, rows: &[LogRow]) {
        for row in rows {
            if let Err(error) = self.move_out(row) {
                return self.spill_failed(&error);
            }
            self.spilled_one();
        }
    }

    /// Rows that waited long enough (taken before `cutoff`) go to the spill file: copied,
    /// kept in memory too, while `copy` (the database is up) and nothing needs replaying;
    /// moved out of memory otherwise.
    pub(super) fn spill_taken_before(&mut self, cutoff: Instant, copy: bool) {
        if copy && !self.spill.needs_replay() {
            while self.copied < MAX_COPIES_IN_MEMORY {
                match self.pending.get(self.copied) {
                    Some((taken, row)) if *taken < cutoff => {
                        if let Err(error) = self.spill.append_copy(row) {
                            return self.spill_failed(&error);
                        }
                        self.copied += 1;
                        self.spilled_one();
                    }
                    _ => return,
                }
            }
        }
        while let Some((taken, _)) = self.pending.get(self.copied) {
            if *taken >= cutoff {
                break;
            }
            self.fold();
            let (taken, row) = self.pending.pop_front().expect("front checked above");
            if let Err(error) = self.move_out(&row) {
                // Keep it, and stop here: the rows after it are younger.
                self.pending.push_front((taken, row));
                return self.spill_failed(&error);
            }
            self.spilled_one();
        }
    }

    /// A row leaves memory for the spill file.
    fn move_out(&mut self, row: &LogRow) -> std::io::Result<()> {
        self.fold();
        self.spill.append(row)
    }

    /// Rows now have to leave memory: the copies in the spill file are replayed with them,
    /// so the copied rows leave memory too.
    fn fold(&mut self) {
        self.spill.fold();
        self.pending.drain(..self.copied);
        self.copied = 0;
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
        // The copied rows are in the file already: out of memory first, not appended twice.
        self.fold();
        for (_, row) in std::mem::take(&mut self.pending) {
            if let Err(error) = self.move_out(&row) {
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
