//! GPT_API: an OpenAI-compatible LLM API gateway. Modules follow the request's path:
//! `server` (threads, listeners, connection loop) → `handler` (one `Exchange` per request)
//! → `dispatch` (attempt plans, failover) → `upstream` (pooled client). `context` is the
//! per-core state they share; `http` (codec), `config`, `error`, `metrics`, `console` (the
//! operator's page, embedded), `sigv4` (AWS request signatures) and the shared leaves of
//! `gpt-api-common` are leaves anyone may use. Records go to the logging thread (`gpt-api-recorder`, the only crate with Tokio
//! and sqlx), which only `main` starts.

pub mod config;
pub mod console;
pub mod context;
pub mod dialect;
pub mod dispatch;
pub mod error;
pub mod handler;
pub mod http;
pub mod iovec;
pub mod limits;
pub mod metrics;
#[cfg(test)]
mod mutate;
pub mod server;
pub mod sigv4;
pub mod upstream;

pub use gpt_api_common::{admin, alloc, eventstream, json, log, record, time};
