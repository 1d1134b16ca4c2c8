//! The background stream processor: one `StreamAccumulator` per stream rebuilds what a
//! non-streaming response would have said from the SSE bytes the client received —
//! choice 0's text and reasoning, its tool calls merged by index, finish reason, usage.
//! Rows keep choice 0 only (as for non-streaming bodies); with `n > 1` the other choices'
//! text is not logged, their tokens are in `usage`.

use serde::Serialize;
use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::response::{error_message, read_usage, reasoning_text};
use super::row::ResponseSummary;
use super::sse::SseSplitter;
use gpt_api_common::json;

#[derive(Debug, Default)]
pub(super) struct StreamAccumulator {
    splitter: SseSplitter,
    state: StreamState,
}

#[derive(Debug, Default)]
struct StreamState {
    summary: ResponseSummary,
    content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Vec<ToolCallParts>,
}

/// One tool call being assembled from its streamed pieces.
#[derive(Debug, Default)]
struct ToolCallParts {
    index: u64,
    id: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    arguments: String,
}

/// The merged call, shaped like an item of OpenAI's `message.tool_calls`.
#[derive(Serialize)]
struct ToolCall<'a> {
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
    function: ToolFunction<'a>,
}

#[derive(Serialize)]
struct ToolFunction<'a> {
    name: Option<&'a str>,
    arguments: &'a str,
}

impl StreamAccumulator {
    /// Takes the next chunk as written to the client and applies every event it completes.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        self.splitter.push(bytes);
        while let Some(data) = self.splitter.next_event() {
            self.state.apply(data);
        }
    }

    /// The stream is over: an unfinished last event flags the record as malformed.
    pub(super) fn finish(mut self) -> ResponseSummary {
        let truncated = self.splitter.finish();
        let mut state = self.state;
        state.summary.malformed |= truncated;
        if !state.tool_calls.is_empty() {
            state.tool_calls.sort_by_key(|call| call.index);
            let calls: Vec<ToolCall<'_>> = state.tool_calls.iter().map(ToolCall::from).collect();
            state.summary.tool_calls = simd_json::to_string(&calls).ok();
        }
        state.summary.content = state.content;
        state.summary.reasoning = state.reasoning;
        state.summary
    }
}

impl StreamState {
    fn apply(&mut self, data: &mut [u8]) {
        if data.trim_ascii().is_empty() || data == b"[DONE]" {
            return;
        }
        if json::read(data, |event| self.apply_event(&event)).is_err() {
            self.summary.malformed = true;
        }
    }

    fn apply_event(&mut self, event: &Value<'_, '_>) {
        read_usage(event, &mut self.summary);
        if self.summary.error.is_none() {
            self.summary.error = error_message(event);
        }
        let Some(choices) = event.get("choices").and_then(|c| c.as_array()) else {
            return;
        };
        for (position, choice) in choices.iter().enumerate() {
            if choice.get_u64("index").unwrap_or(position as u64) == 0 {
                self.apply_choice(&choice);
            }
        }
    }

    fn apply_choice(&mut self, choice: &Value<'_, '_>) {
        if let Some(reason) = choice.get_str("finish_reason") {
            self.summary.finish_reason = Some(reason.to_owned());
        }
        if let Some(text) = choice.get_str("text") {
            append(&mut self.content, text);
        }
        let Some(delta) = choice.get("delta") else {
            return;
        };
        if let Some(text) = delta.get_str("content") {
            append(&mut self.content, text);
        }
        if let Some(text) = reasoning_text(&delta) {
            append(&mut self.reasoning, text);
        }
        let Some(pieces) = delta.get("tool_calls").and_then(|p| p.as_array()) else {
            return;
        };
        for (position, piece) in pieces.iter().enumerate() {
            self.merge_tool_call(position as u64, &piece);
        }
    }

    /// `id`, `type` and `function.name` come from the first piece that has them;
    /// `function.arguments` are concatenated in order; other indexes are other calls.
    fn merge_tool_call(&mut self, position: u64, piece: &Value<'_, '_>) {
        let index = piece.get_u64("index").unwrap_or(position);
        let found = self.tool_calls.iter().position(|call| call.index == index);
        let slot = found.unwrap_or_else(|| {
            self.tool_calls.push(ToolCallParts {
                index,
                ..ToolCallParts::default()
            });
            self.tool_calls.len() - 1
        });
        let call = &mut self.tool_calls[slot];
        fill_once(&mut call.id, piece.get_str("id"));
        fill_once(&mut call.kind, piece.get_str("type"));
        let Some(function) = piece.get("function") else {
            return;
        };
        fill_once(&mut call.name, function.get_str("name"));
        if let Some(arguments) = function.get_str("arguments") {
            call.arguments.push_str(arguments);
        }
    }
}

impl<'a> From<&'a ToolCallParts> for ToolCall<'a> {
    fn from(parts: &'a ToolCallParts) -> Self {
        Self {
            id: parts.id.as_deref(),
            kind: parts.kind.as_deref().unwrap_or("function"),
            function: ToolFunction {
                name: parts.name.as_deref(),
                arguments: &parts.arguments,
            },
        }
    }
}

fn append(text: &mut Option<String>, piece: &str) {
    text.get_or_insert_with(String::new).push_str(piece);
}

fn fill_once(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none() {
        *slot = value.filter(|value| !value.is_empty()).map(str::to_owned);
    }
}
