//! Anthropic Messages answers (`/v1/messages`): the whole `message` body and its SSE events
//! (`message_start`, `content_block_start`/`_delta`/`_stop`, `message_delta`, `message_stop`,
//! `ping`, `error`). Text blocks make the content, `thinking` blocks the reasoning, `tool_use`
//! blocks the tool calls in OpenAI's shape (arguments: the JSON text of `input`, or its
//! streamed `partial_json` pieces joined); `stop_reason` is the finish reason, verbatim.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::response::{append, entries, error_message, read_usage};
use super::row::ResponseSummary;
use super::tool_calls::{fill_once, ToolCalls};

/// A `message` body, or an error body (`{"type":"error","error":{...}}`).
pub(super) fn read_body(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    let mut message = MessagesStream::default();
    message.read_message(value);
    message.summary.error = error_message(value);
    for (index, block) in entries(value, "content").enumerate() {
        message.read_block(index as u64, &block);
    }
    *summary = message.finish();
}

/// One Messages stream's events so far; also used to read a whole body, which is what a
/// stream's events add up to.
#[derive(Debug, Default)]
pub(super) struct MessagesStream {
    summary: ResponseSummary,
    /// `tool_use` blocks by block index.
    tool_calls: ToolCalls,
}

impl MessagesStream {
    pub(super) fn apply(&mut self, event: &Value<'_, '_>) {
        let index = event.get_u64("index").unwrap_or(0);
        match event.get_str("type") {
            Some("message_start") => {
                if let Some(message) = event.get("message") {
                    self.read_message(&message);
                }
            }
            Some("content_block_start") => {
                if let Some(block) = event.get("content_block") {
                    self.read_block(index, &block);
                }
            }
            Some("content_block_delta") => {
                if let Some(delta) = event.get("delta") {
                    self.read_delta(index, &delta);
                }
            }
            // Cumulative usage (output tokens, sometimes input tokens) and the stop reason.
            Some("message_delta") => {
                read_usage(event, &mut self.summary);
                if let Some(delta) = event.get("delta") {
                    self.read_stop_reason(&delta);
                }
            }
            Some("error") if self.summary.error.is_none() => {
                self.summary.error = error_message(event);
            }
            _ => {}
        }
    }

    /// A block whole (a body's) or as it starts (a stream's: empty text, `input: {}`).
    fn read_block(&mut self, index: u64, block: &Value<'_, '_>) {
        match block.get_str("type") {
            Some("text") => {
                let text = block.get_str("text").unwrap_or_default();
                append(&mut self.summary.content, text);
            }
            Some("thinking") => {
                let thinking = block.get_str("thinking").unwrap_or_default();
                append(&mut self.summary.reasoning, thinking);
            }
            Some("tool_use") => {
                let call = self.tool_calls.at(index);
                fill_once(&mut call.id, block.get_str("id"));
                fill_once(&mut call.name, block.get_str("name"));
                // A streamed block starts with `input: {}`; its input follows in pieces.
                let input = block
                    .get("input")
                    .filter(|input| input.as_object().is_some_and(|fields| !fields.is_empty()));
                if let Some(input) = input {
                    call.arguments = input.encode();
                }
            }
            _ => {}
        }
    }

    fn read_delta(&mut self, index: u64, delta: &Value<'_, '_>) {
        match delta.get_str("type") {
            Some("text_delta") => {
                let text = delta.get_str("text").unwrap_or_default();
                append(&mut self.summary.content, text);
            }
            Some("thinking_delta") => {
                let thinking = delta.get_str("thinking").unwrap_or_default();
                append(&mut self.summary.reasoning, thinking);
            }
            Some("input_json_delta") => {
                let piece = delta.get_str("partial_json").unwrap_or_default();
                self.tool_calls.at(index).arguments.push_str(piece);
            }
            _ => {}
        }
    }

    /// The message's usage and stop reason (a body's, or `message_start`'s: input tokens).
    fn read_message(&mut self, message: &Value<'_, '_>) {
        read_usage(message, &mut self.summary);
        self.read_stop_reason(message);
    }

    fn read_stop_reason(&mut self, holder: &Value<'_, '_>) {
        if let Some(reason) = holder.get_str("stop_reason") {
            self.summary.finish_reason = Some(reason.to_owned());
        }
    }

    pub(super) fn finish(mut self) -> ResponseSummary {
        // A tool without parameters streams no `partial_json`: its input was `{}`.
        for call in self.tool_calls.iter_mut() {
            if call.arguments.is_empty() {
                call.arguments.push_str("{}");
            }
        }
        self.summary.tool_calls = self.tool_calls.into_json();
        self.summary
    }
}
