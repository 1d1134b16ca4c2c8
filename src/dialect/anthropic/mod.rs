//! Anthropic's Messages API: requests to and from chat (`request`), whole answers and error
//! bodies to and from chat's (`response`), and streams as pieces (`stream`).

pub mod request;
pub mod response;
mod stream;

pub use stream::{EventDecoder, EventEncoder};

use crate::json::push_json_string;

/// Anthropic's `error.type` for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 | 405 | 415 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        _ => "api_error",
    }
}

/// `{"type":"error","error":{"type":…,"message":…}}`.
pub fn error_body(error_type: &str, message: &str) -> String {
    let mut body = String::with_capacity(message.len() + 64);
    body.push_str(r#"{"type":"error","error":{"type":"#);
    push_json_string(&mut body, error_type);
    body.push_str(r#","message":"#);
    push_json_string(&mut body, message);
    body.push_str("}}");
    body
}

/// The same as an in-band stream event.
pub fn error_event(error_type: &str, message: &str) -> String {
    format!(
        "event: error\ndata: {}\n\n",
        error_body(error_type, message)
    )
}
