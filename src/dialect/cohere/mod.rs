//! Cohere's v2 Chat API (`POST /v2/chat`): requests to and from chat (`request`), whole
//! answers and error bodies to and from chat's (`response`), and streams as pieces
//! (`stream`). Depends on `json` and the dialect hub only.

pub mod request;
pub mod response;
mod stream;

pub use stream::{EventDecoder, EventEncoder};

use simd_json::prelude::*;

use crate::json::push_json_string;

/// Cohere's error body: `{"message":…}`. Cohere adds its request `id`, which a gateway
/// error has none of; the SDKs keep the body as opaque JSON and branch on the status only.
pub fn error_body(_status: u16, message: &str) -> String {
    let mut body = String::with_capacity(message.len() + 16);
    body.push_str(r#"{"message":"#);
    push_json_string(&mut body, message);
    body.push('}');
    body
}

/// An error inside a stream, as Cohere reports one: the closing `message-end` with
/// `finish_reason` `ERROR` and the message in `delta.error` (the v2 stream has no error
/// event of its own). The status has no place in-band.
pub fn error_event(_status: u16, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 112);
    stream::error_end(&mut out, message);
    out
}

/// Cohere's `finish_reason` for chat's. Cohere has no content filter reason: `ERROR` is
/// the one that says the answer ended abnormally.
pub fn finish_to_cohere(chat_reason: &str) -> &'static str {
    match chat_reason {
        "length" => "MAX_TOKENS",
        "tool_calls" | "function_call" => "TOOL_CALL",
        "content_filter" => "ERROR",
        _ => "COMPLETE",
    }
}

/// Chat's `finish_reason` for Cohere's. `TIMEOUT` cut the answer short, as `length` does;
/// `ERROR` (and v1's `ERROR_TOXIC`) is the abnormal end chat calls `content_filter`.
pub fn finish_from_cohere(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" | "TIMEOUT" => "length",
        "TOOL_CALL" => "tool_calls",
        "ERROR" | "ERROR_TOXIC" => "content_filter",
        _ => "stop",
    }
}

/// `finish_to_cohere`, with `STOP_SEQUENCE` where chat's `stop` names the sequence.
fn finish_with_sequence(chat_reason: &str, stop_sequence: Option<&str>) -> &'static str {
    match chat_reason {
        "stop" if stop_sequence.is_some() => "STOP_SEQUENCE",
        reason => finish_to_cohere(reason),
    }
}

/// A token count of a `usage.tokens` or `usage.billed_units` object: the API documents
/// them as numbers that may be written as floats.
fn count<V>(bucket: &V, key: &str) -> Option<u64>
where
    V: ValueObjectAccessAsScalar,
    V::Key: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    bucket
        .get_u64(key)
        .or_else(|| bucket.get_f64(key).map(|n| n.max(0.0) as u64))
}

#[cfg(test)]
mod tests;
