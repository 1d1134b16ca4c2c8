//! The leaves both sides of the logging channel share: what a worker hands to the logging
//! thread (`record`), the logging thread's settings (`database`), JSON lines (`log`), JSON
//! reading and writing (`json`) and giving memory back (`alloc`). No Tokio, no sqlx, no
//! monoio: the workers (`gpt-api`) and the logging thread (`gpt-api-recorder`) both use it,
//! and neither can reach the other's runtime through it.

pub mod alloc;
pub mod database;
pub mod json;
pub mod log;
pub mod record;

pub use database::DatabaseSettings;
