//! OpenAI Responses API answers (`/v1/responses`): the whole Response object and its SSE
//! events. `output_text` parts make the content, reasoning summaries (and `reasoning_text`,
//! as open-model servers send) the reasoning, one paragraph per part; `function_call` items
//! the tool calls in OpenAI's chat shape (id: the `call_id`). The finish reason is the
//! Response's `status`, or why it is incomplete (`max_output_tokens`, `content_filter`).

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::response::{append, entries, error_message, read_usage};
use super::row::ResponseSummary;
use super::tool_calls::{fill_once, ToolCalls};

/// A Response object, or the gateway's OpenAI-shaped error body.
pub(super) fn read_body(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    let mut response = ResponsesStream::default();
    response.read_response(value);
    for (index, item) in entries(value, "output").enumerate() {
        response.read_item(index as u64, &item);
        read_parts(&mut response.summary, &item);
    }
    *summary = response.finish();
}

/// One Responses stream's events so far; also used to read a whole body.
#[derive(Debug, Default)]
pub(super) struct ResponsesStream {
    summary: ResponseSummary,
    /// `function_call` items by output index.
    tool_calls: ToolCalls,
    /// The reasoning part the last reasoning delta belonged to: (output index, part
    /// index, whether a summary part), so that a new part starts a new paragraph.
    reasoning_part: Option<(u64, u64, bool)>,
}

impl ResponsesStream {
    pub(super) fn apply(&mut self, event: &Value<'_, '_>) {
        let Some(kind) = event.get_str("type") else {
            return;
        };
        let output_index = event.get_u64("output_index").unwrap_or(0);
        let delta = event.get_str("delta").unwrap_or_default();
        match kind {
            "response.output_text.delta" => append(&mut self.summary.content, delta),
            "response.reasoning_summary_text.delta" => {
                let part = event.get_u64("summary_index").unwrap_or(0);
                self.add_reasoning((output_index, part, true), delta);
            }
            "response.reasoning_text.delta" => {
                let part = event.get_u64("content_index").unwrap_or(0);
                self.add_reasoning((output_index, part, false), delta);
            }
            "response.function_call_arguments.delta" => {
                self.tool_calls.at(output_index).arguments.push_str(delta);
            }
            "response.function_call_arguments.done" => {
                replace_arguments(&mut self.tool_calls, output_index, event);
            }
            "response.output_item.added" | "response.output_item.done" => {
                if let Some(item) = event.get("item") {
                    self.read_item(output_index, &item);
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                if let Some(response) = event.get("response") {
                    self.read_response(&response);
                }
            }
            "error" if self.summary.error.is_none() => {
                self.summary.error = event.get_str("message").map(str::to_owned);
            }
            _ => {}
        }
    }

    /// A finished Response's usage, status and error.
    fn read_response(&mut self, response: &Value<'_, '_>) {
        read_usage(response, &mut self.summary);
        if self.summary.error.is_none() {
            self.summary.error = error_message(response);
        }
        let Some(status) = response.get_str("status") else {
            return;
        };
        let incomplete_reason = response
            .get("incomplete_details")
            .and_then(|details| details.get_str("reason").map(str::to_owned))
            .filter(|_| status == "incomplete");
        self.summary.finish_reason = incomplete_reason.or_else(|| Some(status.to_owned()));
    }

    /// A `function_call` item: its call id and name, and its arguments once it has them
    /// all (a whole item, or one `done`; an `added` one has none yet).
    fn read_item(&mut self, index: u64, item: &Value<'_, '_>) {
        if item.get_str("type") != Some("function_call") {
            return;
        }
        let call = self.tool_calls.at(index);
        fill_once(&mut call.id, item.get_str("call_id"));
        fill_once(&mut call.name, item.get_str("name"));
        replace_arguments(&mut self.tool_calls, index, item);
    }

    fn add_reasoning(&mut self, part: (u64, u64, bool), delta: &str) {
        if self.reasoning_part.replace(part) != Some(part) {
            start_paragraph(&mut self.summary.reasoning);
        }
        append(&mut self.summary.reasoning, delta);
    }

    pub(super) fn finish(self) -> ResponseSummary {
        let mut summary = self.summary;
        summary.tool_calls = self.tool_calls.into_json();
        summary
    }
}

/// A whole item's text: a message's `output_text` parts, a reasoning item's parts.
fn read_parts(summary: &mut ResponseSummary, item: &Value<'_, '_>) {
    match item.get_str("type") {
        Some("message") => {
            for part in entries(item, "content") {
                let text = part.get_str("text").unwrap_or_default();
                if part.get_str("type") == Some("output_text") {
                    append(&mut summary.content, text);
                }
            }
        }
        Some("reasoning") => {
            for part in entries(item, "summary").chain(entries(item, "content")) {
                if let Some(text) = part.get_str("text") {
                    start_paragraph(&mut summary.reasoning);
                    append(&mut summary.reasoning, text);
                }
            }
        }
        _ => {}
    }
}

/// `arguments` of an item or `done` event, complete: they replace the streamed pieces.
fn replace_arguments(calls: &mut ToolCalls, index: u64, holder: &Value<'_, '_>) {
    if let Some(arguments) = holder.get_str("arguments").filter(|a| !a.is_empty()) {
        arguments.clone_into(&mut calls.at(index).arguments);
    }
}

/// Parts of the reasoning are paragraphs: a blank line between them.
fn start_paragraph(text: &mut Option<String>) {
    if let Some(text) = text.as_mut().filter(|text| !text.is_empty()) {
        text.push_str("\n\n");
    }
}
