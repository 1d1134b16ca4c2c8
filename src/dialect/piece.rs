//! The canonical stream event: what every dialect's stream says, one piece at a time, and
//! the decoders and encoders that turn a dialect's SSE events into pieces and back.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::{anthropic, bedrock, chat, cohere, gemini, responses, Dialect, Framing};

/// One thing a stream said.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// The answer's identity, from its first event.
    Start {
        id: String,
        model: String,
        created: u64,
        input_tokens: Option<u64>,
    },
    Text(String),
    Reasoning(String),
    /// A piece of tool call `index` (0, 1, ... in the order the calls started): the id and
    /// name with its first piece, then fragments of its JSON arguments.
    ToolCall {
        index: usize,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// The stop reason in chat's vocabulary (`stop`, `length`, `tool_calls`, ...), and the
    /// stop sequence that ended it, when the upstream says.
    Finish {
        reason: String,
        stop_sequence: Option<String>,
    },
    Usage {
        input: u64,
        output: u64,
    },
    /// The upstream reported an error in-band.
    Error(String),
    /// The stream's own end marker (`[DONE]`, `message_stop`).
    Done,
}

/// Reads one dialect's SSE events (their `data:` payloads) into pieces.
pub enum Decoder {
    Chat(chat::ChunkDecoder),
    Anthropic(anthropic::EventDecoder),
    Responses(responses::EventDecoder),
    Gemini(gemini::EventDecoder),
    Converse(bedrock::EventDecoder),
    Cohere(cohere::EventDecoder),
}

impl Decoder {
    pub fn new(dialect: Dialect) -> Self {
        match dialect {
            Dialect::Chat => Self::Chat(chat::ChunkDecoder::default()),
            Dialect::Anthropic => Self::Anthropic(anthropic::EventDecoder::default()),
            Dialect::Responses => Self::Responses(responses::EventDecoder::default()),
            Dialect::Gemini => Self::Gemini(gemini::EventDecoder::default()),
            Dialect::Converse => Self::Converse(bedrock::EventDecoder::default()),
            Dialect::Cohere => Self::Cohere(cohere::EventDecoder::default()),
        }
    }

    /// Appends the pieces of one event: its data payload (SSE), or the whole frame (an AWS
    /// event stream); a payload that is not JSON adds none.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<Piece>) {
        match self {
            Self::Chat(decoder) => decoder.decode(payload, out),
            Self::Anthropic(decoder) => decoder.decode(payload, out),
            Self::Responses(decoder) => decoder.decode(payload, out),
            Self::Gemini(decoder) => decoder.decode(payload, out),
            Self::Converse(decoder) => decoder.decode(payload, out),
            Self::Cohere(decoder) => decoder.decode(payload, out),
        }
    }
}

/// Writes pieces as one dialect's SSE events.
pub enum Encoder {
    Chat(chat::ChunkEncoder),
    Anthropic(anthropic::EventEncoder),
    Responses(responses::EventEncoder),
    Gemini(gemini::EventEncoder),
    Converse(bedrock::EventEncoder),
    Cohere(cohere::EventEncoder),
}

impl Encoder {
    /// `strip_usage`: a chat client that did not ask for the usage chunk gets it withheld
    /// (see `take_withheld`). `framing`: how the client reads the stream (Gemini's clients
    /// choose SSE or a JSON array).
    pub fn new(dialect: Dialect, strip_usage: bool, framing: Framing) -> Self {
        match dialect {
            Dialect::Chat => Self::Chat(chat::ChunkEncoder::new(strip_usage)),
            Dialect::Anthropic => Self::Anthropic(anthropic::EventEncoder::default()),
            Dialect::Responses => Self::Responses(responses::EventEncoder::default()),
            Dialect::Gemini => {
                Self::Gemini(gemini::EventEncoder::new(framing == Framing::JsonArray))
            }
            Dialect::Converse => Self::Converse(bedrock::EventEncoder::default()),
            Dialect::Cohere => Self::Cohere(cohere::EventEncoder::default()),
        }
    }

    pub fn encode(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        match self {
            Self::Chat(encoder) => encoder.encode(piece, out),
            Self::Anthropic(encoder) => encoder.encode(piece, out),
            Self::Responses(encoder) => encoder.encode(piece, out),
            Self::Gemini(encoder) => encoder.encode(piece, out),
            Self::Converse(encoder) => encoder.encode(piece, out),
            Self::Cohere(encoder) => encoder.encode(piece, out),
        }
    }

    /// The events that end a stream whose upstream ended after its finish without its own
    /// end marker; `None` once the end went out.
    pub fn ending(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.encode(&Piece::Done, &mut out);
        (!out.is_empty()).then_some(out)
    }

    /// The client already received part of the stream (see `gemini::EventEncoder::array_opened`).
    pub fn delivered_some(&mut self) {
        if let Self::Gemini(encoder) = self {
            encoder.array_opened();
        }
    }

    /// The usage event kept from a chat client that did not ask for it (still logged).
    pub fn take_withheld(&mut self) -> Option<Vec<u8>> {
        match self {
            Self::Chat(encoder) => encoder.take_withheld(),
            _ => None,
        }
    }
}

/// Pushes `piece(text)` when there is text: an empty delta says nothing.
pub(super) fn push_text(out: &mut Vec<Piece>, piece: fn(String) -> Piece, text: Option<&str>) {
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        out.push(piece(text.to_string()));
    }
}

/// The string at `key` of an event's object, empty where there is none.
pub(super) fn text_of(holder: Option<&Value<'_, '_>>, key: &str) -> String {
    holder
        .and_then(|h| h.get_str(key))
        .unwrap_or_default()
        .to_string()
}
