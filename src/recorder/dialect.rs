//! Which API shape the client was answered in, so that its answer is read the right way:
//! OpenAI chat/completions (and embeddings, rerank), Anthropic Messages, the Responses API,
//! Gemini, Bedrock Converse, or Cohere v2 chat.
//! A whole body is known by its record's `endpoint` (the ingress path). A stream's chunks
//! reach the logging thread before its record does, so a stream is known by its first
//! bytes instead (`stream`: Converse's binary frames, Gemini's JSON array) or its first
//! event: Anthropic, Responses and Cohere events name their `type`, Gemini's carry
//! `candidates` or `usageMetadata`, chat chunks neither.

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
    /// Gemini (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`).
    Gemini,
    /// Bedrock Converse (`/model/{modelId}/converse`, `/converse-stream`).
    Converse,
    /// Cohere v2 chat (`/v2/chat`).
    Cohere,
}

impl Dialect {
    pub(super) fn of_endpoint(endpoint: &str) -> Self {
        match endpoint {
            "/v1/messages" => Self::Messages,
            "/v1/responses" => Self::Responses,
            "/v2/chat" => Self::Cohere,
            _ if endpoint.starts_with("/v1beta/models/") => Self::Gemini,
            _ if endpoint.starts_with("/model/") => Self::Converse,
            _ => Self::Chat,
        }
    }

    /// The dialect a stream's JSON event is in (Converse's are binary frames, known before).
    /// Both dialects that type their events with `_` or `.` have an `error` event:
    /// Anthropic's wraps an `error` object, the Responses API's does not. Cohere's types
    /// are hyphenated.
    pub(super) fn of_event(event: &Value<'_, '_>) -> Self {
        let Some(kind) = event.get_str("type") else {
            let gemini = ["candidates", "usageMetadata", "promptFeedback"]
                .into_iter()
                .any(|key| event.get(key).is_some());
            return if gemini { Self::Gemini } else { Self::Chat };
        };
        let anthropic = kind.starts_with("message_")
            || kind.starts_with("content_block_")
            || kind == "ping"
            || (kind == "error" && event.get("error").is_some_and(|error| error.is_object()));
        let cohere = [
            "message-",
            "content-",
            "tool-plan-",
            "tool-call-",
            "citation-",
        ]
        .into_iter()
        .any(|prefix| kind.starts_with(prefix))
            || kind == "debug";
        if anthropic {
            Self::Messages
        } else if cohere {
            Self::Cohere
        } else if kind.starts_with("response.") || kind == "error" {
            Self::Responses
        } else {
            Self::Chat
        }
    }
}
