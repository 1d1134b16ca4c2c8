//! The durable request log: one dedicated OS thread ("gpt-api-log") owns the database.
//! Workers hand it `RecordEvent`s over an unbounded channel and never wait on it; it turns
//! them into `request_logs` rows (parsing bodies and SSE streams), writes them in batches
//! to SQLite or PostgreSQL, and loses none while the database is away or at shutdown.
//! The only crate of the workspace that depends on Tokio or sqlx, so the workers' crate
//! (`gpt-api`) cannot name either; only its `main` starts the recorder.
//!
//! Two threads: "gpt-api-log" takes events, writes access lines and holds or spills rows
//! (`writer`, `calls`); "gpt-api-log-db" makes the database calls (`database`), so that a
//! database that is slow or away never holds up the first. An SQLite log has a third,
//! "gpt-api-log-ckpt", that checkpoints its WAL off the writer's path (`checkpoint`).
//!
//! Start-up: a bad URL, an unusable SQLite file or a schema newer than this binary is
//! fatal (`start` returns the message). An unreachable PostgreSQL is not: the gateway
//! runs, the log spills rows to disk, and connects when it can.

mod admin;
mod anthropic;
mod buffer;
mod calls;
mod chat_scan;
mod checkpoint;
mod cohere;
mod console;
mod converse;
mod database;
mod dialect;
mod event_stream;
mod gemini;
mod health;
mod insert;
mod json_array;
mod known_events;
mod response;
mod responses;
mod row;
mod spill;
mod sqlite_statement;
mod sse;
mod store;
mod stream;
mod tool_calls;
mod writer;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::runtime::Runtime;

use database::Database;
use gpt_api_common::admin::AdminSender;
use gpt_api_common::log::{self, Value};
use gpt_api_common::record::RecordSender;
use gpt_api_common::DatabaseSettings;
use spill::SpillFile;
use store::{Backend, OpenError, Store};
use writer::Writer;

/// The log's counters, read by `/metrics` and `/ready` from any thread.
#[derive(Debug, Default)]
pub struct RecorderStats {
    written: AtomicU64,
    buffered: AtomicU64,
    spilled: AtomicU64,
    failed_flushes: AtomicU64,
    connected: AtomicBool,
    spill_failing: AtomicBool,
    running: AtomicBool,
}

impl RecorderStats {
    /// Rows written to the database since start (replayed ones included).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Rows held in memory only: neither written nor in the spill file (what a crash loses).
    pub fn buffered(&self) -> u64 {
        self.buffered.load(Ordering::Relaxed)
    }

    /// Rows in the spill file, not yet replayed.
    pub fn spilled(&self) -> u64 {
        self.spilled.load(Ordering::Relaxed)
    }

    /// Database writes (or connection attempts) that failed since start.
    pub fn failed_flushes(&self) -> u64 {
        self.failed_flushes.load(Ordering::Relaxed)
    }

    /// The database is reachable now: its last call (a write, a replay, or the probe made
    /// every 2 s while nothing is written and every retry while it is down) succeeded.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The log can keep what it is given: its thread runs, and the database takes rows or
    /// the spill file does. (A row that neither takes stays in memory, past every bound.)
    pub fn keeping_records(&self) -> bool {
        self.running.load(Ordering::Relaxed)
            && (self.connected() || !self.spill_failing.load(Ordering::Relaxed))
    }
}

/// Clears `running` when the logging thread ends, also by a panic.
struct RunningFlag(Arc<RecorderStats>);

impl Drop for RunningFlag {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Relaxed);
    }
}

/// The handle `main` keeps: counters now, the admin channel, `shutdown` at the end.
pub struct Recorder {
    stats: Arc<RecorderStats>,
    admin: AdminSender,
    deadline: crossbeam_channel::Sender<Instant>,
    thread: JoinHandle<()>,
}

impl Recorder {
    pub fn stats(&self) -> Arc<RecorderStats> {
        Arc::clone(&self.stats)
    }

    /// Where workers send admin queries; the database thread answers them.
    pub fn admin(&self) -> AdminSender {
        self.admin.clone()
    }

    /// Call once the workers are done sending (their `RecordSender`s need not be dropped
    /// yet; what is sent after this call is not waited for): the thread takes what is
    /// queued, writes it, retries a failing database until `deadline`, spills what is
    /// still unwritten to disk, and exits. Nothing queued is dropped. Returns at once
    /// when the database is healthy, at `deadline` (plus one last attempt) when it is not.
    pub fn shutdown(self, deadline: Instant) {
        // Fails only if the thread already finished (every sender gone, all written).
        let _ = self.deadline.send(deadline);
        if self.thread.join().is_err() {
            log::error("log_thread_panicked", &[]);
        }
    }
}

/// Starts the logging thread and returns once the database is open and migrated (or,
/// for PostgreSQL, found unreachable: see the module notes).
pub fn start(settings: DatabaseSettings) -> Result<(RecordSender, Recorder), String> {
    Backend::from_url(&settings.url)?;
    let (events_sender, events) = gpt_api_common::record::channel();
    let (deadline, control) = crossbeam_channel::bounded(1);
    let (admin, admin_requests) = gpt_api_common::admin::channel();
    let (ready_sender, ready) = mpsc::channel();
    let stats = Arc::new(RecorderStats::default());
    let thread_stats = Arc::clone(&stats);
    let thread = std::thread::Builder::new()
        .name("gpt-api-log".to_owned())
        .spawn(move || {
            let opened = open(settings).and_then(|(settings, runtime, store, spill)| {
                let connected = store.is_some();
                let database =
                    Database::start(settings.url.clone(), runtime, store, admin_requests)?;
                Ok((settings, database, spill, connected))
            });
            let (settings, database, spill, connected) = match opened {
                Ok(opened) => opened,
                Err(message) => {
                    let _ = ready_sender.send(Err(message));
                    return;
                }
            };
            let stats = &thread_stats;
            stats.connected.store(connected, Ordering::Relaxed);
            stats.spilled.store(spill.rows(), Ordering::Relaxed);
            stats.running.store(true, Ordering::Relaxed);
            let _running = RunningFlag(Arc::clone(stats));
            let _ = ready_sender.send(Ok(()));
            let writer = Writer {
                settings,
                database,
                events,
                control,
                stats: thread_stats,
            };
            writer.run(spill, connected);
        })
        .map_err(|error| format!("cannot start the logging thread: {error}"))?;
    let started = ready
        .recv()
        .unwrap_or_else(|_| Err("the logging thread died while starting".to_owned()));
    if let Err(message) = started {
        let _ = thread.join();
        return Err(message);
    }
    let recorder = Recorder {
        stats,
        admin,
        deadline,
        thread,
    };
    Ok((events_sender, recorder))
}

type Opened = (DatabaseSettings, Runtime, Option<Store>, SpillFile);

/// The thread's set-up: its runtime, the store (unless PostgreSQL is away), the spill file.
fn open(settings: DatabaseSettings) -> Result<Opened, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the logging runtime: {error}"))?;
    let store = match runtime.block_on(Store::open(&settings.url)) {
        Ok(store) => Some(store),
        Err(OpenError::Fatal(message)) => return Err(message),
        Err(OpenError::Unavailable(message)) => {
            log::warn("log_db_unavailable", &[("error", Value::Str(&message))]);
            None
        }
    };
    let spill_path = &settings.spill_path;
    let spill = SpillFile::open(spill_path.clone())
        .map_err(|error| format!("database.spill_path {}: {error}", spill_path.display()))?;
    Ok((settings, runtime, store, spill))
}
