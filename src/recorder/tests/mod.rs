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

// The gateway's allocator: `log_cost`'s per-row counts and the memory tests see what
// production runs, not glibc's malloc (which cost about a third more per row).
#[global_allocator]
static GLOBAL: gpt_api_common::alloc::Allocator = gpt_api_common::alloc::Allocator;
