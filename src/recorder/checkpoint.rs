//! The SQLite log's WAL checkpoints, off the writer's path: a thread ("gpt-api-log-ckpt")
//! with a connection of its own copies the WAL back into the database file every
//! `CHECKPOINT_EVERY` while the database thread goes on writing. Left to SQLite, a checkpoint
//! runs inside the COMMIT that passes 1,000 WAL pages, and its two `fsync`s held the writer
//! past `flush_interval_ms`, so that rows waiting behind it went to the spill file and back
//! (with checkpoints off, `CONCURRENCY=32 bench/threads.sh plain 40 1` replayed none, against
//! 6,000–80,000 of 1.4–1.7 M rows).
//!
//! A passive checkpoint never waits for the writer, but under continuous commits it never
//! catches up with the WAL's end either, and SQLite starts the WAL over only once all of it
//! is copied back: past `RESTART_AFTER_FRAMES` a `RESTART` checkpoint makes the writer wait
//! for the little that is left (the passive ones copied the rest), so the WAL stays bounded.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::Connection;

use gpt_api_common::log::{self, Value};

/// How often the WAL is copied back: 16 MB of WAL at the log's peak on the 2-core machine
/// takes about 0.4 s to write, so each checkpoint copies a few MB.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// WAL pages (64 MiB at 16 KiB) past which the WAL is restarted, the writer waiting meanwhile.
const RESTART_AFTER_FRAMES: i64 = 4_000;

/// The checkpointing thread; stopped (and its connection closed) on drop.
pub(super) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Connects to the log's file (opened and migrated by the caller) and starts the thread.
    pub(super) fn start(options: SqliteConnectOptions) -> Result<Self, String> {
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let (ready, connected) = crossbeam_channel::bounded(1);
        let thread = std::thread::Builder::new()
            .name("gpt-api-log-ckpt".to_owned())
            .spawn(move || run(&options, &ready, &stopped))
            .map_err(|error| format!("cannot start the checkpoint thread: {error}"))?;
        match connected.recv() {
            Ok(Ok(())) => Ok(Self {
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(message)) => Err(message),
            Err(_) => Err("the checkpoint thread ended at start".to_owned()),
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error("log_checkpoint_thread_panicked", &[]);
            }
        }
    }
}

fn run(options: &SqliteConnectOptions, ready: &Sender<Result<(), String>>, stop: &Receiver<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let _ = ready.send(Err(format!("checkpoint thread: {error}")));
            return;
        }
    };
    let mut connection = match runtime.block_on(SqliteConnection::connect_with(options)) {
        Ok(connection) => connection,
        Err(error) => {
            let _ = ready.send(Err(format!("checkpoint connection: {error}")));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let checkpointed = runtime.block_on(async {
            let frames = checkpoint(&mut connection, "PASSIVE").await?;
            if frames > RESTART_AFTER_FRAMES {
                checkpoint(&mut connection, "RESTART").await?;
            }
            Ok::<_, sqlx::Error>(())
        });
        if let Err(error) = checkpointed {
            // The writer's commits are unaffected; the next turn tries again.
            let error = error.to_string();
            log::warn("log_checkpoint_failed", &[("error", Value::Str(&error))]);
        }
    }
    let _ = runtime.block_on(connection.close());
}

/// Runs a checkpoint in `mode`; returns the WAL's length in pages (the WAL is not shortened:
/// after a restart the writer writes it again from its start).
async fn checkpoint(connection: &mut SqliteConnection, mode: &str) -> Result<i64, sqlx::Error> {
    let statement = format!("PRAGMA wal_checkpoint({mode})");
    let (_busy, frames, _copied): (i64, i64, i64) =
        sqlx::query_as(&statement).fetch_one(connection).await?;
    Ok(frames)
}
