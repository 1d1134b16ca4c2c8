//! Unit tests of the recorder: SSE splitting, stream and body parsing, the SQLite and
//! PostgreSQL stores, the spill file, and the logging thread end to end.

mod admin;
mod console;
mod console_bench;
mod pg_server;
mod postgres;
mod recorder;
mod response;
mod row;
mod spill;
mod sse;
mod store;
mod stream;
mod support;
