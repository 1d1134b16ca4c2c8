//! Every default of the config file, in one place: the serde structs (`file.rs`) and the
//! routing fallbacks (`validate.rs`) read them from here, and README's table lists them.

pub const LISTEN: &str = "127.0.0.1:8080";
/// 0 = one worker per available core.
pub const WORKERS: usize = 0;
pub const PIN_CORES: bool = true;
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
pub const SHUTDOWN_GRACE_MS: u64 = 10_000;
pub const HEADER_TIMEOUT_MS: u64 = 10_000;
pub const BODY_TIMEOUT_MS: u64 = 30_000;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// hyper's and Apache httpd's default; the SDKs send about 15.
pub const MAX_HEADERS: usize = 100;
pub const MAX_CONNECTIONS: usize = 10_000;
/// A port another process already listens on is refused unless sharing is asked for.
pub const SHARE_PORT: bool = false;
/// One `access` line per request on stdout (the logging thread writes it).
pub const ACCESS_LOG: bool = true;

pub const DATABASE_URL: &str = "sqlite://gpt_api.db";
pub const STORE_CONTENT: bool = true;
pub const BATCH_SIZE: usize = 256;
pub const FLUSH_INTERVAL_MS: u64 = 50;
pub const MEMORY_RECORDS: usize = 100_000;
pub const SPILL_PATH: &str = "gpt_api.spill.jsonl";

/// Routing: used where neither the model nor `[routing]` sets the key.
pub const RETRIES: u32 = 2;
pub const BACKOFF_BASE_MS: u64 = 500;
pub const BACKOFF_MAX_MS: u64 = 8_000;
pub const MAX_RETRY_AFTER_MS: u64 = 10_000;
pub const BREAKER_FAILURES: u32 = 3;
pub const BREAKER_COOLDOWN_MS: u64 = 5_000;
pub const FIRST_TOKEN_TIMEOUT_MS: u64 = 30_000;
pub const STREAM_IDLE_TIMEOUT_MS: u64 = 30_000;
/// A close or reset this long after the request was written means a silent upstream.
pub const SILENT_AFTER_MS: u64 = 1_000;
pub const CONTINUATION: &str = "none";

pub const UPSTREAM_KIND: &str = "openai";
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
pub const GEMINI_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";
pub const COHERE_BASE_URL: &str = "https://api.cohere.com/v2";
/// Fleet mode with Redis away: the fraction of each limit one process may use alone.
pub const LOCAL_SHARE: f64 = 1.0;

pub const CONNECT_TIMEOUT_MS: u64 = 2_000;
pub const UPSTREAM_TIMEOUT_MS: u64 = 120_000;
pub const TARGET_WEIGHT: u32 = 1;
