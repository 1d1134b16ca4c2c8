//! Rows waiting for the database: in memory up to `memory_records`, past that in the
//! spill file. If even the spill file fails, a row stays in memory: the bound is
//! exceeded rather than the row lost.

use std::collections::VecDeque;
use std::time::Instant;

use super::row::LogRow;
use super::spill::SpillFile;
use gpt_api_common::log::{self, Value};

pub(super) struct RowBuffer {
    pending: VecDeque<LogRow>,
    /// When the oldest pending row arrived.
    oldest: Option<Instant>,
    memory_records: usize,
    spill: SpillFile,
    /// The spill file's last write failed (logged once per failing run).
    spill_failing: bool,
}

impl RowBuffer {
    pub(super) fn new(spill: SpillFile, memory_records: usize) -> Self {
        Self {
            pending: VecDeque::new(),
            oldest: None,
            memory_records,
            spill,
            spill_failing: false,
        }
    }

    pub(super) fn push(&mut self, row: LogRow) {
        if self.pending.len() >= self.memory_records {
            match self.spill.append(&row) {
                Ok(()) => return self.spilled_one(),
                Err(error) => self.spill_failed(&error),
            }
        }
        if self.pending.is_empty() {
            self.oldest = Some(Instant::now());
        }
        self.pending.push_back(row);
    }

    /// Rows in memory.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn oldest(&self) -> Option<Instant> {
        self.oldest
    }

    /// Rows in the spill file.
    pub(super) fn spilled(&self) -> u64 {
        self.spill.rows()
    }

    pub(super) fn spill(&mut self) -> &mut SpillFile {
        &mut self.spill
    }

    /// The oldest `count` rows in memory, for one write.
    pub(super) fn front(&mut self, count: usize) -> &[LogRow] {
        &self.pending.make_contiguous()[..count]
    }

    /// The oldest `count` rows are in the database.
    pub(super) fn written(&mut self, count: usize) {
        self.pending.drain(..count);
        self.oldest = (!self.pending.is_empty()).then(Instant::now);
    }

    /// Hands appended rows to the operating system (each loop turn).
    pub(super) fn flush_spill(&mut self) {
        if let Err(error) = self.spill.flush(false) {
            self.spill_failed(&error);
        }
    }

    /// At shutdown: every row in memory goes to the spill file, synced to disk.
    pub(super) fn spill_everything(&mut self) {
        for row in std::mem::take(&mut self.pending) {
            if let Err(error) = self.spill.append(&row) {
                self.spill_failed(&error);
            }
        }
        self.oldest = None;
        if let Err(error) = self.spill.flush(true) {
            self.spill_failed(&error);
        }
    }

    fn spilled_one(&mut self) {
        self.spill_failing = false;
        if self.spill.rows() == 1 {
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
