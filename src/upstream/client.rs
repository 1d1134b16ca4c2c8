//! The per-worker upstream client: pooled keep-alive connections, connect and response
//! timeouts, a resend on a fresh connection when a pooled connection turns out to have been
//! closed by the upstream (the keep-alive race, and only then: see `STALE_WINDOW`), and
//! responses whose bodies are pulled chunk by chunk. A connection goes back to the pool only
//! when its body ended cleanly (dropping a response mid-body closes the connection).

use std::cell::RefCell;
use std::fmt::Write as _;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::body::{BodyError, BodyFraming};
use super::connection::{ConnectError, UpstreamConnection};
use super::head::{self, ResponseHead};
use super::resolve::Resolver;
use crate::config::{AwsCredentials, Config, Upstream, UpstreamId, UpstreamKind};
use crate::iovec::IoSlices;
use crate::sigv4;

const MAX_RESPONSE_HEAD: usize = 64 * 1024;
const MAX_IDLE_PER_UPSTREAM: usize = 256;
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// A pooled connection that fails before any response byte and within this long of the
/// request being written was closed by the upstream while idle (its FIN or RST was already
/// on the way): the request never reached a live server, so it is resent on a fresh
/// connection without counting as an attempt. One round trip to a provider's region is well
/// under this; a server that took the request and then died usually takes longer, and is
/// then an attempt like any other.
const STALE_WINDOW: Duration = Duration::from_millis(100);

/// A failed exchange before a response head arrived, as failover classifies it.
#[derive(Debug)]
pub enum SendError {
    /// Refused, or failed while the request was being written: transient.
    Connection(String),
    /// Closed or reset after the request was written and before any response byte; how
    /// long after decides whether it was a blip or a silent upstream.
    Closed {
        reason: String,
        after_write: Duration,
    },
    /// Connect or response timeout: a silent upstream.
    TimedOut(&'static str),
    /// The upstream answered something that is not HTTP/1.1.
    Protocol(String),
}

impl SendError {
    pub fn message(&self) -> String {
        match self {
            Self::Connection(reason) | Self::Closed { reason, .. } => {
                format!("connection failed: {reason}")
            }
            Self::TimedOut(what) => format!("timed out waiting for {what}"),
            Self::Protocol(reason) => format!("invalid upstream response: {reason}"),
        }
    }
}

pub struct UpstreamClient {
    config: Arc<Config>,
    tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    resolver: Rc<Resolver>,
    /// Idle connections per upstream, indexed by `UpstreamId` (no hashing per request).
    idle: RefCell<Vec<Vec<UpstreamConnection>>>,
    /// Resends after the keep-alive race (`gpt_api_upstream_stale_resends_total`); shared
    /// with the worker's metrics so that it outlives a config reload.
    stale_resends: Arc<AtomicU64>,
}

pub struct UpstreamRequest<'a> {
    pub upstream: UpstreamId,
    /// Appended to the upstream's base path (see `operation_path`).
    pub path: &'a str,
    pub body: Bytes,
    pub request_id: &'a str,
    pub stream: bool,
    /// The response head must arrive within this long of the request being written (a
    /// stream's first-token timeout covers the head's wait); `None`: only the deadline.
    pub head_within: Option<Duration>,
}

/// The path under `upstream`'s base URL for an operation (`/chat/completions`,
/// `/responses`, `/messages`, ...) on `model`. Azure's deployment API puts the model (the
/// deployment) in the path and the version in the query; its v1 surface lives under `/v1`.
/// Gemini and Bedrock name the model in the path and say in it whether the answer streams.
pub fn operation_path(upstream: &Upstream, operation: &str, model: &str, stream: bool) -> String {
    match &upstream.kind {
        UpstreamKind::Azure {
            api_version: Some(version),
        } if operation == "/responses" => format!("{operation}?api-version={version}"),
        UpstreamKind::Azure {
            api_version: Some(version),
        } => format!("/deployments/{model}{operation}?api-version={version}"),
        UpstreamKind::Azure { api_version: None } => format!("/v1{operation}"),
        UpstreamKind::Gemini if stream => {
            format!("/models/{model}:streamGenerateContent?alt=sse")
        }
        UpstreamKind::Gemini => format!("/models/{model}:generateContent"),
        UpstreamKind::Bedrock { .. } => {
            let model = sigv4::encode_segment(model);
            let operation = if stream {
                "converse-stream"
            } else {
                "converse"
            };
            format!("/model/{model}/{operation}")
        }
        UpstreamKind::Cohere => "/chat".to_string(),
        UpstreamKind::OpenAi | UpstreamKind::Anthropic { .. } => operation.to_string(),
    }
}

impl UpstreamClient {
    pub fn new(
        config: Arc<Config>,
        tls: Vec<Option<Arc<rustls::ClientConfig>>>,
        stale_resends: Arc<AtomicU64>,
    ) -> Rc<Self> {
        let idle = RefCell::new(config.upstreams.iter().map(|_| Vec::new()).collect());
        Rc::new(Self {
            config,
            tls,
            resolver: Rc::default(),
            idle,
            stale_resends,
        })
    }

    /// Idle pooled connections, for metrics.
    pub fn idle_connections(&self) -> usize {
        self.idle.borrow().iter().map(Vec::len).sum()
    }

    /// Sends the request and waits for the response head until `deadline` (or sooner, by
    /// `head_within`).
    pub async fn send(
        self: &Rc<Self>,
        request: &UpstreamRequest<'_>,
        deadline: Instant,
    ) -> Result<UpstreamResponse, SendError> {
        let head = self.encode_head(request);
        loop {
            let mut connection = match self.take_idle(request.upstream) {
                Some(connection) => connection,
                // Boxed: connecting (DNS, TLS) is the rare case, and its state (~3 KiB)
                // would otherwise be part of every request's future.
                None => Box::pin(self.connect(request.upstream)).await?,
            };
            let slices = IoSlices::new([head.clone(), request.body.clone(), Bytes::new()]);
            match exchange(&mut connection, slices, deadline, request.head_within).await {
                Err(error) if connection.reused && is_stale(&error) => {
                    self.stale_resends.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => return Err(error),
                Ok((written_at, head)) => {
                    return Ok(UpstreamResponse {
                        status: head.status,
                        content_type: head.content_type,
                        retry_after: head.retry_after,
                        framing: head.framing,
                        keep_alive: head.keep_alive,
                        written_at,
                        connection: Some(connection),
                        upstream: request.upstream,
                        client: self.clone(),
                    })
                }
            }
        }
    }

    fn encode_head(&self, request: &UpstreamRequest<'_>) -> Bytes {
        let upstream = self.config.upstream(request.upstream);
        // Pieces pushed as they are: core::fmt cost more than the rest of the head.
        let mut head = String::with_capacity(256);
        let mut length = itoa::Buffer::new();
        for piece in [
            "POST ",
            &upstream.url.base_path,
            request.path,
            " HTTP/1.1\r\nhost: ",
        ] {
            head.push_str(piece);
        }
        upstream.url.push_host_header(&mut head);
        for piece in [
            "\r\ncontent-type: application/json\r\ncontent-length: ",
            length.format(request.body.len()),
            "\r\nx-request-id: ",
            request.request_id,
            "\r\naccept: ",
            accept(&upstream.kind, request.stream),
            "\r\n",
        ] {
            head.push_str(piece);
        }
        let key = upstream.api_key.as_ref().map(|key| key.expose());
        match (&upstream.kind, key) {
            (UpstreamKind::OpenAi | UpstreamKind::Cohere, Some(key)) => {
                for piece in ["authorization: Bearer ", key, "\r\n"] {
                    head.push_str(piece);
                }
            }
            (UpstreamKind::Azure { .. }, Some(key)) => {
                let _ = write!(head, "api-key: {key}\r\n");
            }
            (UpstreamKind::Anthropic { version }, key) => {
                if let Some(key) = key {
                    let _ = write!(head, "x-api-key: {key}\r\n");
                }
                let _ = write!(head, "anthropic-version: {version}\r\n");
            }
            (UpstreamKind::Gemini, Some(key)) => {
                let _ = write!(head, "x-goog-api-key: {key}\r\n");
            }
            (
                UpstreamKind::Bedrock {
                    region,
                    credentials,
                },
                _,
            ) => {
                for (name, value) in sign_for_bedrock(upstream, region, credentials, request) {
                    let _ = write!(head, "{name}: {value}\r\n");
                }
            }
            (_, None) => {}
        }
        for (name, value) in &upstream.headers {
            let _ = write!(head, "{name}: {value}\r\n");
        }
        head.push_str("\r\n");
        Bytes::from(head)
    }

    fn take_idle(&self, upstream: UpstreamId) -> Option<UpstreamConnection> {
        let mut idle = self.idle.borrow_mut();
        let connections = idle.get_mut(upstream.0)?;
        while let Some(mut connection) = connections.pop() {
            if connection.idle_since.elapsed() < IDLE_LIMIT {
                connection.reused = true;
                return Some(connection);
            }
        }
        None
    }

    fn put_idle(&self, upstream: UpstreamId, mut connection: UpstreamConnection) {
        let mut idle = self.idle.borrow_mut();
        let Some(connections) = idle.get_mut(upstream.0) else {
            return;
        };
        if connections.len() < MAX_IDLE_PER_UPSTREAM {
            connection.idle_since = Instant::now();
            connection.release_buffer();
            connections.push(connection);
        }
    }

    async fn connect(&self, id: UpstreamId) -> Result<UpstreamConnection, SendError> {
        let upstream = self.config.upstream(id);
        let addresses = self
            .resolver
            .resolve(&upstream.url.host, upstream.url.port)
            .await
            .map_err(SendError::Connection)?;
        let tls = self.tls[id.0]
            .as_ref()
            .map(|config| (config, upstream.url.host.as_str()));
        let mut last_error = SendError::Connection("no address".into());
        for &address in addresses.iter() {
            match UpstreamConnection::connect(address, tls, upstream.connect_timeout).await {
                Ok(connection) => return Ok(connection),
                Err(ConnectError::TimedOut) => last_error = SendError::TimedOut("connect"),
                Err(ConnectError::Failed(reason)) => last_error = SendError::Connection(reason),
            }
        }
        Err(last_error)
    }
}

/// What the request accepts: a stream's media type is the kind's own.
fn accept(kind: &UpstreamKind, stream: bool) -> &'static str {
    match (kind, stream) {
        (UpstreamKind::Bedrock { .. }, true) => EVENT_STREAM,
        (_, true) => "text/event-stream",
        (_, false) => "application/json",
    }
}

/// The media type of AWS's binary event streams (Bedrock's `converse-stream`).
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// SigV4 headers for one Bedrock request: signed over the host, the path and the body, at
/// the time it is sent (signatures expire after 15 minutes, so a request is signed anew
/// for every attempt).
fn sign_for_bedrock(
    upstream: &Upstream,
    region: &str,
    credentials: &AwsCredentials,
    request: &UpstreamRequest<'_>,
) -> Vec<(String, String)> {
    let credentials = sigv4::Credentials {
        access_key_id: credentials.access_key_id.expose().to_string(),
        secret_access_key: credentials.secret_access_key.expose().to_string(),
        session_token: credentials
            .session_token
            .as_ref()
            .map(|token| token.expose().to_string()),
    };
    let path = format!("{}{}", upstream.url.base_path, request.path);
    let (path, query) = path.split_once('?').unwrap_or((&path, ""));
    let signed = sigv4::Request {
        method: "POST",
        path,
        query,
        headers: &[("content-type", "application/json")],
        body: &request.body,
    };
    let host = upstream.url.host_header();
    let now = std::time::SystemTime::now();
    sigv4::sign(&credentials, region, "bedrock", &host, &signed, now)
}

/// Writes the request and reads the response head; returns when the request was written.
/// One timer for the whole exchange; a stream's first-token limit adds a second only when
/// it ends before the deadline.
async fn exchange(
    connection: &mut UpstreamConnection,
    slices: IoSlices,
    deadline: Instant,
    head_within: Option<Duration>,
) -> Result<(Instant, ResponseHead), SendError> {
    let written_and_read = async {
        connection
            .write(slices)
            .await
            .map_err(|e| SendError::Connection(e.to_string()))?;
        let written_at = Instant::now();
        let head = match head_within.map(|within| written_at + within) {
            Some(head_deadline) if head_deadline < deadline => {
                super::before(head_deadline, pin!(read_head(connection)))
                    .await
                    .unwrap_or(Err(SendError::TimedOut("first token")))
            }
            _ => read_head(connection).await,
        };
        match head {
            Err(SendError::Closed { reason, .. }) => Err(SendError::Closed {
                reason,
                after_write: written_at.elapsed(),
            }),
            head => head.map(|head| (written_at, head)),
        }
    };
    super::before(deadline, pin!(written_and_read))
        .await
        .unwrap_or(Err(SendError::TimedOut("response")))
}

/// The keep-alive race on a pooled connection: the write failed, or the connection closed
/// before any response byte right after the request was written.
fn is_stale(error: &SendError) -> bool {
    match error {
        SendError::Connection(_) => true,
        SendError::Closed { after_write, .. } => *after_write <= STALE_WINDOW,
        SendError::TimedOut(_) | SendError::Protocol(_) => false,
    }
}

/// Reads until a response head is decoded.
async fn read_head(connection: &mut UpstreamConnection) -> Result<ResponseHead, SendError> {
    loop {
        match head::decode(&mut connection.buffer) {
            Ok(Some(head)) => return Ok(head),
            Ok(None) if connection.buffer.len() > MAX_RESPONSE_HEAD => {
                return Err(SendError::Protocol("response head too large".into()))
            }
            Ok(None) => {}
            Err(error) => return Err(SendError::Protocol(error.to_string())),
        }
        let reason = match connection.fill().await {
            Ok(true) => continue,
            Ok(false) => "connection closed before the response".to_string(),
            Err(e) => e.to_string(),
        };
        // Part of a head, then a close: the upstream did answer, so no timing rule applies.
        if !connection.buffer.is_empty() {
            return Err(SendError::Connection(reason));
        }
        return Err(SendError::Closed {
            reason,
            // Filled in by `exchange`, which knows when the request was written.
            after_write: Duration::ZERO,
        });
    }
}

/// An upstream response whose head arrived; the body is pulled with `next_chunk`.
pub struct UpstreamResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// An error's `Retry-After`, as sent.
    pub retry_after: Option<String>,
    framing: BodyFraming,
    keep_alive: bool,
    /// When the request was written (a stream's first-token clock starts here).
    pub written_at: Instant,
    connection: Option<UpstreamConnection>,
    upstream: UpstreamId,
    client: Rc<UpstreamClient>,
}

impl UpstreamResponse {
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        let Some(connection) = self.connection.as_mut() else {
            return Ok(None);
        };
        self.framing.next_chunk(connection).await
    }

    /// Whether the body's end was read already: `next_chunk` has nothing more to give.
    pub fn body_ended(&self) -> bool {
        self.connection.is_none() || self.framing.is_done()
    }

    /// The whole body, up to `deadline`.
    pub async fn read_to_end(&mut self, deadline: Instant) -> Result<Bytes, BodyError> {
        let read = async {
            let mut first: Option<Bytes> = None;
            let mut rest = Vec::new();
            while let Some(chunk) = self.next_chunk().await? {
                match &first {
                    None => first = Some(chunk),
                    Some(_) => rest.push(chunk),
                }
            }
            // Usually one piece: no copy. Otherwise one concatenation.
            Ok(match (first, rest.is_empty()) {
                (None, _) => Bytes::new(),
                (Some(only), true) => only,
                (Some(first), false) => {
                    let mut all = Vec::with_capacity(
                        first.len() + rest.iter().map(Bytes::len).sum::<usize>(),
                    );
                    all.extend_from_slice(&first);
                    rest.iter().for_each(|chunk| all.extend_from_slice(chunk));
                    Bytes::from(all)
                }
            })
        };
        super::before(deadline, pin!(read))
            .await
            .unwrap_or(Err(BodyError::TimedOut))
    }
}

impl Drop for UpstreamResponse {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            if self.keep_alive && self.framing.is_done() && connection.buffer.is_empty() {
                self.client.put_idle(self.upstream, connection);
            }
        }
    }
}

#[cfg(test)]
mod tests;
