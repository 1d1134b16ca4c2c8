//! One `request_logs` row: built from a worker's `RequestRecord` plus what the logging
//! thread read from the response, and the form the spill file stores (one JSON line each).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use gpt_api_common::json::{push_json_string, push_json_strings, push_thousandths};
use gpt_api_common::limits::Price;
use gpt_api_common::record::{AttemptRecord, RequestRecord};
use gpt_api_common::time::push_utc;

/// What the logging thread learnt from a response body or a stream's events, the same
/// columns whichever dialect the client was answered in.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct ResponseSummary {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    /// `usage.prompt_tokens_details.cached_tokens`, for the cached-input price.
    pub cached_tokens: Option<i64>,
    /// In the client's dialect's words (`stop`, `end_turn`, `completed`, `STOP`, `COMPLETE`...).
    pub finish_reason: Option<String>,
    /// The answer's text: chat's choice 0 (`message.content`, `delta.content`s, or
    /// completions' `text`), Anthropic's text blocks, the Responses API's `output_text`,
    /// Gemini's text parts, Converse's text blocks, Cohere's text content.
    pub content: Option<String>,
    pub reasoning: Option<String>,
    /// The tool calls as a JSON array, shaped like OpenAI's `message.tool_calls`.
    pub tool_calls: Option<String>,
    /// The message of an in-band error event or an error body.
    pub error: Option<String>,
    /// Part of the response could not be parsed.
    pub malformed: bool,
}

impl ResponseSummary {
    /// All tokens of the answer (`total_tokens`, else prompt plus completion).
    pub(super) fn total(&self) -> u64 {
        let total = self.total_tokens.or_else(|| {
            let prompt = self.prompt_tokens?;
            Some(prompt + self.completion_tokens.unwrap_or(0))
        });
        total.unwrap_or(0).max(0) as u64
    }

    /// What the usage cost at `price`; `None` when the answer reported no usage.
    pub(super) fn cost(&self, price: &Price) -> Option<f64> {
        if self.prompt_tokens.is_none() && self.completion_tokens.is_none() {
            return None;
        }
        let count = |tokens: Option<i64>| tokens.unwrap_or(0).max(0) as u64;
        Some(price.cost(
            count(self.prompt_tokens),
            count(self.cached_tokens),
            count(self.completion_tokens),
        ))
    }
}

/// A row of `request_logs`, column for column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct LogRow {
    pub id: String,
    /// UTC, ISO-8601 with microseconds (`2025-01-31T12:00:00.123456Z`).
    pub created_at: String,
    pub client_key: Option<String>,
    pub endpoint: String,
    pub model: Option<String>,
    pub upstream: Option<String>,
    pub upstream_model: Option<String>,
    pub stream: bool,
    pub status: i32,
    /// JSON array text: `["primary/m","backup/m"]`.
    pub tried: String,
    pub error: Option<String>,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub finish_reason: Option<String>,
    pub request_body: Option<String>,
    pub response_content: Option<String>,
    pub reasoning_content: Option<String>,
    pub tool_calls: Option<String>,
    pub cancelled: bool,
    pub malformed: bool,
    /// Spill lines written before this column existed read as `false`.
    #[serde(default)]
    pub usage_estimated: bool,
    /// USD at the model's price; `None` without a price or without usage.
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// JSON array text, one object per attempt (target, start and duration in ms, outcome,
    /// error, mid_stream, continuation): the console's failover timeline. Spill lines
    /// written before this column existed read as `[]`.
    #[serde(default = "no_attempts")]
    pub attempts: String,
}

fn no_attempts() -> String {
    "[]".to_owned()
}

impl LogRow {
    /// Bodies and assistant text are kept only when `store_content` is on; tokens,
    /// finish reason and tool calls always are. `created_at`: the record's, as `format_utc`
    /// writes it (formatted once, for the row and the access line).
    pub(super) fn new(
        record: RequestRecord,
        created_at: String,
        summary: ResponseSummary,
        store_content: bool,
    ) -> Self {
        let content = |text: Option<String>| text.filter(|_| store_content);
        let cost_usd = record.price.and_then(|price| summary.cost(&price));
        let mut row = Self {
            created_at,
            tried: tried_json(&record.attempts),
            attempts: attempts_json(&record.attempts),
            request_body: record
                .request_body
                .filter(|_| store_content)
                .map(|body| text_of(&body)),
            error: record.error.or(summary.error),
            id: record.id,
            client_key: record.client_key,
            endpoint: record.endpoint,
            model: record.model,
            upstream: record.upstream.as_deref().map(str::to_owned),
            upstream_model: record.upstream_model.as_deref().map(str::to_owned),
            stream: record.stream,
            status: i32::from(record.status),
            latency_ms: record.latency_ms,
            ttft_ms: record.ttft_ms,
            prompt_tokens: summary.prompt_tokens,
            completion_tokens: summary.completion_tokens,
            total_tokens: summary.total_tokens,
            finish_reason: summary.finish_reason,
            response_content: content(summary.content),
            reasoning_content: content(summary.reasoning),
            tool_calls: summary.tool_calls,
            cancelled: record.cancelled,
            malformed: summary.malformed,
            usage_estimated: record.usage_estimated,
            cost_usd,
        };
        row.replace_nul_characters();
        row
    }

    /// PostgreSQL refuses NUL in text, and one such row would block its whole batch for
    /// ever; a client can put one in a body or (JSON-escaped) in a model name. `tried` and
    /// `attempts` are JSON this module wrote, with control characters escaped.
    fn replace_nul_characters(&mut self) {
        let texts = [&mut self.id, &mut self.endpoint];
        let optional_texts = [
            &mut self.client_key,
            &mut self.model,
            &mut self.upstream,
            &mut self.upstream_model,
            &mut self.error,
            &mut self.finish_reason,
            &mut self.request_body,
            &mut self.response_content,
            &mut self.reasoning_content,
            &mut self.tool_calls,
        ];
        for text in texts
            .into_iter()
            .chain(optional_texts.into_iter().flatten())
        {
            if memchr::memchr(0, text.as_bytes()).is_some() {
                *text = text.replace('\0', "\u{fffd}");
            }
        }
    }
}

/// `body` as text, bytes that are not UTF-8 replaced (`U+FFFD`). A valid body is checked
/// and copied at memory speed; `from_utf8_lossy` walks it in chunks first (~7 instructions
/// a byte).
fn text_of(body: &[u8]) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// The targets tried (one per attempt) as the `tried` column's JSON array, in a string of
/// the right size.
fn tried_json(attempts: &[AttemptRecord]) -> String {
    // Each target's text, its quotes and a comma: more only when one needs escapes.
    let capacity = attempts
        .iter()
        .fold(2, |capacity, attempt| capacity + attempt.target.len() + 3);
    let mut out = String::with_capacity(capacity);
    let targets = attempts.iter().map(|attempt| &*attempt.target);
    push_json_strings(&mut out, targets, ",");
    out
}

/// An attempt's JSON object but its target's and error's text: 107 bytes of names,
/// punctuation and `null`/`false`s, the longest outcome (`prefill_refused`) and two
/// numbers of up to 12 characters each, with room to spare.
const ATTEMPT_JSON_TEXT: usize = 160;

/// The attempts as the `attempts` column's JSON array.
fn attempts_json(attempts: &[AttemptRecord]) -> String {
    // Room for the whole array at once: grown a doubling at a time, its reallocations cost
    // more than writing it.
    let capacity = attempts.iter().fold(2, |capacity, attempt| {
        let error = attempt.error.as_ref().map_or(0, String::len);
        capacity + ATTEMPT_JSON_TEXT + attempt.target.len() + error
    });
    let mut out = String::with_capacity(capacity);
    out.push('[');
    for (index, attempt) in attempts.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"target\":");
        push_json_string(&mut out, &attempt.target);
        // Through integers, not core::fmt: float formatting was most of a row's cost.
        out.push_str(",\"start_ms\":");
        push_thousandths(&mut out, attempt.start_ms);
        out.push_str(",\"duration_ms\":");
        push_thousandths(&mut out, attempt.duration_ms);
        out.push_str(",\"outcome\":\"");
        out.push_str(attempt.outcome);
        out.push_str("\",\"error\":");
        match &attempt.error {
            Some(error) => push_json_string(&mut out, error),
            None => out.push_str("null"),
        }
        out.push_str(",\"mid_stream\":");
        out.push_str(if attempt.mid_stream { "true" } else { "false" });
        out.push_str(",\"continuation\":");
        out.push_str(if attempt.continuation {
            "true"
        } else {
            "false"
        });
        out.push('}');
    }
    out.push(']');
    out
}

/// `SystemTime` as UTC ISO-8601 with microseconds; both backends parse it, and as
/// SQLite text it sorts in time order.
pub(super) fn format_utc(time: SystemTime) -> String {
    let mut text = String::with_capacity(27);
    push_utc(&mut text, time, 6);
    text
}
