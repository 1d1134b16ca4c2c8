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

pub use piece::{Decoder, Encoder, Piece};

/// The protocol a body or a stream is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI chat completions (and its siblings: completions, embeddings, rerank).
    Chat,
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Responses: passed through, never translated.
    Responses,
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
mod tests;
