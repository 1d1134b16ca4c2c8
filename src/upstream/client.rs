//! The per-worker upstream client: pooled keep-alive connections, connect and response
//! timeouts, one transparent retry when a pooled connection turns out to be dead, and
//! responses whose bodies are pulled chunk by chunk. A connection goes back to the pool only
//! when its body ended cleanly (dropping a response mid-body closes the connection).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use monoio_codec::{Decoded, Decoder};
use monoio_http::h1::codec::decoder::{ChunkedBodyDecoder, ResponseHeadDecoder};

use super::body::{BodyError, BodyFraming};
use super::connection::{ConnectError, UpstreamConnection};
use super::resolve::Resolver;
use crate::config::{Config, UpstreamId};
use crate::iovec::IoSlices;

const MAX_RESPONSE_HEAD: usize = 64 * 1024;
const MAX_IDLE_PER_UPSTREAM: usize = 256;
const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// A failed exchange before a response head arrived, as failover classifies it.
#[derive(Debug)]
pub enum SendError {
    /// Refused, reset, closed: transient.
    Connection(String),
    /// Connect or response timeout: a silent upstream.
    TimedOut(&'static str),
    /// The upstream answered something that is not HTTP/1.1.
    Protocol(String),
}

impl SendError {
    pub fn message(&self) -> String {
        match self {
            Self::Connection(reason) => format!("connection failed: {reason}"),
            Self::TimedOut(what) => format!("timed out waiting for {what}"),
            Self::Protocol(reason) => format!("invalid upstream response: {reason}"),
        }
    }
}

pub struct UpstreamClient {
    config: Arc<Config>,
    tls: Vec<Option<Arc<rustls::ClientConfig>>>,
    resolver: Rc<Resolver>,
    idle: RefCell<HashMap<UpstreamId, Vec<UpstreamConnection>>>,
}

pub struct UpstreamRequest<'a> {
    pub upstream: UpstreamId,
    /// The client's path without `/v1`, appended to the upstream's base path.
    pub path: &'a str,
    pub body: Bytes,
    pub request_id: &'a str,
    pub stream: bool,
}

impl UpstreamClient {
    pub fn new(config: Arc<Config>, tls: Vec<Option<Arc<rustls::ClientConfig>>>) -> Rc<Self> {
        Rc::new(Self {
            config,
            tls,
            resolver: Rc::default(),
            idle: RefCell::default(),
        })
    }

    /// Idle pooled connections, for metrics.
    pub fn idle_connections(&self) -> usize {
        self.idle.borrow().values().map(Vec::len).sum()
    }

    /// Sends the request and waits for the response head until `deadline`.
    pub async fn send(
        self: &Rc<Self>,
        request: &UpstreamRequest<'_>,
        deadline: Instant,
    ) -> Result<UpstreamResponse, SendError> {
        let head = self.encode_head(request);
        loop {
            let mut connection = match self.take_idle(request.upstream) {
                Some(connection) => connection,
                None => self.connect(request.upstream).await?,
            };
            let reused = connection.reused;
            let slices = IoSlices::new([head.clone(), request.body.clone(), Bytes::new()]);
            let exchange = async {
                connection
                    .write(slices)
                    .await
                    .map_err(|e| SendError::Connection(e.to_string()))?;
                read_head(&mut connection).await
            };
            match monoio::time::timeout_at(deadline.into(), exchange).await {
                Err(_) => return Err(SendError::TimedOut("response")),
                // A pooled connection the upstream had closed: retry once on a fresh one.
                Ok(Err(SendError::Connection(_))) if reused => continue,
                Ok(Err(error)) => return Err(error),
                Ok(Ok((status, headers, framing, keep_alive))) => {
                    return Ok(UpstreamResponse {
                        status,
                        headers,
                        framing,
                        keep_alive,
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
        let mut head = String::with_capacity(256);
        let _ = write!(
            head,
            "POST {}{} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {}\r\naccept: {}\r\n",
            upstream.url.base_path,
            request.path,
            upstream.url.host_header(),
            request.body.len(),
            request.request_id,
            if request.stream { "text/event-stream" } else { "application/json" },
        );
        if let Some(key) = &upstream.api_key {
            let _ = write!(head, "authorization: Bearer {}\r\n", key.expose());
        }
        head.push_str("\r\n");
        Bytes::from(head)
    }

    fn take_idle(&self, upstream: UpstreamId) -> Option<UpstreamConnection> {
        let mut idle = self.idle.borrow_mut();
        let connections = idle.get_mut(&upstream)?;
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
        let connections = idle.entry(upstream).or_default();
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

/// Reads and decodes a response head; also decides how the body is framed.
async fn read_head(
    connection: &mut UpstreamConnection,
) -> Result<(u16, HeaderMap, BodyFraming, bool), SendError> {
    loop {
        match ResponseHeadDecoder.decode(&mut connection.buffer) {
            Ok(Decoded::Some(head)) => {
                let status = head.status.as_u16();
                let headers = head.headers;
                let close = headers
                    .get(http::header::CONNECTION)
                    .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"));
                let framing = if status == 204 || status == 304 {
                    BodyFraming::Empty
                } else if headers
                    .get(http::header::TRANSFER_ENCODING)
                    .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"chunked"))
                {
                    BodyFraming::Chunked(ChunkedBodyDecoder::default())
                } else if let Some(length) = headers.get(http::header::CONTENT_LENGTH) {
                    let length = std::str::from_utf8(length.as_bytes())
                        .ok()
                        .and_then(|text| text.trim().parse().ok())
                        .ok_or_else(|| SendError::Protocol("invalid content-length".into()))?;
                    BodyFraming::Length(length)
                } else {
                    BodyFraming::UntilClose
                };
                let keep_alive = !close
                    && head.version == http::Version::HTTP_11
                    && !matches!(framing, BodyFraming::UntilClose);
                return Ok((status, headers, framing, keep_alive));
            }
            Ok(_) if connection.buffer.len() > MAX_RESPONSE_HEAD => {
                return Err(SendError::Protocol("response head too large".into()))
            }
            Ok(_) => {}
            Err(e) => return Err(SendError::Protocol(e.to_string())),
        }
        match connection.fill().await {
            Ok(true) => {}
            Ok(false) => {
                return Err(SendError::Connection(
                    "connection closed before the response".into(),
                ))
            }
            Err(e) => return Err(SendError::Connection(e.to_string())),
        }
    }
}

/// An upstream response whose head arrived; the body is pulled with `next_chunk`.
pub struct UpstreamResponse {
    pub status: u16,
    pub headers: HeaderMap,
    framing: BodyFraming,
    keep_alive: bool,
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
        monoio::time::timeout_at(deadline.into(), read)
            .await
            .unwrap_or(Err(BodyError::TimedOut))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
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
