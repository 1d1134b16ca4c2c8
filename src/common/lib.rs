//! The leaves both sides of the logging channel share: what a worker hands to the logging
//! thread (`record`) and asks its database (`admin`, with the console's request-log filter in
//! `console`), the per-key limit counters (`limits`), the logging thread's settings
//! (`database`), AWS event-stream frames (`eventstream`), JSON lines (`log`), JSON reading
//! and writing (`json`), UTC dates (`time`) and giving memory back (`alloc`). No Tokio, no sqlx, no monoio: the workers (`gpt-api`)
//! and the logging thread (`gpt-api-recorder`) both use it, and neither can reach the
//! other's runtime through it.

pub mod admin;
pub mod alloc;
pub mod console;
pub mod database;
pub mod eventstream;
pub mod json;
pub mod limits;
pub mod log;
pub mod record;
pub mod time;

pub use database::DatabaseSettings;
