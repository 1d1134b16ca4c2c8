//! Amazon Bedrock's Converse API: requests to and from chat (`request`), whole answers and
//! error bodies to and from chat's (`response`), and streams as pieces (`stream`). Its
//! streams are AWS event-stream frames (`crate::eventstream`), not SSE; its errors are an
//! HTTP status, `{"message": ...}` and the type in the `x-amzn-ErrorType` header.

pub mod request;
pub mod response;
mod stream;

pub use stream::{EventDecoder, EventEncoder};

use crate::eventstream::write_frame;
use crate::json::push_json_string;

/// Bedrock's error type (the `x-amzn-ErrorType` header) for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 413 | 415 | 422 => "ValidationException",
        401 | 403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 | 504 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        503 | 529 => "ServiceUnavailableException",
        _ => "InternalServerException",
    }
}

/// `{"message":...}`: the type goes in the `x-amzn-ErrorType` header (`error_type`).
pub fn error_body(_status: u16, message: &str) -> String {
    let mut body = String::with_capacity(message.len() + 16);
    body.push_str(r#"{"message":"#);
    push_json_string(&mut body, message);
    body.push('}');
    body
}

/// The same as an in-band exception frame, under the stream's exception names (the members
/// of `ConverseStreamOutput`).
pub fn error_event(status: u16, message: &str) -> Vec<u8> {
    let exception = match status {
        429 => "throttlingException",
        503 | 529 => "serviceUnavailableException",
        500 => "internalServerException",
        400..=499 => "validationException",
        _ => "modelStreamErrorException",
    };
    let mut out = Vec::new();
    exception_frame(&mut out, exception, message);
    out
}

fn exception_frame(out: &mut Vec<u8>, exception: &str, message: &str) {
    let headers = [
        (":exception-type", exception),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ];
    write_frame(out, &headers, error_body(0, message).as_bytes());
}

/// Bedrock's stop reason for chat's (`stop_sequence` is chosen where the stream or answer
/// names the sequence).
pub fn finish_to_bedrock(chat_reason: &str) -> &'static str {
    match chat_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "content_filtered",
        _ => "end_turn",
    }
}

pub fn finish_from_bedrock(reason: &str) -> &'static str {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "guardrail_intervened" | "content_filtered" => "content_filter",
        _ => "stop",
    }
}

/// An id for an answer: Converse answers carry none (only the `x-amzn-RequestId` header).
fn answer_id() -> String {
    format!("chatcmpl-bedrock-{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests;
