//! Benchmark tools for GPT_API: `bench-mock`, a fast OpenAI-compatible mock upstream, and
//! `bench-load`, a closed-loop HTTP/1.1 load generator with exact percentiles.
//!
//! Test tools only: nothing here depends on the gateway crate, nor the gateway on this.

pub mod args;
pub mod load;
pub mod mock;
pub mod runtime;
