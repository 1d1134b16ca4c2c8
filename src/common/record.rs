//! What a worker hands to the logging thread: plain data and the channel sender.
//! A leaf module: no Tokio, no sqlx, no parsing. Sending never blocks a worker.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::limits::{Admission, Price};

/// Everything the request path knows about one request once it is over.
/// The logging thread derives the rest (tokens, content, tool calls) from the bodies.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// The `x-request-id` sent to the client; the row's primary key.
    pub id: String,
    pub created_at: SystemTime,
    /// The client key's configured name, never the secret.
    pub client_key: Option<String>,
    /// The request's HTTP method (empty when the request head could not be read).
    pub method: std::borrow::Cow<'static, str>,
    pub endpoint: String,
    /// The model as the client asked for it.
    pub model: Option<String>,
    /// The target that answered, or the last one tried (the config's names, shared).
    pub upstream: Option<Arc<str>>,
    pub upstream_model: Option<Arc<str>>,
    pub stream: bool,
    /// The HTTP status sent to the client.
    pub status: u16,
    /// One entry per attempt, in order, with its timing and outcome: the `Tried` list
    /// (their targets) and the console's timeline.
    pub attempts: Vec<AttemptRecord>,
    /// The exact error message sent to the client, for gateway-generated errors
    /// (and the in-band error of a broken stream).
    pub error: Option<String>,
    pub latency_ms: f64,
    /// Streams: request received to first byte written to the client.
    pub ttft_ms: Option<f64>,
    /// The client's request body, present only when `database.store_content` is on.
    pub request_body: Option<Bytes>,
    /// Non-streaming: the upstream response body as sent to the client, for the
    /// logging thread to read usage, content and tool calls from. Streams send chunks instead.
    pub response_body: Option<Bytes>,
    /// The client went away before the response was complete.
    pub cancelled: bool,
    /// A recovered stream's usage includes estimated tokens (a broken attempt's).
    pub usage_estimated: bool,
    /// The model's price, for the row's `cost_usd`.
    pub price: Option<Price>,
    /// A limited key's admission, settled by the logging thread with the real usage.
    pub admission: Option<Admission>,
}

/// One attempt of a request's failover path, as the console draws it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// `upstream/upstream-model`, as the `Tried` list shows it (the config's label, shared).
    pub target: Arc<str>,
    /// When it started, in ms after the request arrived.
    pub start_ms: f64,
    /// Until it failed, or (the attempt that answered) until the request ended.
    pub duration_ms: f64,
    /// `ok`, or the failure class (`transient`, `silent`, `misconfigured`, `too_long`,
    /// `refused`, `prefill_refused`).
    pub outcome: &'static str,
    /// The failure's message ("upstream returned 503").
    pub error: Option<String>,
    /// It failed after its stream had reached the client (a mid-stream break).
    pub mid_stream: bool,
    /// A continuation of a broken stream (mid-stream recovery).
    pub continuation: bool,
}

/// Identifies one stream between its chunks and its end; unique per process.
pub type StreamId = u64;

#[derive(Debug)]
pub enum RecordEvent {
    /// A request that is over and did not stream (or failed before streaming).
    Request(Box<RequestRecord>),
    /// Bytes exactly as written to the client on a stream (a shared handle, not a copy).
    StreamChunk { stream: StreamId, bytes: Bytes },
    /// The stream is over; chunks with this id that came before belong to it.
    StreamEnd {
        stream: StreamId,
        record: Box<RequestRecord>,
    },
}

/// The workers' end of the logging channel. Unbounded on purpose: a worker must never
/// wait on the database and a record must never be dropped; the logging thread bounds
/// what it holds in memory and spills the rest to disk.
#[derive(Clone)]
pub struct RecordSender {
    channel: crossbeam_channel::Sender<RecordEvent>,
}

/// The logging channel: the workers' end, and the logging thread's.
pub fn channel() -> (RecordSender, crossbeam_channel::Receiver<RecordEvent>) {
    let (channel, receiver) = crossbeam_channel::unbounded();
    (RecordSender { channel }, receiver)
}

impl RecordSender {
    pub fn send(&self, event: RecordEvent) {
        // Fails only once the logging thread is gone, i.e. after shutdown drained it.
        let _ = self.channel.send(event);
    }

    /// Events waiting for the logging thread (the log queue depth).
    pub fn queue_depth(&self) -> usize {
        self.channel.len()
    }
}
