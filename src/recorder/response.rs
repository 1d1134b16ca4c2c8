//! Reading a non-streaming response body (the JSON as the client got it), in the dialect its
//! endpoint answers in; the OpenAI chat/completions reader (choice 0's text, reasoning, tool
//! calls and finish reason); and the readers every dialect shares: usage, error, text.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::dialect::Dialect;
use super::row::ResponseSummary;
use super::{anthropic, cohere, converse, gemini, responses};
use gpt_api_common::json;

/// A body that is not JSON gives an empty summary; it is flagged malformed only when the
/// status was 2xx, since a success is meant to be JSON while an error page may be anything.
pub(super) fn summarize_body(endpoint: &str, status: u16, body: &[u8]) -> ResponseSummary {
    let mut summary = ResponseSummary::default();
    if body.is_empty() {
        return summary;
    }
    let read = match Dialect::of_endpoint(endpoint) {
        Dialect::Chat => read_body,
        Dialect::Messages => anthropic::read_body,
        Dialect::Responses => responses::read_body,
        Dialect::Gemini => gemini::read_body,
        Dialect::Converse => converse::read_body,
        Dialect::Cohere => cohere::read_body,
    };
    let mut buffer = body.to_vec();
    if json::read(&mut buffer, |value| read(&value, &mut summary)).is_err() {
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

/// Token counts from a non-null `usage` object, in any dialect's names: OpenAI's
/// `prompt_tokens`/`completion_tokens`, or `input_tokens`/`output_tokens` (Responses API,
/// Anthropic; Anthropic's cache reads and writes are prompt tokens it counts apart).
pub(super) fn read_usage(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    let Some(usage) = value.get("usage").filter(|usage| usage.is_object()) else {
        return;
    };
    let tokens = |key: &str| usage.get_i64(key);
    let cached = || {
        ["cache_creation_input_tokens", "cache_read_input_tokens"]
            .into_iter()
            .filter_map(tokens)
            .sum::<i64>()
    };
    // Cached prompt tokens, priced apart: chat's and Responses' details, Anthropic's cache reads.
    let cached_tokens = ["prompt_tokens_details", "input_tokens_details"]
        .into_iter()
        .find_map(|details| usage.get(details)?.get_i64("cached_tokens"))
        .or_else(|| tokens("cache_read_input_tokens"));
    let counts = Usage {
        prompt: tokens("prompt_tokens").or_else(|| Some(tokens("input_tokens")? + cached())),
        completion: tokens("completion_tokens").or_else(|| tokens("output_tokens")),
        total: tokens("total_tokens"),
        cached: cached_tokens,
    };
    counts.record(summary);
}

/// Token counts as one usage report gives them, in the row's terms.
#[derive(Debug, Default)]
pub(super) struct Usage {
    pub prompt: Option<i64>,
    pub completion: Option<i64>,
    pub total: Option<i64>,
    /// Prompt tokens read from a cache (a part of `prompt`).
    pub cached: Option<i64>,
}

impl Usage {
    /// Each count given replaces the earlier one (streams report cumulative usage, some
    /// more than once); without a total, the total is the sum of the counts known.
    pub(super) fn record(self, summary: &mut ResponseSummary) {
        summary.prompt_tokens = self.prompt.or(summary.prompt_tokens);
        summary.completion_tokens = self.completion.or(summary.completion_tokens);
        summary.total_tokens = match self.total {
            Some(total) => Some(total),
            None if self.prompt.is_some() || self.completion.is_some() => {
                let known = [summary.prompt_tokens, summary.completion_tokens];
                Some(known.into_iter().flatten().sum())
            }
            None => summary.total_tokens,
        };
        summary.cached_tokens = self.cached.or(summary.cached_tokens);
    }
}

/// The message of an `{"error": {...}}` (or `{"error": "..."}`) object: OpenAI's error
/// body, Anthropic's (`{"type":"error","error":{...}}`), a failed Response's `error`.
pub(super) fn error_message(value: &Value<'_, '_>) -> Option<String> {
    let error = value.get("error").filter(|error| !error.is_null())?;
    let message = error.get_str("message").or_else(|| error.as_str());
    Some(message.map_or_else(|| error.encode(), str::to_owned))
}

/// The top-level `message` string of Converse's and Cohere's error bodies (`{"message":...}`);
/// their answers' `message` is an object, or absent.
pub(super) fn message_error(value: &Value<'_, '_>) -> Option<String> {
    value.get_str("message").map(str::to_owned)
}

/// `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter, Ollama).
pub(super) fn reasoning_text<'a>(holder: &'a Value<'_, '_>) -> Option<&'a str> {
    holder
        .get_str("reasoning_content")
        .or_else(|| holder.get_str("reasoning"))
}

/// Adds a piece to a text being rebuilt from its parts.
pub(super) fn append(text: &mut Option<String>, piece: &str) {
    text.get_or_insert_with(String::new).push_str(piece);
}

/// The entries of the array at `key`: none when it is missing or not an array.
pub(super) fn entries<'tape, 'input>(
    holder: &Value<'tape, 'input>,
    key: &str,
) -> impl Iterator<Item = Value<'tape, 'input>> {
    let array = holder.get(key).and_then(|value| value.as_array());
    array.map(|array| array.iter()).into_iter().flatten()
}
