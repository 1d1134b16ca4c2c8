//! The spill file: rows the database could not take in time, appended as JSON lines,
//! replayed in batches once the database is back, then truncated. A crash during replay
//! replays the whole file again; the insert skips the ids already there.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::row::LogRow;
use gpt_api_common::log::{self, Value};

pub(super) struct SpillFile {
    path: PathBuf,
    /// Opened on the first append, so a healthy gateway never creates the file.
    writer: Option<BufWriter<File>>,
    /// Rows in the file not yet replayed.
    rows: u64,
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

    pub(super) fn rows(&self) -> u64 {
        self.rows
    }

    pub(super) fn append(&mut self, row: &LogRow) -> io::Result<()> {
        let mut line = simd_json::to_vec(row).map_err(io::Error::other)?;
        line.push(b'\n');
        self.writer()?.write_all(&line)?;
        self.rows += 1;
        Ok(())
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
            self.replay = None;
            self.writer = None;
            self.rows = 0;
            std::fs::remove_file(&self.path)?;
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
