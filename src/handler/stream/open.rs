//! Opening a stream: send the request and wait for its first data event. The first-token
//! timeout runs from the request being written upstream, the wait for the response head
//! included; a non-SSE answer (the client's own error, or an upstream that ignored
//! `stream`) is read whole instead.

use std::pin::pin;
use std::rc::Rc;
use std::time::Instant;

use std::ops::ControlFlow;

use bytes::Bytes;

use super::sse::{self, EventFramer, Said};
use crate::dialect::{Dialect, Framing};
use crate::dispatch::{classify_body_error, classify_send_error, AttemptTarget, Failure};
use crate::handler::forward::{read_whole, Delivered};
use crate::upstream::{self, UpstreamClient, UpstreamRequest, UpstreamResponse, EVENT_STREAM};

/// What an attempt to open a stream produced.
#[expect(
    clippy::large_enum_variant,
    reason = "made once per attempt and moved once; boxing would allocate per stream"
)]
pub enum Opened {
    Stream(OpenStream),
    /// A complete non-SSE answer.
    Whole(Delivered),
}

/// An SSE stream whose first data event arrived; `first` holds the events so far.
pub struct OpenStream {
    pub response: UpstreamResponse,
    pub framer: EventFramer,
    pub first: Bytes,
}

/// Sends a stream request (`body` already made for this target, in `dialect`) and waits
/// for its first data event.
pub async fn open(
    upstream: &Rc<UpstreamClient>,
    path: &str,
    target: &AttemptTarget<'_>,
    dialect: Dialect,
    request_id: &str,
    body: Bytes,
) -> Result<Opened, Failure> {
    let routing = &target.model.routing;
    let request = UpstreamRequest {
        upstream: target.target.upstream,
        path,
        body,
        request_id,
        stream: true,
        head_within: Some(routing.first_token_timeout),
    };
    let head_deadline = Instant::now() + target.upstream.timeout;
    let mut response = upstream
        .send(&request, head_deadline)
        .await
        .map_err(|e| classify_send_error(&e, routing.silent_after))?;
    let framing = dialect.framing();
    let stream_type = match framing {
        Framing::EventStream => EVENT_STREAM,
        _ => "text/event-stream",
    };
    let is_stream = response
        .content_type
        .as_deref()
        .is_some_and(|t| t.starts_with(stream_type));
    if !(200..300).contains(&response.status) || !is_stream {
        return read_whole(&mut response, head_deadline)
            .await
            .map(Opened::Whole);
    }
    let first_token_deadline = response.written_at + routing.first_token_timeout;
    let mut framer = EventFramer::new(framing);
    // The events before the first data event (usually none: it comes in the first read).
    let mut before: Option<Bytes> = None;
    loop {
        let chunk = upstream::before(first_token_deadline, pin!(response.next_chunk())).await;
        let bytes = match chunk {
            None => return Err(Failure::first_token_timeout()),
            Some(Err(error)) => return Err(classify_body_error(&error)),
            Some(Ok(None)) => return Err(Failure::ended_before_first_token()),
            Some(Ok(Some(bytes))) => bytes,
        };
        let Some(events) = framer.push(bytes) else {
            continue;
        };
        let has_data = has_data(dialect, &events)?;
        let first = match before.take() {
            None => events,
            Some(before) => [&before[..], &events[..]].concat().into(),
        };
        if has_data {
            return Ok(Opened::Stream(OpenStream {
                response,
                framer,
                first,
            }));
        }
        before = Some(first);
    }
}

/// Whether a block of whole events holds a data event; the upstream's error when the first
/// one says it (an error in place of the answer: fail over as for an error status).
fn has_data(dialect: Dialect, events: &[u8]) -> Result<bool, Failure> {
    // The usual chat block opens with a data line, and a chat event never reads as an error:
    // nothing to learn from reading it here, the relay's filter reads it next (reading it
    // twice cost ~280 instructions a stream).
    if dialect == Dialect::Chat && events.starts_with(b"data:") {
        return Ok(true);
    }
    let mut first_event = None;
    sse::each_said(dialect, events, |_, _, said| {
        first_event = Some(said);
        ControlFlow::Break(())
    });
    match first_event {
        Some(Said::Error(message)) => Err(Failure::error_event(&message)),
        Some(_) => Ok(true),
        None => Ok(false),
    }
}
