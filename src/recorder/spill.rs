//! The spill file: rows the database could not take in time, appended as JSON lines,
//! replayed in batches once the database is back, then truncated. A crash during replay
//! replays the whole file again; the insert skips the ids already there.
//!
//! While the database is up but slow, the file holds copies instead: rows that waited
//! `flush_interval` are copied here and still written from memory, and once every copy's
//! row is written the file goes without being read. A gateway loaded past what its CPU
//! gives the database thread spilled and replayed most of its rows before (55% of them at
//! c=64 on 2 cores), serializing, reading back and inserting each twice. Once a row has to
//! leave memory (memory full, database failing) the copies count as spilled rows too and
//! are replayed with them (`fold`).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::row::LogRow;
use gpt_api_common::log::{self, Value};

pub(super) struct SpillFile {
    path: PathBuf,
    /// Opened on the first append, so a healthy gateway never creates the file.
    writer: Option<BufWriter<File>>,
    /// Lines in the file not yet replayed (copies included).
    rows: u64,
    /// Of `rows`, copies of rows still in memory or in a write under way (and of rows that
    /// the database has since taken): replayed only if something folds them in.
    copies: u64,
    /// Of `copies`, those whose rows the database has not taken yet.
    unsettled: u64,
    /// Changes when the copies are folded into the spilled rows or the file goes: a write
    /// settles its copies only in the generation they were made in.
    generation: u64,
    replay: Option<Replay>,
}

/// Where replay stands: the bytes before `committed` are in the database; `batch_lines`
/// lines were read after them by the last `read_batch`.
struct Replay {
    reader: BufReader<File>,
    committed: u64,
    batch_lines: u64,
}

impl SpillFile {
    /// Opens the spill file a previous run may have left; its rows count as spilled.
    pub(super) fn open(path: PathBuf) -> io::Result<Self> {
        let mut spill = Self {
            path,
            writer: None,
            rows: 0,
            copies: 0,
            unsettled: 0,
            generation: 0,
            replay: None,
        };
        if let Ok(file) = File::open(&spill.path) {
            let mut reader = BufReader::new(file);
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line)? > 0 {
                if !line.ends_with(b"\n") {
                    // A crash cut the last line: end it so the next append starts afresh.
                    spill.writer()?.write_all(b"\n")?;
                }
                spill.rows += 1;
                line.clear();
            }
        }
        Ok(spill)
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Lines in the file not yet replayed, copies included.
    pub(super) fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows in the file that the database does not have yet: spilled ones, and copies of
    /// rows not written yet.
    pub(super) fn waiting(&self) -> u64 {
        self.rows - (self.copies - self.unsettled)
    }

    /// Whether the file holds rows that are nowhere else: they must be replayed.
    pub(super) fn needs_replay(&self) -> bool {
        self.rows > self.copies
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends a row that leaves memory: from now on the whole file is replayed.
    pub(super) fn append(&mut self, row: &LogRow) -> io::Result<()> {
        self.write_line(row)?;
        self.fold();
        Ok(())
    }

    /// Appends a copy of a row that stays in memory (or in the write under way); `settle`
    /// counts it off once the database has the row. With rows to replay already there it is
    /// one of them, and false is returned: nothing to settle.
    pub(super) fn append_copy(&mut self, row: &LogRow) -> io::Result<bool> {
        self.write_line(row)?;
        if self.rows - 1 > self.copies {
            return Ok(false);
        }
        self.copies += 1;
        self.unsettled += 1;
        Ok(true)
    }

    /// The copies' rows count as spilled from now on: replayed like the others (the
    /// insert skips those the database already has).
    pub(super) fn fold(&mut self) {
        if self.copies > 0 {
            self.copies = 0;
            self.unsettled = 0;
            self.generation += 1;
        }
    }

    /// The database took the rows of `count` copies made in `generation`: once every copy's
    /// row is taken and nothing else is in the file, the file goes unread.
    pub(super) fn settle(&mut self, generation: u64, count: u64) -> io::Result<()> {
        if generation != self.generation || count == 0 {
            return Ok(());
        }
        self.unsettled = self.unsettled.saturating_sub(count);
        if self.unsettled == 0 && !self.needs_replay() {
            self.remove()?;
        }
        Ok(())
    }

    fn write_line(&mut self, row: &LogRow) -> io::Result<()> {
        let mut line = simd_json::to_vec(row).map_err(io::Error::other)?;
        line.push(b'\n');
        self.writer()?.write_all(&line)?;
        self.rows += 1;
        Ok(())
    }

    /// Every line is in the database: the file goes (no file: nothing spilled).
    fn remove(&mut self) -> io::Result<()> {
        self.replay = None;
        // Unwritten bytes are lines the database has: dropped, not written.
        drop(self.writer.take().map(BufWriter::into_parts));
        self.rows = 0;
        self.copies = 0;
        self.unsettled = 0;
        self.generation += 1;
        std::fs::remove_file(&self.path)
    }

    /// Pushes appended rows to the operating system; with `durable`, to the disk.
    pub(super) fn flush(&mut self, durable: bool) -> io::Result<()> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        writer.flush()?;
        if durable {
            writer.get_ref().sync_data()?;
        }
        Ok(())
    }

    /// Reads up to `limit` rows from where replay stands, without consuming them:
    /// `commit_batch` does that once the database has them. Lines that are not rows
    /// (damaged by a crash) are logged and skipped.
    pub(super) fn read_batch(&mut self, limit: usize) -> io::Result<Vec<LogRow>> {
        self.flush(false)?;
        if self.replay.is_none() {
            let reader = BufReader::new(File::open(&self.path)?);
            self.replay = Some(Replay {
                reader,
                committed: 0,
                batch_lines: 0,
            });
        }
        let replay = self.replay.as_mut().expect("replay opened above");
        replay.reader.seek(SeekFrom::Start(replay.committed))?;
        replay.batch_lines = 0;
        let mut rows = Vec::new();
        let mut line = Vec::new();
        while rows.len() < limit && replay.reader.read_until(b'\n', &mut line)? > 0 {
            replay.batch_lines += 1;
            match simd_json::serde::from_slice::<LogRow>(&mut line) {
                Ok(row) => rows.push(row),
                Err(error) if !line.iter().all(u8::is_ascii_whitespace) => {
                    log::error(
                        "log_spill_line_invalid",
                        &[("error", Value::Str(&error.to_string()))],
                    );
                }
                Err(_) => {}
            }
            line.clear();
        }
        Ok(rows)
    }

    /// The rows from the last `read_batch` are in the database: move past them, and
    /// remove the file once every row is replayed (no file: nothing spilled). Rows may have
    /// been appended since the batch was read (the write ran on another thread): they are
    /// handed to the file first, so that the reader sees them and the file stays.
    pub(super) fn commit_batch(&mut self) -> io::Result<()> {
        self.flush(false)?;
        let Some(replay) = self.replay.as_mut() else {
            return Ok(());
        };
        replay.committed = replay.reader.stream_position()?;
        self.rows = self.rows.saturating_sub(replay.batch_lines);
        if replay.reader.fill_buf()?.is_empty() {
            self.remove()?;
        }
        Ok(())
    }

    fn writer(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.writer.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.writer = Some(BufWriter::new(file));
        }
        Ok(self.writer.as_mut().expect("writer opened above"))
    }
}
