//! Reading a non-streaming response body (the JSON as the client got it), in the dialect its
//! endpoint answers in; the OpenAI chat/completions reader (choice 0's text, reasoning, tool
//! calls and finish reason); and the readers every dialect shares: usage, error, text.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::chat_scan::{self, ChoiceFields, Message};
use super::dialect::Dialect;
use super::row::ResponseSummary;
use super::{anthropic, cohere, converse, gemini, responses};
use gpt_api_common::json;

/// A body that is not JSON gives an empty summary; it is flagged malformed only when the
/// status was 2xx, since a success is meant to be JSON while an error page may be anything.
/// A chat body is scanned (`chat_scan`) unless it needs simd-json.
pub(super) fn summarize_body(endpoint: &str, status: u16, body: &[u8]) -> ResponseSummary {
    let mut summary = ResponseSummary::default();
    if body.is_empty() {
        return summary;
    }
    let dialect = Dialect::of_endpoint(endpoint);
    if dialect == Dialect::Chat {
        if let Some(fields) = chat_scan::scan(body, Message::Whole, None) {
            fields.answer_into(&mut summary);
            return summary;
        }
    }
    let read = match dialect {
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

pub(super) fn read_body(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    read_usage(value, summary);
    summary.error = error_message(value);
    let Some(choice) = value.get("choices").and_then(|choices| choices.get_idx(0)) else {
        return;
    };
    let message = choice.get("message");
    ChoiceFields::from_tape(&choice, message.as_ref()).answer_into(summary);
    let Some(message) = message else {
        return;
    };
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
    let cached = |details: &str| usage.get(details)?.get_i64("cached_tokens");
    let fields = UsageFields {
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
        total_tokens: tokens("total_tokens"),
        input_tokens: tokens("input_tokens"),
        output_tokens: tokens("output_tokens"),
        cache_creation_input_tokens: tokens("cache_creation_input_tokens"),
        cache_read_input_tokens: tokens("cache_read_input_tokens"),
        prompt_cached_tokens: cached("prompt_tokens_details"),
        input_cached_tokens: cached("input_tokens_details"),
    };
    fields.record(summary);
}

/// The counts a `usage` object may give, each a whole number, read by simd-json
/// (`read_usage`) or by the chat scan.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct UsageFields {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cache_creation_input_tokens: Option<i64>,
    pub cache_read_input_tokens: Option<i64>,
    /// `prompt_tokens_details.cached_tokens` (chat).
    pub prompt_cached_tokens: Option<i64>,
    /// `input_tokens_details.cached_tokens` (Responses API).
    pub input_cached_tokens: Option<i64>,
}

impl UsageFields {
    /// In the row's terms: OpenAI's `prompt_tokens`/`completion_tokens`, else
    /// `input_tokens`/`output_tokens` (Responses API, Anthropic; Anthropic's cache reads and
    /// writes are prompt tokens it counts apart).
    pub(super) fn record(&self, summary: &mut ResponseSummary) {
        let cached = || {
            [
                self.cache_creation_input_tokens,
                self.cache_read_input_tokens,
            ]
            .into_iter()
            .flatten()
            .sum::<i64>()
        };
        let counts = Usage {
            prompt: self
                .prompt_tokens
                .or_else(|| Some(self.input_tokens? + cached())),
            completion: self.completion_tokens.or(self.output_tokens),
            total: self.total_tokens,
            // Cached prompt tokens, priced apart: chat's and Responses' details, Anthropic's
            // cache reads.
            cached: self
                .prompt_cached_tokens
                .or(self.input_cached_tokens)
                .or(self.cache_read_input_tokens),
        };
        counts.record(summary);
    }
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
    // A stream's text comes a few bytes at a time: room for the first pieces saves the
    // reallocations of growing from 8 bytes up.
    const FIRST_CAPACITY: usize = 128;
    text.get_or_insert_with(|| String::with_capacity(FIRST_CAPACITY))
        .push_str(piece);
}

/// The entries of the array at `key`: none when it is missing or not an array.
pub(super) fn entries<'tape, 'input>(
    holder: &Value<'tape, 'input>,
    key: &str,
) -> impl Iterator<Item = Value<'tape, 'input>> {
    let array = holder.get(key).and_then(|value| value.as_array());
    array.map(|array| array.iter()).into_iter().flatten()
}
