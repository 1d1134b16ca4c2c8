//! The pass-through relay: upstream bytes are forwarded as they arrive, whole events at a
//! time, untouched but for the usage chunk the client did not ask for. It ends when the
//! upstream finishes, breaks, falls silent past the idle timeout, or the client leaves; what
//! to do about a break is the exchange's decision.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use monoio::io::AsyncWriteRent;

use super::hang_up::client_hung_up;
use super::sink::ClientSink;
use super::sse::{self, EventFramer};
use crate::dispatch::{classify_body_error, Failure};
use crate::upstream::{BodyError, UpstreamResponse};

/// Why forwarding stopped early.
#[derive(Debug)]
pub enum StreamEnd {
    ClientGone,
    Broken(Failure),
    /// A restarted stream said something else than what the client already has: stop.
    Diverged(Failure),
}

/// Where a relay's bytes come from: an upstream response body, read as it arrives.
pub trait ChunkSource {
    fn next_chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, BodyError>>;
}

impl ChunkSource for UpstreamResponse {
    fn next_chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, BodyError>> {
        UpstreamResponse::next_chunk(self)
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
    finished: bool,
    done: bool,
    /// Drop the usage-only chunk: the gateway asked for it (for the log), the client did not.
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
    /// (clients that index `choices[0]` of every chunk would break on it).
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
pub async fn pump<W: AsyncWriteRent>(
    mut source: impl ChunkSource,
    mut framer: EventFramer,
    filter: &mut impl EventFilter,
    sink: &mut ClientSink<'_, W>,
    idle_timeout: Duration,
) -> Result<(), StreamEnd> {
    let mut hung_up = std::pin::pin!(client_hung_up(sink.client_fd));
    loop {
        let next = monoio::select! {
            next = monoio::time::timeout(idle_timeout, source.next_chunk()) => next,
            _ = &mut hung_up => return Err(StreamEnd::ClientGone),
        };
        let bytes = match next {
            Ok(Ok(Some(bytes))) => bytes,
            Ok(Ok(None)) => return end_of_upstream(&framer, filter, sink).await,
            Ok(Err(error)) => return Err(StreamEnd::Broken(classify_body_error(&error))),
            Err(_) => return Err(StreamEnd::Broken(Failure::idle_timeout())),
        };
        if let Some(events) = framer.push(bytes) {
            sink.forward(filter.filter(events)?).await?;
        }
    }
}

/// The upstream ended its body: complete after a finish reason (a missing `[DONE]` is
/// added, the usual ending), broken otherwise.
async fn end_of_upstream<W: AsyncWriteRent>(
    framer: &EventFramer,
    filter: &impl EventFilter,
    sink: &mut ClientSink<'_, W>,
) -> Result<(), StreamEnd> {
    if !filter.finished() || framer.has_partial_event() {
        return Err(StreamEnd::Broken(Failure::closed_before_finish()));
    }
    if !filter.saw_done() {
        sink.forward(Bytes::from_static(b"data: [DONE]\n\n"))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
