//! The translating filter: a stream from a target of the other dialect, decoded into pieces
//! and encoded again in the client's dialect, event by event. Only cross-dialect streams
//! come here; this is where their extra CPU goes (see the bench's translated-stream step).

use bytes::Bytes;

use super::relay::{EventFilter, StreamEnd};
use super::sse;
use crate::dialect::{Decoder, Dialect, Encoder, Piece};
use crate::dispatch::Failure;

pub struct Translator {
    decoder: Decoder,
    encoder: Encoder,
    finished: bool,
    failure: Option<Failure>,
    /// Reused between calls: decoded pieces of the events at hand.
    pieces: Vec<Piece>,
}

impl Translator {
    /// `None` for a pair that is not translated (either side is Responses).
    pub fn new(upstream: Dialect, client: Dialect, strip_usage: bool) -> Option<Self> {
        Some(Self {
            decoder: Decoder::new(upstream)?,
            encoder: Encoder::new(client, strip_usage)?,
            finished: false,
            failure: None,
            pieces: Vec::new(),
        })
    }
}

/// Decodes a block of whole events into pieces.
pub fn decode_events(decoder: &mut Decoder, block: &[u8], out: &mut Vec<Piece>) {
    for event in sse::events(block) {
        if let Some(payload) = sse::data(event) {
            decoder.decode(&payload, out);
        }
    }
}

impl EventFilter for Translator {
    fn filter(&mut self, events: Bytes) -> Result<Bytes, StreamEnd> {
        self.pieces.clear();
        decode_events(&mut self.decoder, &events, &mut self.pieces);
        let mut out = Vec::with_capacity(events.len() + 64);
        for piece in &self.pieces {
            if let Piece::Error(message) = piece {
                self.failure = Some(Failure::error_event(message));
                break;
            }
            self.finished |= matches!(piece, Piece::Finish { .. } | Piece::Done);
            self.encoder.encode(piece, &mut out);
        }
        Ok(Bytes::from(out))
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn ending(&mut self) -> Option<Bytes> {
        self.encoder.ending().map(Bytes::from)
    }

    fn take_withheld(&mut self) -> Option<Bytes> {
        self.encoder.take_withheld().map(Bytes::from)
    }

    fn take_failure(&mut self) -> Option<Failure> {
        self.failure.take()
    }
}
