//! The client's side of a stream: writes whole events as chunks (the response head in front
//! of the first), and copies what was written to the logging thread by reference.

use std::os::fd::RawFd;

use bytes::Bytes;
use monoio::io::AsyncWriteRent;

use super::relay::StreamEnd;
use crate::http::response;
use crate::record::{RecordEvent, RecordSender, StreamId};

/// Whole events on their way to the client: one piece, or two when an event was cut from the
/// middle of a block (both go out in one write, so the cut copies nothing).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outgoing([Bytes; 2]);

impl Outgoing {
    /// The events before and after a cut (either may be empty: then it is one piece).
    pub fn around(before: Bytes, after: Bytes) -> Self {
        match before.is_empty() {
            true => Self([after, Bytes::new()]),
            false => Self([before, after]),
        }
    }

    /// The pieces that hold bytes, in order.
    pub fn pieces(&self) -> impl Iterator<Item = &Bytes> {
        self.0.iter().filter(|piece| !piece.is_empty())
    }
}

impl From<Bytes> for Outgoing {
    fn from(events: Bytes) -> Self {
        Self([events, Bytes::new()])
    }
}

pub struct ClientSink<'c, W> {
    client: &'c mut W,
    /// The client's descriptor, to notice a hang-up while the upstream is silent.
    pub client_fd: Option<RawFd>,
    records: RecordSender,
    stream_id: StreamId,
    /// The response head, until it goes out in front of the first events.
    head: Option<Bytes>,
    /// Whether to keep what was delivered, for a continuation.
    keep_delivered: bool,
    delivered: Vec<Bytes>,
    /// Whether any event went out (a JSON array's `[` goes with its first element).
    sent_any: bool,
    /// Whether the body's end went out (with the last events).
    closed: bool,
}

impl<'c, W: AsyncWriteRent> ClientSink<'c, W> {
    pub fn new(
        client: &'c mut W,
        client_fd: Option<RawFd>,
        records: RecordSender,
        stream_id: StreamId,
        head: Bytes,
        keep_delivered: bool,
    ) -> Self {
        Self {
            client,
            client_fd,
            records,
            stream_id,
            head: Some(head),
            keep_delivered,
            delivered: Vec::new(),
            sent_any: false,
            closed: false,
        }
    }

    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// Whether what was delivered is kept, so a break can be continued.
    pub fn can_recover(&self) -> bool {
        self.keep_delivered
    }

    /// Whether any event reached the client (besides the head).
    pub fn sent_any(&self) -> bool {
        self.sent_any
    }

    /// Everything delivered so far (kept only when the stream can be continued).
    pub fn delivered(&self) -> &[Bytes] {
        &self.delivered
    }

    /// Bytes the logging thread should see although the client does not.
    pub fn record_only(&self, bytes: Bytes) {
        let stream = self.stream_id;
        self.records
            .send(RecordEvent::StreamChunk { stream, bytes });
    }

    pub async fn forward(&mut self, events: impl Into<Outgoing>) -> Result<(), StreamEnd> {
        self.write(events.into(), Bytes::new(), false).await
    }

    /// Writes the last events, `ending` after them (what the filter still owes, if
    /// anything), and the body's end, in one write: the stream is complete.
    pub async fn finish(
        &mut self,
        events: Outgoing,
        ending: Option<Bytes>,
    ) -> Result<(), StreamEnd> {
        self.write(events, ending.unwrap_or_default(), true).await
    }

    /// Writes `events` then `ending` as one chunk.
    async fn write(
        &mut self,
        events: Outgoing,
        ending: Bytes,
        last: bool,
    ) -> Result<(), StreamEnd> {
        let Outgoing([first, second]) = events;
        let head = self.head.take();
        if second.is_empty() && ending.is_empty() {
            // The usual chunk: one piece.
            response::write_chunk(self.client, head, first.clone(), last)
                .await
                .map_err(|_| StreamEnd::ClientGone)?;
            self.closed = last;
            self.delivered_piece(first);
            return Ok(());
        }
        let pieces = [first, second, ending];
        response::write_chunk_pieces(self.client, head, pieces.clone(), last)
            .await
            .map_err(|_| StreamEnd::ClientGone)?;
        self.closed = last;
        for piece in pieces {
            self.delivered_piece(piece);
        }
        Ok(())
    }

    /// Bytes that reached the client: kept for a continuation, and sent to the logging thread
    /// as they are.
    fn delivered_piece(&mut self, piece: Bytes) {
        if piece.is_empty() {
            return;
        }
        self.sent_any = true;
        if self.keep_delivered {
            self.delivered.push(piece.clone());
        }
        self.record_only(piece);
    }

    /// Ends the chunked body (unless `finish` did); whether it was written.
    pub async fn close(&mut self) -> bool {
        self.closed || response::write_last_chunk(self.client).await.is_ok()
    }
}
