//! The translating filter: a stream from a target of another dialect, decoded into pieces
//! and encoded again in the client's dialect, event by event. Only cross-dialect streams
//! come here; this is where their extra CPU goes (see the bench's translated-stream step).

use std::ops::ControlFlow;

use bytes::Bytes;

use super::relay::{EventFilter, StreamEnd};
use super::sink::Outgoing;
use super::sse;
use crate::dialect::{Decoder, Dialect, Encoder, Framing, Piece};
use crate::dispatch::Failure;

pub struct Translator {
    decoder: Decoder,
    /// How the upstream's events are cut.
    framing: Framing,
    /// The model the target was asked for: the answer's model where its stream names none
    /// (Converse, Cohere).
    upstream_model: String,
    encoder: Encoder,
    finished: bool,
    failure: Option<Failure>,
    /// Reused between calls: decoded pieces of the events at hand.
    pieces: Vec<Piece>,
}

impl Translator {
    /// `client_framing`: how the client reads the stream (see `Prepared::client_framing`).
    pub fn new(
        upstream: Dialect,
        upstream_model: &str,
        client: Dialect,
        strip_usage: bool,
        client_framing: Framing,
    ) -> Self {
        Self {
            decoder: Decoder::new(upstream),
            framing: upstream.framing(),
            upstream_model: upstream_model.to_string(),
            encoder: Encoder::new(client, strip_usage, client_framing),
            finished: false,
            failure: None,
            pieces: Vec::new(),
        }
    }
}

/// Decodes a block of whole events, framed by `framing`, into pieces.
pub fn decode_events(decoder: &mut Decoder, framing: Framing, block: &[u8], out: &mut Vec<Piece>) {
    sse::each_payload(framing, block, |_, _, payload| {
        decoder.decode(payload, out);
        ControlFlow::Continue(())
    });
}

impl EventFilter for Translator {
    fn filter(&mut self, events: Bytes) -> Result<Outgoing, StreamEnd> {
        self.pieces.clear();
        decode_events(&mut self.decoder, self.framing, &events, &mut self.pieces);
        let mut out = Vec::with_capacity(events.len() + 64);
        for piece in &mut self.pieces {
            match piece {
                Piece::Error(message) => {
                    self.failure = Some(Failure::error_event(message));
                    break;
                }
                Piece::Start { model, .. } if model.is_empty() => {
                    model.clone_from(&self.upstream_model);
                }
                _ => {}
            }
            self.finished |= matches!(piece, Piece::Finish { .. } | Piece::Done);
            self.encoder.encode(piece, &mut out);
        }
        Ok(Bytes::from(out).into())
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
