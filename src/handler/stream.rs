//! SSE pass-through. Before the first event reaches the client, failures fail over like any
//! request. After it, upstream bytes are forwarded as they arrive (whole events, untouched)
//! and copied by reference to the logging thread; a stream that breaks is continued from the
//! next target (`recovery`) or ended with an in-band error, never closed as if complete.

use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use monoio::net::TcpStream;

use super::exchange::Exchange;
use super::forward::{body_failure, deliver, note_target, read_whole, Delivered, Prepared};
use super::recovery;
use super::sse::{self, EventFramer};
use crate::dispatch::{classify_send_error, AttemptTarget, Failure, FailureKind};
use crate::error::AppError;
use crate::http::request::ClientConnection;
use crate::http::response::{self, ResponseHead};
use crate::record::{RecordEvent, StreamId};
use crate::server::worker::Worker;
use crate::upstream::{UpstreamClient, UpstreamRequest, UpstreamResponse};

/// What an attempt to open a stream produced.
#[expect(
    clippy::large_enum_variant,
    reason = "made once per attempt and moved once; boxing would allocate per stream"
)]
pub enum Opened {
    /// An SSE stream whose first data event arrived; `first` holds the events so far.
    Stream {
        response: UpstreamResponse,
        framer: EventFramer,
        first: Bytes,
    },
    /// A complete non-SSE answer (the client's own error, or an upstream that ignored `stream`).
    Whole(Delivered),
}

pub async fn relay(
    worker: &Worker,
    connection: &mut ClientConnection,
    prepared: Prepared,
    mut exchange: Exchange,
) -> bool {
    let routes = exchange.routes.clone();
    let mut plan = routes.dispatcher.plan(prepared.model);
    let request_id = exchange.id().to_string();
    let opened = plan
        .run(async |target| {
            let body = prepared.body.for_upstream(&target.target.upstream_model);
            open(&routes.upstream, &prepared, target, &request_id, body).await
        })
        .await;
    if let Some(target) = &plan.last_target {
        note_target(&mut exchange, target);
    }
    let (opened, target) = match opened {
        Ok(done) => done,
        Err(error) => {
            exchange.record.tried = std::mem::take(&mut plan.tried);
            return exchange.fail(worker, connection, error).await;
        }
    };
    let attempts = plan.tried.len().to_string();
    let extra = [
        ("x-gpt-api-attempts", attempts.as_str()),
        ("x-gpt-api-upstream", target.upstream.name.as_str()),
    ];
    let (response, framer, first) = match opened {
        Opened::Stream {
            response,
            framer,
            first,
        } => (response, framer, first),
        Opened::Whole(delivered) => {
            exchange.record.tried = std::mem::take(&mut plan.tried);
            return deliver(worker, connection, exchange, delivered).await;
        }
    };
    let head = ResponseHead {
        status: 200,
        content_type: "text/event-stream",
        request_id: &request_id,
        keep_alive: exchange.keep_alive,
        extra: &extra,
    };
    let stream_id = worker.next_stream_id();
    let mut sink = ClientSink {
        worker,
        stream_id,
        head: Some(head.encode(None)),
        keep_delivered: recovery::possible(&prepared, &target),
        delivered: Vec::new(),
    };
    let mut relay = RelayState::new(!prepared.body.client_wants_usage);
    let mut outcome = match relay.filter(first) {
        Ok(events) => sink.forward(connection, events).await,
        Err(end) => Err(end),
    };
    exchange.record.ttft_ms = Some(exchange.received_at.elapsed().as_secs_f64() * 1000.0);
    worker.metrics.ttft.observe(exchange.received_at.elapsed());
    if outcome.is_ok() {
        outcome = pump(connection, response, framer, &mut relay, &mut sink, &target).await;
    }
    // A broken stream: continue it from the next targets of the same plan, if allowed.
    if let Err(StreamEnd::Broken(failure)) = outcome {
        plan.record_failure(&target, &failure);
        plan.last_failure = Some(failure.clone());
        outcome = if sink.keep_delivered {
            worker
                .metrics
                .stream_recoveries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let strip_usage = relay.strip_usage;
            recovery::continue_stream(
                connection,
                &prepared,
                &mut plan,
                &mut sink,
                &mut exchange,
                strip_usage,
                failure,
            )
            .await
        } else {
            Err(StreamEnd::Broken(failure))
        };
    }
    let interrupted = match &outcome {
        Err(StreamEnd::Broken(failure) | StreamEnd::Diverged(failure)) => {
            plan.last_failure = Some(failure.clone());
            Some(AppError::StreamInterrupted(plan.summary()))
        }
        _ => None,
    };
    exchange.record.tried = std::mem::take(&mut plan.tried);
    let clean = match (outcome, interrupted) {
        (Err(StreamEnd::ClientGone), _) => {
            exchange.record.cancelled = true;
            false
        }
        (_, None) => true,
        (_, Some(error)) => {
            // The in-band error: one last event in OpenAI's error shape, then the body ends.
            let message = error.message();
            let event = format!("data: {}\n\n", error.body_with_message(&message));
            let written = sink.forward(connection, Bytes::from(event)).await.is_ok();
            exchange.record.error = Some(message);
            written
        }
    };
    let finished = clean
        && response::write_last_chunk(&mut connection.stream)
            .await
            .is_ok();
    let keep_alive = exchange.keep_alive && finished;
    // The usage chunk kept from the client still belongs in the log.
    if let Some(usage) = relay.withheld_usage.take() {
        sink.record_only(usage);
    }
    exchange.finish_stream(worker, stream_id);
    keep_alive
}

/// Why forwarding stopped early.
pub enum StreamEnd {
    ClientGone,
    Broken(Failure),
    /// A restarted stream said something else than what the client already has: stop.
    Diverged(Failure),
}

/// Writes to the client and copies what was written to the logging thread.
pub struct ClientSink<'w> {
    worker: &'w Worker,
    stream_id: StreamId,
    /// The response head, until it goes out in front of the first events.
    head: Option<Bytes>,
    /// Whether to keep what was delivered, for a continuation.
    pub keep_delivered: bool,
    pub delivered: Vec<Bytes>,
}

impl ClientSink<'_> {
    /// Bytes the logging thread should see although the client does not.
    pub fn record_only(&self, bytes: Bytes) {
        let stream = self.stream_id;
        self.worker
            .records
            .send(RecordEvent::StreamChunk { stream, bytes });
    }

    pub async fn forward(
        &mut self,
        connection: &mut ClientConnection,
        events: Bytes,
    ) -> Result<(), StreamEnd> {
        response::write_chunk(&mut connection.stream, self.head.take(), events.clone())
            .await
            .map_err(|_| StreamEnd::ClientGone)?;
        if events.is_empty() {
            return Ok(());
        }
        if self.keep_delivered {
            self.delivered.push(events.clone());
        }
        self.record_only(events);
        Ok(())
    }
}

/// What a relay does to whole events on their way to the client.
pub trait EventFilter {
    fn filter(&mut self, events: Bytes) -> Result<Bytes, StreamEnd>;
    /// A finish_reason or `[DONE]` went by: an end of the upstream now is a clean end.
    fn finished(&self) -> bool;
    fn saw_done(&self) -> bool;
}

/// The pass-through filter: per-stream facts gathered from the bytes as they pass.
pub struct RelayState {
    pub finished: bool,
    pub done: bool,
    pub strip_usage: bool,
    /// The usage chunk kept from the client, still wanted for the log.
    pub withheld_usage: Option<Bytes>,
}

impl RelayState {
    pub fn new(strip_usage: bool) -> Self {
        Self {
            finished: false,
            done: false,
            strip_usage,
            withheld_usage: None,
        }
    }
}

impl EventFilter for RelayState {
    /// Notes what the events say and drops the usage chunk the client did not ask for
    /// (the gateway requested it for the log; clients that index `choices[0]` would break on it).
    fn filter(&mut self, events: Bytes) -> Result<Bytes, StreamEnd> {
        let mut usage_event = None;
        for event in sse::events(&events) {
            let Some(payload) = sse::data(event) else {
                continue;
            };
            self.done |= sse::is_done(&payload);
            self.finished = self.finished || self.done || sse::has_finish_reason(&payload);
            if self.strip_usage && sse::is_usage_only(&payload) {
                let start = event.as_ptr() as usize - events.as_ptr() as usize;
                usage_event = Some(start..start + event.len());
            }
        }
        Ok(match usage_event {
            None => events,
            Some(span) => {
                self.withheld_usage = Some(events.slice(span.clone()));
                [&events[..span.start], &events[span.end..]].concat().into()
            }
        })
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn saw_done(&self) -> bool {
        self.done
    }
}

/// Forwards the rest of an upstream stream. `Ok` once it ended complete.
pub async fn pump(
    connection: &mut ClientConnection,
    mut response: UpstreamResponse,
    mut framer: EventFramer,
    relay: &mut impl EventFilter,
    sink: &mut ClientSink<'_>,
    target: &AttemptTarget<'_>,
) -> Result<(), StreamEnd> {
    let idle_timeout = target.model.routing.stream_idle_timeout;
    let mut hung_up = std::pin::pin!(client_hung_up(connection.stream.as_raw_fd()));
    loop {
        let next = monoio::select! {
            next = monoio::time::timeout(idle_timeout, response.next_chunk()) => next,
            _ = &mut hung_up => return Err(StreamEnd::ClientGone),
        };
        match next {
            Ok(Ok(Some(bytes))) => {
                if let Some(events) = framer.push(bytes) {
                    sink.forward(connection, relay.filter(events)?).await?;
                }
            }
            Ok(Ok(None)) if relay.finished() && !framer.has_partial_event() => {
                // A finish_reason without `[DONE]` is a complete answer: end it the usual way.
                if !relay.saw_done() {
                    sink.forward(connection, Bytes::from_static(b"data: [DONE]\n\n"))
                        .await?;
                }
                return Ok(());
            }
            Ok(Ok(None)) => {
                return Err(broken(
                    FailureKind::Transient { retry_after: None },
                    "upstream closed the stream before it finished",
                ))
            }
            Ok(Err(error)) => return Err(StreamEnd::Broken(body_failure(&error))),
            Err(_) => return Err(broken(FailureKind::Silent, "stream idle timeout")),
        }
    }
}

pub fn broken(kind: FailureKind, message: &str) -> StreamEnd {
    StreamEnd::Broken(Failure {
        kind,
        message: message.to_string(),
    })
}

/// Sends a stream request and waits for its first data event (the first-token timeout).
pub async fn open(
    upstream: &Rc<UpstreamClient>,
    prepared: &Prepared,
    target: &AttemptTarget<'_>,
    request_id: &str,
    body: Bytes,
) -> Result<Opened, Failure> {
    let request = UpstreamRequest {
        upstream: target.target.upstream,
        path: prepared.endpoint.upstream_path(),
        body,
        request_id,
        stream: true,
    };
    let sent_at = Instant::now();
    let head_deadline = sent_at + target.upstream.timeout;
    let mut response = upstream
        .send(&request, head_deadline)
        .await
        .map_err(|e| classify_send_error(&e))?;
    let is_sse = response
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if !(200..300).contains(&response.status) || !is_sse {
        return read_whole(&mut response, head_deadline)
            .await
            .map(Opened::Whole);
    }
    let first_token_deadline = sent_at + target.model.routing.first_token_timeout;
    let mut framer = EventFramer::default();
    let mut first = Vec::new();
    loop {
        let chunk =
            monoio::time::timeout_at(first_token_deadline.into(), response.next_chunk()).await;
        let bytes = match chunk {
            Err(_) => {
                return Err(Failure {
                    kind: FailureKind::Silent,
                    message: "timed out waiting for first token".into(),
                })
            }
            Ok(Err(error)) => return Err(body_failure(&error)),
            Ok(Ok(None)) => {
                return Err(Failure {
                    kind: FailureKind::Transient { retry_after: None },
                    message: "stream ended before the first token".into(),
                })
            }
            Ok(Ok(Some(bytes))) => bytes,
        };
        let Some(events) = framer.push(bytes) else {
            continue;
        };
        let has_data = sse::events(&events).any(|event| sse::data(event).is_some());
        first.push(events);
        if has_data {
            let first = if first.len() == 1 {
                first.pop().unwrap_or_default()
            } else {
                first.concat().into()
            };
            return Ok(Opened::Stream {
                response,
                framer,
                first,
            });
        }
    }
}

/// How long a stream runs before it watches for a client hang-up. A stream that flows learns
/// of a hang-up from its next write; watching costs a `dup`, a poll, its cancellation and a
/// `close`, which was a fifth of a short stream's io_uring operations.
const WATCH_HANG_UP_AFTER: Duration = Duration::from_millis(500);

/// Resolves when the client hangs up while the upstream is silent, without reading from the
/// connection: it waits for readability on a duplicate descriptor and peeks.
async fn client_hung_up(client: RawFd) {
    monoio::time::sleep(WATCH_HANG_UP_AFTER).await;
    // SAFETY: `dup` gives a new descriptor, owned (and closed) by the stream made from it.
    let fd = unsafe { libc::dup(client) };
    let stream = (fd >= 0)
        .then(|| unsafe { <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        .and_then(|std_stream| TcpStream::from_std(std_stream).ok());
    let Some(stream) = stream else {
        return std::future::pending().await;
    };
    loop {
        if stream.readable(true).await.is_err() {
            return;
        }
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a local buffer.
        let peeked = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        match peeked {
            0 => return,
            n if n > 0 => return std::future::pending().await, // a pipelined request: not a hang-up
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
                monoio::time::sleep(Duration::from_millis(1)).await;
            }
            _ => return,
        }
    }
}
