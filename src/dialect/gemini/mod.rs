//! Google Gemini's generateContent API (v1beta): requests to and from chat (`request`), whole
//! answers and error bodies to and from chat's (`response`), and streams as pieces (`stream`).
//! Gemini carries the model and whether to stream in the URL, not the body.

pub mod request;
pub mod response;
mod stream;

pub use stream::{array_close, array_element, EventDecoder, EventEncoder};

use crate::json::push_json_string;

/// Google's `error.status` (the google.rpc code name) for an HTTP status.
pub fn error_status(status: u16) -> &'static str {
    match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        400..=499 => "INVALID_ARGUMENT",
        _ => "INTERNAL",
    }
}

/// `{"error":{"code":…,"message":…,"status":…}}`.
pub fn error_body(status: u16, message: &str) -> String {
    let mut body = String::with_capacity(message.len() + 64);
    body.push_str(r#"{"error":{"code":"#);
    body.push_str(&status.to_string());
    body.push_str(r#","message":"#);
    push_json_string(&mut body, message);
    body.push_str(r#","status":""#);
    body.push_str(error_status(status));
    body.push_str("\"}}");
    body
}

/// The same as an in-band SSE event (`?alt=sse`); a JSON-array stream takes `error_body`
/// through `array_element` instead.
pub fn error_event(status: u16, message: &str) -> Vec<u8> {
    format!("data: {}\r\n\r\n", error_body(status, message)).into_bytes()
}

/// Gemini's `finishReason` for chat's. A tool call ends with `STOP` in Gemini: the calls in
/// the content say what chat's `tool_calls` says.
pub fn finish_to_gemini(chat_reason: &str) -> &'static str {
    match chat_reason {
        "length" => "MAX_TOKENS",
        "content_filter" => "SAFETY",
        _ => "STOP",
    }
}

/// Chat's finish reason for Gemini's (`STOP` with function calls is turned into
/// `tool_calls` by the callers, which see the parts).
pub fn finish_from_gemini(reason: &str) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ => "stop",
    }
}

/// The chat id of a function call that came without one: unique per answer (its
/// `responseId`) and per call.
fn call_id(response_id: &str, call: usize) -> String {
    if response_id.is_empty() {
        format!("call_{call}")
    } else {
        format!("call_{response_id}_{call}")
    }
}

#[cfg(test)]
mod tests;
