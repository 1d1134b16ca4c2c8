//! The connection loop: read a request (with `http`'s parser, under the size and time
//! limits), hand it to the handler, repeat while keep-alive holds, then close gracefully.
//! A request that cannot even be read is answered through the handler like any other error.
//! A panic is contained to its connection.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::Method;
use monoio::buf::SliceMut;
use monoio::io::{
    AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt, CancelableAsyncReadRent, Canceller,
};
use monoio::net::TcpStream;

use crate::context::WorkerContext;
use crate::error::AppError;
use crate::handler;
use crate::http::chunked::ChunkedBody;
use crate::http::request::{self, BodyFraming, Request, RequestLimits};
use crate::iovec::spare_capacity;

/// How long an idle keep-alive connection may wait for its next request.
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(75);
/// How long a keep-alive connection waits for its next request with a read (and its buffer)
/// posted. A busy connection's next request comes sooner, at the cost of no extra ring
/// operation; past this the connection waits for readability alone and holds no buffer, so
/// thousands of idle connections cost a few KiB each instead of `READ_SIZE`.
const BUFFERED_WAIT: Duration = Duration::from_secs(1);
const READ_SIZE: usize = 16 * 1024;
/// How long and how much a closing connection drains after its last response.
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 1024 * 1024;
/// After refusing a body the client is still writing: the longest pause between two reads
/// of it (a retransmission or two; nginx's lingering_timeout is 5 s), and the most drained,
/// as a multiple of `max_body_bytes`.
const REFUSED_BODY_IDLE: Duration = Duration::from_secs(2);
const REFUSED_BODY_DRAIN_FACTOR: usize = 4;

/// Serves requests on `connection` while keep-alive holds. Returns the connection, with no
/// read buffer, when it has waited `BUFFERED_WAIT` for its next request: the caller parks it
/// in a small task until the client speaks again, so that an idle connection does not keep
/// this future (the handler's state: several KiB) nor a buffer.
pub async fn serve(
    context: &WorkerContext,
    mut connection: ClientConnection,
) -> Option<ClientConnection> {
    let limits = request_limits(context);
    loop {
        let request = match connection.read_request(&limits).await {
            Ok(request) => request,
            Err(ReadError::Closed) => return None,
            Err(ReadError::Idle) => return Some(connection),
            Err(ReadError::Rejected {
                error,
                method,
                path,
                drain,
            }) => {
                let client = &mut connection.stream;
                handler::refuse(context, client, error, method.as_ref(), &path).await;
                connection.linger_after_refusal(drain, &limits).await;
                return None;
            }
        };
        context.request_started();
        let keep_alive = handler::handle(context, &mut connection.stream, &request).await;
        context.request_ended();
        if !keep_alive {
            connection.linger().await;
            return None;
        }
    }
}

/// From the config the process started with: `[server]` needs a restart to change.
fn request_limits(context: &WorkerContext) -> RequestLimits {
    let server = &context.startup().server;
    RequestLimits {
        max_header_bytes: server.max_header_bytes,
        max_headers: server.max_headers,
        max_body_bytes: server.max_body_bytes,
        header_timeout: server.header_timeout,
        body_timeout: server.body_timeout,
    }
}

/// A client connection and the bytes read from it but not consumed yet.
pub struct ClientConnection {
    pub stream: TcpStream,
    buffer: BytesMut,
    /// Cancels the wait for the next request after `BUFFERED_WAIT`. One per connection, not
    /// one per wait: a new one allocated its shared state and its set of operations (and
    /// seeded a hasher) for every request.
    canceller: Canceller,
}

/// Why no request could be read. `Closed` ends the connection quietly; `Rejected` is answered
/// (and logged with the request's method and path when its head was read), then the
/// connection drains as `drain` says and closes.
pub enum ReadError {
    Closed,
    /// No request came within `BUFFERED_WAIT`: the connection is idle (see `serve`).
    Idle,
    Rejected {
        error: AppError,
        method: Option<Method>,
        path: String,
        drain: Drain,
    },
}

impl From<AppError> for ReadError {
    fn from(error: AppError) -> Self {
        let drain = match error {
            // Only a chunked body outgrows the limit while read; its size is unknown.
            AppError::BodyTooLarge { .. } => Drain::RefusedBody { announced: None },
            _ => Drain::Brief,
        };
        Self::Rejected {
            error,
            method: None,
            path: String::new(),
            drain,
        }
    }
}

/// What a closing connection reads and drops after its last response, so that closing with
/// unread input does not reset the connection before the client has read the response
/// (nginx's lingering close).
#[derive(Clone, Copy)]
pub enum Drain {
    /// Nothing more is expected: up to `LINGER_BYTES` for `LINGER`.
    Brief,
    /// A body was refused (413) while the client may still be writing it, and many clients
    /// (Python's http.client, most SDKs) write the whole body before they read: drain what
    /// it announced (unknown when chunked), at most `REFUSED_BODY_DRAIN_FACTOR` times
    /// `max_body_bytes`, within `body_timeout`, with pauses of at most `REFUSED_BODY_IDLE`.
    RefusedBody { announced: Option<usize> },
}

impl ClientConnection {
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            buffer: BytesMut::new(),
            canceller: Canceller::new(),
        }
    }

    /// The buffer, with room for a read.
    fn read_target(&mut self) -> SliceMut<BytesMut> {
        if self.buffer.capacity() - self.buffer.len() < 1024 {
            self.buffer.reserve(READ_SIZE);
        }
        spare_capacity(std::mem::take(&mut self.buffer))
    }

    /// Reads more bytes into the buffer; `Ok(false)` on end of stream.
    async fn fill(&mut self) -> std::io::Result<bool> {
        let target = self.read_target();
        let (result, buffer) = self.stream.read(target).await;
        self.buffer = buffer.into_inner();
        Ok(result? > 0)
    }

    /// Waits for the first bytes of the next request (the buffer is empty) with a read posted,
    /// for up to `BUFFERED_WAIT`.
    async fn wait_for_request(&mut self) -> Result<(), ReadError> {
        let target = self.read_target();
        let handle = self.canceller.handle();
        let (result, buffer) = {
            let mut read = std::pin::pin!(self.stream.cancelable_read(target, handle));
            // A cancelled read still hands its buffer back, with the bytes it got if it won
            // the race: nothing the client sent is lost.
            monoio::select! {
                done = &mut read => done,
                _ = monoio::time::sleep(BUFFERED_WAIT) => {
                    // A cancelled canceller stays cancelled: the next wait gets a fresh one.
                    self.canceller = std::mem::take(&mut self.canceller).cancel();
                    read.await
                }
            }
        };
        self.buffer = buffer.into_inner();
        match result {
            Ok(0) => Err(ReadError::Closed),
            Ok(_) => Ok(()),
            Err(error) if error.raw_os_error() == Some(libc::ECANCELED) => {
                self.buffer = BytesMut::new();
                Err(ReadError::Idle)
            }
            Err(_) => Err(ReadError::Closed),
        }
    }

    /// An idle connection's wait for its client, holding no buffer: `true` once there is
    /// something to read, `false` when the client closes or stays silent past
    /// `KEEP_ALIVE_IDLE` (counted from the last answer).
    pub async fn wait_readable(&self) -> bool {
        let idle = KEEP_ALIVE_IDLE.saturating_sub(BUFFERED_WAIT);
        matches!(
            monoio::time::timeout(idle, self.stream.readable(false)).await,
            Ok(Ok(()))
        )
    }

    async fn fill_until(&mut self, deadline: Instant) -> Result<bool, ReadError> {
        match monoio::time::timeout_at(deadline.into(), self.fill()).await {
            Ok(Ok(more)) => Ok(more),
            Ok(Err(_)) => Err(ReadError::Closed),
            Err(_) => Err(AppError::RequestTimeout.into()),
        }
    }

    /// Closes gracefully: stop writing, then read and drop what the client still sends for
    /// a moment (`Drain::Brief`).
    pub async fn linger(&mut self) {
        self.discard(LINGER_BYTES, LINGER, LINGER).await;
    }

    async fn linger_after_refusal(&mut self, drain: Drain, limits: &RequestLimits) {
        match drain {
            Drain::Brief | Drain::RefusedBody { announced: Some(0) } => self.linger().await,
            Drain::RefusedBody { announced } => {
                let cap = limits
                    .max_body_bytes
                    .saturating_mul(REFUSED_BODY_DRAIN_FACTOR);
                let bytes = announced.map_or(cap, |announced| announced.min(cap));
                self.discard(bytes, REFUSED_BODY_IDLE, limits.body_timeout)
                    .await;
            }
        }
    }

    /// Stops writing, then reads and drops up to `bytes` for at most `total`, giving up
    /// after `idle` without input or when the client closes.
    async fn discard(&mut self, bytes: usize, idle: Duration, total: Duration) {
        let _ = self.stream.shutdown().await;
        let deadline = Instant::now() + total;
        let mut drained = 0;
        while drained < bytes {
            self.buffer.clear();
            let until = deadline.min(Instant::now() + idle);
            match self.fill_until(until).await {
                Ok(true) => drained += self.buffer.len(),
                _ => return,
            }
        }
    }

    pub async fn read_request(&mut self, limits: &RequestLimits) -> Result<Request, ReadError> {
        // Keep-alive: wait for the first byte without the slowloris clock running.
        if self.buffer.is_empty() {
            self.wait_for_request().await?;
        }
        let received_at = Instant::now();
        let head_deadline = received_at + limits.header_timeout;
        let head = loop {
            if let Some(head) = request::parse_head(&mut self.buffer, limits)? {
                break head;
            }
            if !self.fill_until(head_deadline).await? {
                return Err(ReadError::Closed);
            }
        };
        // The body's clock starts when the gateway first waits for body bytes: the usual
        // body came with its head, and needs no clock reading at all.
        let body_deadline = BodyDeadline::after(limits.body_timeout);
        let body = match head.framing {
            BodyFraming::Empty => Ok(Bytes::new()),
            BodyFraming::Length(len) if len > limits.max_body_bytes => {
                // A client waiting for `100 Continue` sends none of it.
                let waits = head.expects_continue() && self.buffer.is_empty();
                let unread = if waits {
                    0
                } else {
                    len - self.buffer.len().min(len)
                };
                Err(ReadError::Rejected {
                    error: AppError::BodyTooLarge {
                        limit: limits.max_body_bytes,
                    },
                    method: None,
                    path: String::new(),
                    drain: Drain::RefusedBody {
                        announced: Some(unread),
                    },
                })
            }
            BodyFraming::Length(len) => {
                self.answer_expect_continue(head.expects_continue()).await?;
                self.read_fixed_body(len, body_deadline).await
            }
            BodyFraming::Chunked => {
                self.answer_expect_continue(head.expects_continue()).await?;
                let body = ChunkedBody::new(limits.max_body_bytes);
                self.read_chunked_body(body, body_deadline).await
            }
        };
        match body {
            Ok(body) => Ok(head.into_request(body, received_at)),
            Err(ReadError::Rejected { error, drain, .. }) => Err(ReadError::Rejected {
                error,
                method: Some(head.method),
                path: head.target.path().to_string(),
                drain,
            }),
            Err(closed) => Err(closed),
        }
    }

    async fn answer_expect_continue(&mut self, expects: bool) -> Result<(), ReadError> {
        if expects && self.buffer.is_empty() {
            let (result, _) = self.stream.write_all(request::CONTINUE).await;
            result.map_err(|_| ReadError::Closed)?;
        }
        Ok(())
    }

    async fn read_fixed_body(
        &mut self,
        len: usize,
        mut deadline: BodyDeadline,
    ) -> Result<Bytes, ReadError> {
        while self.buffer.len() < len {
            self.buffer.reserve(len - self.buffer.len());
            if !self.fill_until(deadline.at()).await? {
                return Err(ReadError::Closed);
            }
        }
        Ok(self.buffer.split_to(len).freeze())
    }

    async fn read_chunked_body(
        &mut self,
        mut body: ChunkedBody,
        mut deadline: BodyDeadline,
    ) -> Result<Bytes, ReadError> {
        loop {
            if let Some(body) = body.decode(&mut self.buffer)? {
                return Ok(body);
            }
            if !self.fill_until(deadline.at()).await? {
                return Err(ReadError::Closed);
            }
        }
    }
}

/// A request body's deadline, `timeout` after the first wait for its bytes.
struct BodyDeadline {
    timeout: Duration,
    at: Option<Instant>,
}

impl BodyDeadline {
    fn after(timeout: Duration) -> Self {
        Self { timeout, at: None }
    }

    fn at(&mut self) -> Instant {
        *self.at.get_or_insert_with(|| Instant::now() + self.timeout)
    }
}

/// Polls a future and turns a panic inside it into `Err`, so one bad request cannot take
/// the worker (and every other connection on it) down.
pub struct CatchUnwind<F>(pub F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.0).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzz-style: mutated request bytes over a real socket always end in a request or an
    /// error, never a panic or a hang.
    #[monoio::test(timer_enabled = true)]
    async fn mutated_requests_always_end() {
        let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let limits = RequestLimits {
            max_header_bytes: 2048,
            max_headers: 16,
            max_body_bytes: 2048,
            header_timeout: Duration::from_millis(100),
            body_timeout: Duration::from_millis(100),
        };
        let seeds: [&[u8]; 3] = [
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
            b"POST /v1/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        ];
        let mut rng = fastrand::Rng::with_seed(5);
        let noise = b"\r\n: 0123456789abcdefxyz\x00\xff";
        for _ in 0..300 {
            let bytes = crate::mutate::mutated(&mut rng, &seeds, noise);
            if bytes.is_empty() {
                continue; // an idle keep-alive connection: waited on for long, by design
            }
            let mut client = TcpStream::connect_addr(address).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (written, _) = client.write_all(bytes).await;
            written.unwrap();
            let mut connection = ClientConnection::new(server);
            let outcome =
                monoio::time::timeout(Duration::from_secs(2), connection.read_request(&limits))
                    .await;
            assert!(outcome.is_ok(), "read_request must end by itself");
        }
    }
}
