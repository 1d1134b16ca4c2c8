//! Gemini answers (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`): a
//! `GenerateContentResponse` whole, or one per stream chunk (SSE events, or the entries of
//! the JSON array Gemini streams without `alt=sse`). Candidate 0's text parts make the
//! content, its `thought` parts the reasoning, its `functionCall` parts the tool calls in
//! OpenAI's shape (each streamed whole; arguments: the JSON text of `args`). `finishReason`
//! (or a blocked prompt's `blockReason`) is the finish reason, verbatim.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::response::{append, entries, error_message, Usage};
use super::row::ResponseSummary;
use super::tool_calls::{fill_once, ToolCalls};

/// A `GenerateContentResponse`, or an error body (`{"error":{"code","message","status"}}`).
pub(super) fn read_body(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    let mut response = GeminiStream::default();
    response.apply(value);
    *summary = response.finish();
}

/// One Gemini stream's chunks so far; a whole body is a stream of one chunk.
#[derive(Debug, Default)]
pub(super) struct GeminiStream {
    summary: ResponseSummary,
    tool_calls: ToolCalls,
    /// `functionCall` parts seen: each is a whole call, so this is the next one's index.
    calls: u64,
}

impl GeminiStream {
    pub(super) fn apply(&mut self, response: &Value<'_, '_>) {
        read_usage_metadata(response, &mut self.summary);
        if self.summary.error.is_none() {
            self.summary.error = error_message(response);
        }
        let blocked = response
            .get("promptFeedback")
            .and_then(|feedback| feedback.get_str("blockReason").map(str::to_owned));
        if blocked.is_some() {
            self.summary.finish_reason = blocked;
        }
        for (position, candidate) in entries(response, "candidates").enumerate() {
            if candidate.get_u64("index").unwrap_or(position as u64) == 0 {
                self.read_candidate(&candidate);
            }
        }
    }

    fn read_candidate(&mut self, candidate: &Value<'_, '_>) {
        if let Some(reason) = candidate.get_str("finishReason") {
            self.summary.finish_reason = Some(reason.to_owned());
        }
        let Some(content) = candidate.get("content") else {
            return;
        };
        for part in entries(&content, "parts") {
            if let Some(text) = part.get_str("text") {
                let thought = part.get_bool("thought") == Some(true);
                let target = if thought {
                    &mut self.summary.reasoning
                } else {
                    &mut self.summary.content
                };
                append(target, text);
            }
            if let Some(call) = part.get("functionCall") {
                let parts = self.tool_calls.at(self.calls);
                self.calls += 1;
                fill_once(&mut parts.id, call.get_str("id"));
                fill_once(&mut parts.name, call.get_str("name"));
                parts.arguments = call
                    .get("args")
                    .filter(|args| args.is_object())
                    .map_or_else(|| "{}".to_owned(), |args| args.encode());
            }
        }
    }

    pub(super) fn finish(self) -> ResponseSummary {
        let mut summary = self.summary;
        summary.tool_calls = self.tool_calls.into_json();
        summary
    }
}

/// `usageMetadata`: the prompt counts tool results' tokens (`toolUsePromptTokenCount`),
/// the completion the thinking tokens (`thoughtsTokenCount`), both billed as such; the
/// cached count is a part of the prompt. Each chunk's counts are cumulative.
fn read_usage_metadata(response: &Value<'_, '_>, summary: &mut ResponseSummary) {
    let Some(usage) = response
        .get("usageMetadata")
        .filter(|usage| usage.is_object())
    else {
        return;
    };
    let count = |key: &str| usage.get_i64(key);
    let sum = |first: &str, second: &str| match (count(first), count(second)) {
        (None, None) => None,
        (first, second) => Some(first.unwrap_or(0) + second.unwrap_or(0)),
    };
    let counts = Usage {
        prompt: sum("promptTokenCount", "toolUsePromptTokenCount"),
        completion: sum("candidatesTokenCount", "thoughtsTokenCount"),
        total: count("totalTokenCount"),
        cached: count("cachedContentTokenCount"),
    };
    counts.record(summary);
}
