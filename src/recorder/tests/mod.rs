//! Unit tests of the recorder: SSE splitting, stream and body parsing in each dialect
//! (fixtures: recorded provider streams in `fixtures/`), the SQLite and
//! PostgreSQL stores, the spill file, and the logging thread end to end.

mod admin;
mod anthropic;
mod chat_scan;
mod cohere;
mod console;
mod console_bench;
mod converse;
mod dialect_rows;
mod gemini;
mod log_cost;
mod pg_server;
mod postgres;
mod recorder;
mod response;
mod responses;
mod row;
mod spill;
mod sse;
mod store;
mod stream;
mod support;

// The gateway's allocator (`src/main.rs`): the logging thread frees what workers allocated,
// and glibc's cross-thread frees cost several times mimalloc's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
