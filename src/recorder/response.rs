//! Reading a non-streaming response body (the upstream's JSON as the client got it):
//! usage for every endpoint, and choice 0's text, reasoning, tool calls and finish reason.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::row::ResponseSummary;
use gpt_api_common::json;

/// A body that is not JSON gives an empty summary; it is flagged malformed only when the
/// status was 2xx, since a success is meant to be JSON while an error page may be anything.
pub(super) fn summarize_body(status: u16, body: &[u8]) -> ResponseSummary {
    let mut summary = ResponseSummary::default();
    if body.is_empty() {
        return summary;
    }
    let mut buffer = body.to_vec();
    if json::read(&mut buffer, |value| read_body(&value, &mut summary)).is_err() {
        summary.malformed = (200..300).contains(&status);
    }
    summary
}

fn read_body(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    read_usage(value, summary);
    summary.error = error_message(value);
    let Some(choice) = value.get("choices").and_then(|choices| choices.get_idx(0)) else {
        return;
    };
    summary.finish_reason = choice.get_str("finish_reason").map(str::to_owned);
    if let Some(text) = choice.get_str("text") {
        summary.content = Some(text.to_owned());
    }
    let Some(message) = choice.get("message") else {
        return;
    };
    if let Some(content) = message.get_str("content") {
        summary.content = Some(content.to_owned());
    }
    summary.reasoning = reasoning_text(&message).map(str::to_owned);
    summary.tool_calls = message
        .get("tool_calls")
        .filter(|calls| calls.as_array().is_some_and(|calls| !calls.is_empty()))
        .map(|calls| calls.encode());
}

/// Token counts from a non-null `usage` object; a later usage replaces an earlier one.
pub(super) fn read_usage(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    let Some(usage) = value.get("usage").filter(|usage| usage.is_object()) else {
        return;
    };
    let tokens = |key: &str| usage.get_i64(key);
    summary.prompt_tokens = tokens("prompt_tokens").or(summary.prompt_tokens);
    summary.completion_tokens = tokens("completion_tokens").or(summary.completion_tokens);
    summary.total_tokens = tokens("total_tokens").or(summary.total_tokens);
    let cached = usage
        .get("prompt_tokens_details")
        .and_then(|details| details.get_i64("cached_tokens"));
    summary.cached_tokens = cached.or(summary.cached_tokens);
}

/// The message of an OpenAI-shaped `{"error": {...}}` (or `{"error": "..."}`) object.
pub(super) fn error_message(value: &Value<'_, '_>) -> Option<String> {
    let error = value.get("error")?;
    let message = error.get_str("message").or_else(|| error.as_str());
    Some(message.map_or_else(|| error.encode(), str::to_owned))
}

/// `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter, Ollama).
pub(super) fn reasoning_text<'a>(holder: &'a Value<'_, '_>) -> Option<&'a str> {
    holder
        .get_str("reasoning_content")
        .or_else(|| holder.get_str("reasoning"))
}
