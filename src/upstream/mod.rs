//! Talking to upstream providers: the per-worker pooled client, TLS, name resolution and
//! response bodies pulled as they arrive. No routing decisions here (that is `dispatch`).

mod body;
mod client;
mod connection;
mod head;
mod resolve;
mod tls;

pub use body::BodyError;
pub use client::{
    operation_path, SendError, UpstreamClient, UpstreamRequest, UpstreamResponse, EVENT_STREAM,
};
pub use tls::client_config;
