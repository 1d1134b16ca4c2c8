//! The client's side of a stream: writes whole events as chunks (the response head in front
//! of the first), and copies what was written to the logging thread by reference.

use std::os::fd::RawFd;

use bytes::Bytes;
use monoio::io::AsyncWriteRent;

use super::relay::StreamEnd;
use crate::http::response;
use crate::record::{RecordEvent, RecordSender, StreamId};

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

    pub async fn forward(&mut self, events: Bytes) -> Result<(), StreamEnd> {
        self.write(events, false).await
    }

    /// Writes the last events, `ending` after them (what the filter still owes, if
    /// anything), and the body's end, in one write: the stream is complete.
    pub async fn finish(&mut self, events: Bytes, ending: Option<Bytes>) -> Result<(), StreamEnd> {
        let Some(ending) = ending else {
            return self.write(events, true).await;
        };
        // Rare (an upstream that left out its end marker): one copy to keep one write.
        let mut all = Vec::with_capacity(events.len() + ending.len());
        all.extend_from_slice(&events);
        all.extend_from_slice(&ending);
        self.write(Bytes::from(all), true).await
    }

    async fn write(&mut self, events: Bytes, last: bool) -> Result<(), StreamEnd> {
        response::write_chunk(self.client, self.head.take(), events.clone(), last)
            .await
            .map_err(|_| StreamEnd::ClientGone)?;
        self.closed = last;
        if events.is_empty() {
            return Ok(());
        }
        self.sent_any = true;
        if self.keep_delivered {
            self.delivered.push(events.clone());
        }
        self.record_only(events);
        Ok(())
    }

    /// Ends the chunked body (unless `finish` did); whether it was written.
    pub async fn close(&mut self) -> bool {
        self.closed || response::write_last_chunk(self.client).await.is_ok()
    }
}
