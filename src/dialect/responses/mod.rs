//! OpenAI's Responses API (`POST /v1/responses`) to and from chat completions, so that a
//! Responses client reaches upstreams that only speak chat (or what chat translates to):
//! requests (`request`), whole answers and error bodies (`response`), streams as pieces
//! (`stream`). Responses' error body is chat's shape (`{"error":{message,type,param,code}}`).
//!
//! Depends on `json` and the dialect hub only.

pub mod request;
pub mod response;
mod stream;

pub use stream::{EventDecoder, EventEncoder};

use crate::json::push_json_string;

/// OpenAI's `error.type` for a gateway error of `status`.
pub fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

/// OpenAI's `error.code` for a gateway error of `status` (also the in-band event's `code`).
pub fn error_code(status: u16) -> &'static str {
    match status {
        401 => "invalid_api_key",
        404 => "not_found",
        429 => "rate_limit_exceeded",
        400..=499 => "invalid_request",
        _ => "server_error",
    }
}

/// `{"error":{"message":…,"type":…,"param":null,"code":…}}`.
pub fn error_body(status: u16, message: &str) -> String {
    let mut body = String::with_capacity(message.len() + 96);
    body.push_str(r#"{"error":{"message":"#);
    push_json_string(&mut body, message);
    body.push_str(r#","type":"#);
    push_json_string(&mut body, error_type(status));
    body.push_str(r#","param":null,"code":"#);
    push_json_string(&mut body, error_code(status));
    body.push_str("}}");
    body
}

/// The same as an in-band `error` event. Outside an encoder nothing counts the stream's
/// events, so its `sequence_number` is 0 (the SDK does not check the order).
pub fn error_event(status: u16, message: &str) -> Vec<u8> {
    stream::error_event(error_code(status), message, 0)
}

/// Why a Response is `incomplete` (`incomplete_details.reason`) for a chat finish reason;
/// `None`: the Response is `completed` (tool calls too: they are `function_call` items).
pub fn finish_to_responses(chat_reason: &str) -> Option<&'static str> {
    match chat_reason {
        "length" => Some("max_output_tokens"),
        "content_filter" => Some("content_filter"),
        _ => None,
    }
}

/// The chat finish reason for an incomplete Response's reason (`""` for a completed one).
/// A completed Response that holds `function_call` items finished with `tool_calls`: the
/// caller knows its items, this map does not.
pub fn finish_from_responses(incomplete_reason: &str) -> &'static str {
    match incomplete_reason {
        "max_output_tokens" => "length",
        "content_filter" => "content_filter",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests;
