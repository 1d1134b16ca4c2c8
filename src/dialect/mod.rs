//! The API dialects the gateway speaks beside OpenAI chat completions, and the translation
//! between them. Pure code over bytes and JSON values: no sockets, no routing. OpenAI chat is
//! the hub: a request in one dialect is translated to chat or from chat, and a stream is
//! decoded into `Piece`s (the canonical stream event) and encoded again in the client's
//! dialect. Same-dialect traffic never comes here: it is forwarded untouched.
//!
//! Depends on `json`, `eventstream` (Bedrock's framing) and `error` only; the handler picks
//! which translation a target needs.

pub mod anthropic;
pub mod bedrock;
pub mod chat;
pub mod cohere;
pub mod gemini;
mod piece;
pub mod responses;
mod value;

pub use piece::{Decoder, Encoder, Piece};

/// The protocol a body or a stream is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI chat completions (and its siblings: completions, embeddings, rerank).
    Chat,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses.
    Responses,
    /// Google's Gemini `generateContent`.
    Gemini,
    /// AWS Bedrock's Converse.
    Converse,
    /// Cohere's v2 chat.
    Cohere,
}

/// How a dialect's stream is cut into events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Server-sent events (`data:` lines, blank-line separated).
    Sse,
    /// AWS's binary event stream (length-prefixed frames with headers and CRCs): Converse.
    EventStream,
    /// One JSON array whose elements come one at a time: Gemini's stream without `alt=sse`
    /// (written to clients only; the gateway asks Gemini for SSE).
    JsonArray,
}

impl Dialect {
    /// How this dialect's streams are framed when the gateway reads them.
    pub fn framing(self) -> Framing {
        match self {
            Self::Converse => Framing::EventStream,
            _ => Framing::Sse,
        }
    }

    /// A request in this dialect as a request in `into`, through chat (the hub). `model`
    /// and `stream` are the request's own (Gemini and Converse carry them in the URL).
    pub fn translate_request(
        self,
        into: Dialect,
        body: &[u8],
        model: &str,
        stream: bool,
    ) -> Result<Vec<u8>, Untranslatable> {
        let chat = match self {
            Self::Chat => body.to_vec(),
            Self::Anthropic => anthropic::request::to_chat(body)?,
            Self::Responses => responses::request::to_chat(body, model, stream)?,
            Self::Gemini => gemini::request::to_chat(body, model, stream)?,
            Self::Converse => bedrock::request::to_chat(body, model, stream)?,
            Self::Cohere => cohere::request::to_chat(body, model, stream)?,
        };
        match into {
            Self::Chat => Ok(chat),
            Self::Anthropic => anthropic::request::from_chat(&chat),
            Self::Responses => responses::request::from_chat(&chat),
            Self::Gemini => gemini::request::from_chat(&chat),
            Self::Converse => bedrock::request::from_chat(&chat),
            Self::Cohere => cohere::request::from_chat(&chat),
        }
    }

    /// A successful whole answer in this dialect as one in `into`; `None` when it is not
    /// an answer of this dialect (it then goes as it is).
    pub fn translate_answer(self, into: Dialect, body: &[u8], model: &str) -> Option<Vec<u8>> {
        let chat = match self {
            Self::Chat => body.to_vec(),
            Self::Anthropic => anthropic::response::message_to_chat(body)?,
            Self::Responses => responses::response::answer_to_chat(body, model)?,
            Self::Gemini => gemini::response::answer_to_chat(body, model)?,
            Self::Converse => bedrock::response::answer_to_chat(body, model)?,
            Self::Cohere => cohere::response::answer_to_chat(body, model)?,
        };
        match into {
            Self::Chat => Some(chat),
            Self::Anthropic => anthropic::response::message_from_chat(&chat),
            Self::Responses => responses::response::answer_from_chat(&chat),
            Self::Gemini => gemini::response::answer_from_chat(&chat),
            Self::Converse => bedrock::response::answer_from_chat(&chat),
            Self::Cohere => cohere::response::answer_from_chat(&chat),
        }
    }

    /// An upstream's error body in this dialect as one in `into`.
    pub fn translate_error(self, into: Dialect, status: u16, body: &[u8]) -> Vec<u8> {
        let chat = match self {
            Self::Chat | Self::Responses => body.to_vec(),
            Self::Anthropic => anthropic::response::error_to_chat(body),
            Self::Gemini => gemini::response::error_to_chat(body),
            Self::Converse => bedrock::response::error_to_chat(body),
            Self::Cohere => cohere::response::error_to_chat(body),
        };
        match into {
            Self::Chat | Self::Responses => chat,
            Self::Anthropic => anthropic::response::error_from_chat(status, &chat),
            Self::Gemini => gemini::response::error_from_chat(status, &chat),
            Self::Converse => bedrock::response::error_from_chat(status, &chat),
            Self::Cohere => cohere::response::error_from_chat(status, &chat),
        }
    }
}

/// A request that cannot be translated: the message says which field and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable(pub String);

/// The stop reason in chat's vocabulary for Anthropic's, and back.
pub fn finish_to_anthropic(reason: &str, stop_sequence: Option<&str>) -> &'static str {
    match reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        "stop" if stop_sequence.is_some() => "stop_sequence",
        _ => "end_turn",
    }
}

pub fn finish_from_anthropic(reason: &str) -> &'static str {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
