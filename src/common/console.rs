//! What the console asks of the request log: the filter of `GET /admin/requests`, read from
//! its query string on the worker (`handler::admin`) and turned into SQL by the logging
//! thread (`gpt_api_recorder`'s `console`). Plain data: no SQL here, no parsing, no runtime.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Rows per page when the query does not say.
pub const DEFAULT_PAGE: u32 = 50;
/// Most rows one page may ask for.
pub const MAX_PAGE: u32 = 500;

/// Which statuses a filter keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// One status (`status=502`).
    Exact(u16),
    /// A class (`status=5xx`): `100 * class` up to the next hundred.
    Class(u16),
    /// Every error, 4xx and 5xx (`status=error`).
    Errors,
}

/// One page of the request log, newest first. Every field narrows it; none set is
/// everything. Times are in microseconds since the epoch (ids start with them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub client_key: Option<String>,
    pub model: Option<String>,
    pub upstream: Option<String>,
    pub endpoint: Option<String>,
    pub status: Option<StatusFilter>,
    /// Arrived at or after.
    pub since_micros: Option<u64>,
    /// Arrived before.
    pub until_micros: Option<u64>,
    /// Text the error message contains (case-insensitive).
    pub error_contains: Option<String>,
    /// The page after this id (the previous page's `next_before`).
    pub before: Option<String>,
    pub limit: u32,
}

/// The `SystemTime` of a time in microseconds since the epoch.
pub fn time_of(micros: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(micros)
}
