//! The pass-through relay: upstream bytes are forwarded as they arrive, whole events at a
//! time, untouched but for the usage chunk the client did not ask for. It ends when the
//! upstream finishes, breaks, falls silent past the idle timeout, or the client leaves; what
//! to do about a break is the exchange's decision.

use std::future::Future;
use std::ops::ControlFlow;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use monoio::io::AsyncWriteRent;
use monoio::time::Instant;

use super::hang_up::client_hung_up;
use super::sink::{ClientSink, Outgoing};
use super::sse::{self, EventFramer, Said};
use crate::dialect::{gemini, Dialect, Framing};
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
    /// Whether the body's end was read already (the next chunk is `None`, at once).
    fn ended(&self) -> bool;
}

impl ChunkSource for UpstreamResponse {
    fn next_chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, BodyError>> {
        UpstreamResponse::next_chunk(self)
    }

    fn ended(&self) -> bool {
        self.body_ended()
    }
}

/// What a relay does to whole events on their way to the client.
pub trait EventFilter {
    fn filter(&mut self, events: Bytes) -> Result<Outgoing, StreamEnd>;
    /// The stream said it is finished: an end of the upstream now is a clean end.
    fn finished(&self) -> bool;
    /// What still has to go out when the upstream ended cleanly without its end marker.
    fn ending(&mut self) -> Option<Bytes>;
    /// The usage event kept from the client, still wanted for the log.
    fn take_withheld(&mut self) -> Option<Bytes>;
    /// An error the upstream sent in its stream: the events before it went to the client,
    /// the error itself did not (the stream is continued or ended by the gateway instead).
    fn take_failure(&mut self) -> Option<Failure>;
}

/// The pass-through filter: per-stream facts gathered from the bytes as they pass, in the
/// dialect both sides speak.
pub struct RelayState {
    dialect: Dialect,
    finished: bool,
    done: bool,
    /// Drop the usage-only chunk: the gateway asked for it (for the log), the client did not.
    pub strip_usage: bool,
    withheld_usage: Option<Bytes>,
    failure: Option<Failure>,
    /// A Gemini client that reads a JSON array: each SSE event's data becomes an element.
    array: Option<ArrayOut>,
}

/// Where a JSON-array stream written from SSE events stands.
#[derive(Default)]
struct ArrayOut {
    opened: bool,
    closed: bool,
}

impl RelayState {
    /// `client_framing`: how the client reads the stream (a Gemini client may want an array).
    pub fn new(dialect: Dialect, strip_usage: bool, client_framing: Framing) -> Self {
        Self {
            dialect,
            finished: false,
            done: false,
            strip_usage,
            withheld_usage: None,
            failure: None,
            array: (client_framing == Framing::JsonArray).then(ArrayOut::default),
        }
    }
}

impl EventFilter for RelayState {
    /// Notes what the events say, drops the usage chunk the client did not ask for
    /// (clients that index `choices[0]` of every chunk would break on it), and stops before
    /// an upstream's in-band error (the gateway ends or continues the stream instead).
    fn filter(&mut self, events: Bytes) -> Result<Outgoing, StreamEnd> {
        let mut cut = None;
        let mut usage_event = None;
        sse::each_said(self.dialect, &events, |start, len, said| {
            match said {
                Said::Error(message) => {
                    self.failure = Some(Failure::error_event(&message));
                    cut = Some(start);
                    return ControlFlow::Break(());
                }
                Said::Done => {
                    self.done = true;
                    self.finished = true;
                }
                Said::Finished => self.finished = true,
                Said::UsageOnly if self.strip_usage => usage_event = Some(start..start + len),
                Said::UsageOnly | Said::More => {}
            }
            ControlFlow::Continue(())
        });
        let events = match (cut, usage_event) {
            (Some(start), _) => events.slice(..start).into(),
            (None, None) => events.into(),
            // Two slices around the withheld event: no copy wherever it sits in the block.
            (None, Some(span)) => {
                self.withheld_usage = Some(events.slice(span.clone()));
                Outgoing::around(events.slice(..span.start), events.slice(span.end..))
            }
        };
        Ok(match &mut self.array {
            Some(array) => array.elements(&events).into(),
            None => events,
        })
    }

    fn finished(&self) -> bool {
        self.finished
    }

    /// A chat stream that ended after its finish reason without `[DONE]` gets it (the usual
    /// ending), a JSON array its `]`; the other dialects' finishing event is their end.
    fn ending(&mut self) -> Option<Bytes> {
        if let Some(array) = &mut self.array {
            return array.close();
        }
        (self.dialect == Dialect::Chat && !self.done)
            .then(|| Bytes::from_static(b"data: [DONE]\n\n"))
    }

    fn take_withheld(&mut self) -> Option<Bytes> {
        self.withheld_usage.take()
    }

    fn take_failure(&mut self) -> Option<Failure> {
        self.failure.take()
    }
}

impl ArrayOut {
    /// SSE events' data as the array's next elements.
    fn elements(&mut self, events: &Outgoing) -> Bytes {
        let mut out = Vec::new();
        for piece in events.pieces() {
            out.reserve(piece.len() + 8);
            sse::each_payload(Framing::Sse, piece, |_, _, payload| {
                gemini::array_element(payload, !self.opened, &mut out);
                self.opened = true;
                ControlFlow::Continue(())
            });
        }
        Bytes::from(out)
    }

    /// The array's end, once.
    fn close(&mut self) -> Option<Bytes> {
        if self.closed {
            return None;
        }
        self.closed = true;
        let mut out = Vec::with_capacity(2);
        gemini::array_close(!self.opened, &mut out);
        Some(Bytes::from(out))
    }
}

/// Forwards the rest of an upstream stream. `Ok` once it ended complete; then the client's
/// body is ended too, with the last events when the upstream's end came with them (the
/// usual case: an upstream writes its last event and its end together).
pub async fn pump<W: AsyncWriteRent>(
    mut source: impl ChunkSource,
    mut framer: EventFramer,
    filter: &mut impl EventFilter,
    sink: &mut ClientSink<'_, W>,
    idle_timeout: Duration,
) -> Result<(), StreamEnd> {
    let mut hung_up = std::pin::pin!(client_hung_up(sink.client_fd));
    // One idle timer for the whole stream, moved on only when it fires while the wait it
    // bounds began later: a timer per read cost a timer-wheel insert and removal per read.
    let mut idle = std::pin::pin!(monoio::time::sleep(idle_timeout));
    loop {
        let waiting_since = Instant::now();
        let next = {
            let mut read = std::pin::pin!(source.next_chunk());
            std::future::poll_fn(|cx| {
                if let Poll::Ready(next) = read.as_mut().poll(cx) {
                    return Poll::Ready(Waited::Read(next));
                }
                if hung_up.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Waited::HungUp);
                }
                while idle.as_mut().poll(cx).is_ready() {
                    let deadline = waiting_since + idle_timeout;
                    if deadline <= Instant::now() {
                        return Poll::Ready(Waited::Idle);
                    }
                    idle.as_mut().reset(deadline);
                }
                Poll::Pending
            })
            .await
        };
        let bytes = match next {
            Waited::Read(Ok(Some(bytes))) => bytes,
            Waited::Read(Ok(None)) => {
                return end_of_upstream(&framer, filter, sink, Outgoing::default()).await
            }
            Waited::Read(Err(error)) => return Err(StreamEnd::Broken(classify_body_error(&error))),
            Waited::HungUp => return Err(StreamEnd::ClientGone),
            Waited::Idle => return Err(StreamEnd::Broken(Failure::idle_timeout())),
        };
        let Some(events) = framer.push(bytes) else {
            continue;
        };
        let events = filter.filter(events)?;
        if deliver(&source, &framer, filter, sink, events).await? {
            return Ok(());
        }
    }
}

/// Writes a block of events that went through `filter`, and ends the stream after them
/// when that is all: with the body's end in the same write when the upstream's end was
/// read already (`Ok(true)`: complete), or with the upstream's in-band error (`Err`).
/// `Ok(false)`: the stream goes on.
pub async fn deliver<W: AsyncWriteRent>(
    source: &impl ChunkSource,
    framer: &EventFramer,
    filter: &mut impl EventFilter,
    sink: &mut ClientSink<'_, W>,
    events: Outgoing,
) -> Result<bool, StreamEnd> {
    if let Some(failure) = filter.take_failure() {
        sink.forward(events).await?;
        return Err(StreamEnd::Broken(failure));
    }
    if source.ended() {
        end_of_upstream(framer, filter, sink, events).await?;
        return Ok(true);
    }
    sink.forward(events).await?;
    Ok(false)
}

/// What ended a wait for the upstream's next bytes.
enum Waited {
    Read(Result<Option<Bytes>, BodyError>),
    HungUp,
    /// Silence past the idle timeout.
    Idle,
}

/// The upstream ended its body after `events`: complete after the stream said it finished
/// (with what the filter still owes the client, e.g. a missing `[DONE]`, and the body's
/// end), broken otherwise.
async fn end_of_upstream<W: AsyncWriteRent>(
    framer: &EventFramer,
    filter: &mut impl EventFilter,
    sink: &mut ClientSink<'_, W>,
    events: Outgoing,
) -> Result<(), StreamEnd> {
    if !filter.finished() || framer.has_partial_event() {
        sink.forward(events).await?;
        return Err(StreamEnd::Broken(Failure::closed_before_finish()));
    }
    sink.finish(events, filter.ending()).await
}

#[cfg(test)]
mod tests;
