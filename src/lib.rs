//! GPT_API: an OpenAI-compatible LLM API gateway. Modules follow the request's path:
//! `server` (threads, listeners) → `http` (connections, router, responses) → `handler`
//! (endpoints) → `dispatch` (attempt plans, failover) → `upstream` (pooled client), with
//! `record` handing each request to `recorder` (the logging thread, the only Tokio/sqlx code).

pub mod alloc;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod handler;
pub mod http;
pub mod json;
pub mod log;
pub mod metrics;
#[cfg(test)]
mod mutate;
pub mod record;
pub mod recorder;
pub mod server;
pub mod upstream;
