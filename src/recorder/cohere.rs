//! Cohere v2 chat answers (`/v2/chat`): the whole chat response and its SSE events
//! (`message-start`, `content-start`/`-delta`/`-end`, `tool-plan-delta`,
//! `tool-call-start`/`-delta`/`-end`, `citation-start`/`-end`, `message-end`). Text
//! content makes the content; `thinking` content and the `tool_plan` (the model's plan
//! before it calls tools) the reasoning; `tool_calls` are already in OpenAI's shape, their
//! streamed `arguments` joined. `finish_reason` (`COMPLETE`, `TOOL_CALL`...) is kept verbatim.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::response::{append, entries, message_error, Usage};
use super::row::ResponseSummary;
use super::tool_calls::{fill_once, ToolCalls};

/// A chat response, or an error body (`{"message":...}`).
pub(super) fn read_body(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    let mut chat = CohereStream::default();
    chat.read_end(value);
    chat.summary.error = message_error(value);
    if let Some(message) = value.get("message") {
        chat.read_tool_plan(&message);
        for part in entries(&message, "content") {
            chat.read_content(&part);
        }
        for (index, call) in entries(&message, "tool_calls").enumerate() {
            chat.read_tool_call(index as u64, &call);
        }
    }
    *summary = chat.finish();
}

/// One Cohere stream's events so far; also used to read a whole body.
#[derive(Debug, Default)]
pub(super) struct CohereStream {
    summary: ResponseSummary,
    /// Tool calls by the `index` of their `tool-call-*` events.
    tool_calls: ToolCalls,
}

impl CohereStream {
    pub(super) fn apply(&mut self, event: &Value<'_, '_>) {
        let index = event.get_u64("index").unwrap_or(0);
        let Some(delta) = event.get("delta") else {
            return;
        };
        let message = delta.get("message");
        match event.get_str("type") {
            Some("content-start" | "content-delta") => {
                if let Some(content) = message.and_then(|message| message.get("content")) {
                    self.read_content(&content);
                }
            }
            Some("tool-plan-delta") => {
                if let Some(message) = message {
                    self.read_tool_plan(&message);
                }
            }
            // One call per event (`tool_calls` is an object here): its start with id and
            // name, then pieces of its arguments.
            Some("tool-call-start" | "tool-call-delta") => {
                if let Some(call) = message.and_then(|message| message.get("tool_calls")) {
                    self.read_tool_call(index, &call);
                }
            }
            // A stream that fails ends with `finish_reason` `ERROR` and the message in
            // `delta.error` (Cohere's v2 stream has no error event of its own).
            Some("message-end") => {
                self.read_end(&delta);
                if self.summary.error.is_none() {
                    self.summary.error = delta.get_str("error").map(str::to_owned);
                }
            }
            _ => {}
        }
    }

    /// A text or thinking part, whole (`{"type":"text","text":...}`) or a delta of one.
    fn read_content(&mut self, part: &Value<'_, '_>) {
        if let Some(text) = part.get_str("text") {
            append(&mut self.summary.content, text);
        }
        if let Some(thinking) = part.get_str("thinking") {
            append(&mut self.summary.reasoning, thinking);
        }
    }

    fn read_tool_plan(&mut self, message: &Value<'_, '_>) {
        let plan = message.get_str("tool_plan").filter(|plan| !plan.is_empty());
        if let Some(plan) = plan {
            append(&mut self.summary.reasoning, plan);
        }
    }

    fn read_tool_call(&mut self, index: u64, call: &Value<'_, '_>) {
        let parts = self.tool_calls.at(index);
        fill_once(&mut parts.id, call.get_str("id"));
        fill_once(&mut parts.kind, call.get_str("type"));
        let Some(function) = call.get("function") else {
            return;
        };
        fill_once(&mut parts.name, function.get_str("name"));
        if let Some(arguments) = function.get_str("arguments") {
            parts.arguments.push_str(arguments);
        }
    }

    /// The finish reason and usage: a whole response's, or `message-end`'s `delta`.
    fn read_end(&mut self, holder: &Value<'_, '_>) {
        if let Some(reason) = holder.get_str("finish_reason") {
            self.summary.finish_reason = Some(reason.to_owned());
        }
        if let Some(usage) = holder.get("usage").filter(|usage| usage.is_object()) {
            // `tokens` counts what the model read and wrote; `billed_units`, what was billed.
            let count = |key: &str| {
                ["tokens", "billed_units"]
                    .into_iter()
                    .find_map(|group| whole_number(&usage.get(group)?.get(key)?))
            };
            let counts = Usage {
                prompt: count("input_tokens"),
                completion: count("output_tokens"),
                ..Usage::default()
            };
            counts.record(&mut self.summary);
        }
    }

    pub(super) fn finish(self) -> ResponseSummary {
        let mut summary = self.summary;
        summary.tool_calls = self.tool_calls.into_json();
        summary
    }
}

/// Cohere's API types its token counts as numbers, so `12.0` is as valid as `12`.
fn whole_number(value: &Value<'_, '_>) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_f64().map(|number| number as i64))
}
