//! The canonical stream event: what every dialect's stream says, one piece at a time, and
//! the decoders and encoders that turn a dialect's SSE events into pieces and back.

use super::{anthropic, chat, Dialect};

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
}

impl Decoder {
    /// `None` for a dialect that is never decoded (Responses passes through).
    pub fn new(dialect: Dialect) -> Option<Self> {
        match dialect {
            Dialect::Chat => Some(Self::Chat(chat::ChunkDecoder::default())),
            Dialect::Anthropic => Some(Self::Anthropic(anthropic::EventDecoder::default())),
            Dialect::Responses => None,
        }
    }

    /// Appends the pieces of one event's data payload; a payload that is not JSON adds none.
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<Piece>) {
        match self {
            Self::Chat(decoder) => decoder.decode(payload, out),
            Self::Anthropic(decoder) => decoder.decode(payload, out),
        }
    }
}

/// Writes pieces as one dialect's SSE events.
pub enum Encoder {
    Chat(chat::ChunkEncoder),
    Anthropic(anthropic::EventEncoder),
}

impl Encoder {
    /// `strip_usage`: a chat client that did not ask for the usage chunk gets it withheld
    /// (see `take_withheld`).
    pub fn new(dialect: Dialect, strip_usage: bool) -> Option<Self> {
        match dialect {
            Dialect::Chat => Some(Self::Chat(chat::ChunkEncoder::new(strip_usage))),
            Dialect::Anthropic => Some(Self::Anthropic(anthropic::EventEncoder::default())),
            Dialect::Responses => None,
        }
    }

    pub fn encode(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        match self {
            Self::Chat(encoder) => encoder.encode(piece, out),
            Self::Anthropic(encoder) => encoder.encode(piece, out),
        }
    }

    /// The events that end a stream whose upstream ended after its finish without its own
    /// end marker; `None` once the end went out.
    pub fn ending(&mut self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.encode(&Piece::Done, &mut out);
        (!out.is_empty()).then_some(out)
    }

    /// The usage event kept from a chat client that did not ask for it (still logged).
    pub fn take_withheld(&mut self) -> Option<Vec<u8>> {
        match self {
            Self::Chat(encoder) => encoder.take_withheld(),
            Self::Anthropic(_) => None,
        }
    }
}
