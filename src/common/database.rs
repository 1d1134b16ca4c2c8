//! `[database]`: the settings the logging thread runs by (read from the config by `gpt-api`).

use std::path::PathBuf;
use std::time::Duration;

/// `[database]`: what the logging thread needs.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite://FILE` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    pub url: String,
    /// Keep request bodies and assistant text (tokens and tool calls are always kept).
    pub store_content: bool,
    /// Write an `access` line per request on stdout (`server.access_log`).
    pub access_log: bool,
    /// Rows per write; a smaller batch is written once `flush_interval` has passed.
    pub batch_size: usize,
    pub flush_interval: Duration,
    /// Rows held in memory while the database is away; past it they go to `spill_path`.
    pub memory_records: usize,
    pub spill_path: PathBuf,
}
