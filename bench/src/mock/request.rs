//! Reads one HTTP/1.1 request from the connection buffer and decides what the mock answers.
//!
//! A stream's shape can be chosen per request with a path prefix, so that one mock serves every
//! scenario through any proxy: `/s/<chunks>/<interval_ms>/v1/chat/completions` (or any other
//! surface's path: `/v1/messages`, `/v1beta/models/{m}:streamGenerateContent`, `/v2/chat`,
//! `/model/{id}/converse-stream`).

use memchr::memmem;

/// Content deltas and the pause between them for one streamed answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamShape {
    pub chunks: usize,
    pub interval_ms: u64,
}

/// What the mock sends back.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Chat,
    ChatStream {
        shape: StreamShape,
        include_usage: bool,
    },
    /// Anthropic Messages, whole or streamed.
    Message,
    MessageStream {
        shape: StreamShape,
    },
    /// Gemini `generateContent`, or `streamGenerateContent?alt=sse`.
    Gemini,
    GeminiStream {
        shape: StreamShape,
    },
    /// Cohere v2 chat, whole or streamed.
    Cohere,
    CohereStream {
        shape: StreamShape,
    },
    /// Bedrock Converse, or `converse-stream` in AWS event-stream frames.
    Converse,
    ConverseStream {
        shape: StreamShape,
    },
    Embeddings,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

/// A parsed request: its reply, whether the client asked to close, and its length in the buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub reply: Reply,
    pub close: bool,
    pub length: usize,
}

pub enum Parsed {
    Complete(Request),
    /// More bytes are needed.
    Partial,
    /// Not HTTP: answer 400 and close.
    Invalid,
}

const MAX_HEADERS: usize = 64;
const MAX_CHUNKS: usize = 100_000;
const MAX_INTERVAL_MS: u64 = 60_000;

pub fn parse(buffer: &[u8], default_shape: StreamShape) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_length = match request.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Invalid,
    };
    let mut content_length = 0;
    let mut close = request.version == Some(0);
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let Some(length) = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            else {
                return Parsed::Invalid;
            };
            content_length = length;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Invalid; // proxies send request bodies with a length
        } else if header.name.eq_ignore_ascii_case("connection") {
            close = header.value.eq_ignore_ascii_case(b"close");
        }
    }
    let length = head_length + content_length;
    let Some(body) = buffer.get(head_length..length) else {
        return Parsed::Partial;
    };
    let reply = route(
        request.method.unwrap_or(""),
        request.path.unwrap_or(""),
        body,
        default_shape,
    );
    Parsed::Complete(Request {
        reply,
        close,
        length,
    })
}

fn route(method: &str, target: &str, body: &[u8], default_shape: StreamShape) -> Reply {
    let Some((shape, target)) = split_shape(target, default_shape) else {
        return Reply::BadRequest;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let stream = json_flag(body, b"\"stream\"");
    let reply = match path {
        "/v1/chat/completions" if stream => Reply::ChatStream {
            shape,
            include_usage: json_flag(body, b"\"include_usage\""),
        },
        "/v1/chat/completions" => Reply::Chat,
        "/v1/messages" if stream => Reply::MessageStream { shape },
        "/v1/messages" => Reply::Message,
        "/v1/embeddings" => Reply::Embeddings,
        "/v2/chat" if stream => Reply::CohereStream { shape },
        "/v2/chat" => Reply::Cohere,
        _ => match model_operation(path) {
            Some("generateContent") => Reply::Gemini,
            // Without `alt=sse` Gemini streams one JSON array, which this mock does not speak.
            Some("streamGenerateContent") if query.split('&').any(|p| p == "alt=sse") => {
                Reply::GeminiStream { shape }
            }
            Some("streamGenerateContent") => Reply::BadRequest,
            Some("converse") => Reply::Converse,
            Some("converse-stream") => Reply::ConverseStream { shape },
            _ => return Reply::NotFound,
        },
    };
    if method == "POST" {
        reply
    } else {
        Reply::MethodNotAllowed
    }
}

/// The operation of a path that names its model: Gemini's `/v1beta/models/{model}:{operation}`
/// or Bedrock's `/model/{model_id}/{operation}`. Any model is served.
fn model_operation(path: &str) -> Option<&str> {
    let (model, operation) = if let Some(rest) = path.strip_prefix("/v1beta/models/") {
        rest.rsplit_once(':')?
    } else {
        path.strip_prefix("/model/")?.rsplit_once('/')?
    };
    (!model.is_empty() && !model.contains('/')).then_some(operation)
}

/// Strips an optional `/s/<chunks>/<interval_ms>` prefix; `None` when it is malformed.
fn split_shape(path: &str, default_shape: StreamShape) -> Option<(StreamShape, &str)> {
    let Some(rest) = path.strip_prefix("/s/") else {
        return Some((default_shape, path));
    };
    let mut parts = rest.splitn(3, '/');
    let chunks: usize = parts.next()?.parse().ok()?;
    let interval_ms: u64 = parts.next()?.parse().ok()?;
    let tail = parts.next()?;
    if chunks > MAX_CHUNKS || interval_ms > MAX_INTERVAL_MS {
        return None;
    }
    // `tail` lost its leading slash to the split; it is still inside `path`.
    let path = &path[path.len() - tail.len() - 1..];
    Some((
        StreamShape {
            chunks,
            interval_ms,
        },
        path,
    ))
}

/// Whether `"key": true` occurs in the body: enough JSON for a mock, no parse on the hot path.
fn json_flag(body: &[u8], key: &[u8]) -> bool {
    memmem::find_iter(body, key).any(|at| {
        let rest = body[at + key.len()..].trim_ascii_start();
        rest.strip_prefix(b":")
            .is_some_and(|value| value.trim_ascii_start().starts_with(b"true"))
    })
}

#[cfg(test)]
mod tests;
