//! Which API shape the client was answered in, so that its answer is read the right way:
//! OpenAI chat/completions (and embeddings, rerank), Anthropic Messages, or the Responses API.
//! A whole body is known by its record's `endpoint` (the ingress path). A stream's chunks
//! reach the logging thread before its record does, so a stream is known by its first
//! event instead: Anthropic and Responses events name their `type`, chat chunks do not.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// OpenAI chat/completions, completions, embeddings, rerank.
    Chat,
    /// Anthropic Messages (`/v1/messages`).
    Messages,
    /// OpenAI Responses API (`/v1/responses`).
    Responses,
}

impl Dialect {
    pub(super) fn of_endpoint(endpoint: &str) -> Self {
        match endpoint {
            "/v1/messages" => Self::Messages,
            "/v1/responses" => Self::Responses,
            _ => Self::Chat,
        }
    }

    /// The dialect a stream's event is in. Both dialects that type their events have an
    /// `error` event: Anthropic's wraps an `error` object, the Responses API's does not.
    pub(super) fn of_event(event: &Value<'_, '_>) -> Self {
        let Some(kind) = event.get_str("type") else {
            return Self::Chat;
        };
        let anthropic = kind.starts_with("message_")
            || kind.starts_with("content_block_")
            || kind == "ping"
            || (kind == "error" && event.get("error").is_some_and(|error| error.is_object()));
        if anthropic {
            Self::Messages
        } else if kind.starts_with("response.") || kind == "error" {
            Self::Responses
        } else {
            Self::Chat
        }
    }
}
