//! Bedrock Converse answers (`/model/{modelId}/converse`, `/converse-stream`): the whole
//! Converse response and ConverseStream's events (`messageStart`, `contentBlockStart`,
//! `contentBlockDelta`, `contentBlockStop`, `messageStop`, `metadata`; their names are in
//! the frames' headers, `stream` reads the frames). Text blocks make the content,
//! `reasoningContent` the reasoning, `toolUse` blocks the tool calls in OpenAI's shape
//! (arguments: the JSON text of `input`, or its streamed pieces joined). `stopReason`
//! (`end_turn`, `tool_use`, `max_tokens`...) is the finish reason, verbatim.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::response::{append, entries, message_error, Usage};
use super::row::ResponseSummary;
use super::tool_calls::{fill_once, ToolCalls};

/// A Converse response, or an error body (`{"message":...}`).
pub(super) fn read_body(value: &Value<'_, '_>, summary: &mut ResponseSummary) {
    let mut converse = ConverseStream::default();
    converse.read_end(value);
    converse.summary.error = message_error(value);
    let message = value.get("output").and_then(|output| output.get("message"));
    if let Some(message) = message {
        for (index, block) in entries(&message, "content").enumerate() {
            converse.read_block(index as u64, &block);
        }
    }
    *summary = converse.finish();
}

/// One ConverseStream's events so far; also used to read a whole body.
#[derive(Debug, Default)]
pub(super) struct ConverseStream {
    summary: ResponseSummary,
    /// `toolUse` blocks by `contentBlockIndex`.
    tool_calls: ToolCalls,
}

impl ConverseStream {
    /// An event frame: its `:event-type` header and its JSON payload.
    pub(super) fn apply(&mut self, event_type: &str, payload: &Value<'_, '_>) {
        let index = payload.get_u64("contentBlockIndex").unwrap_or(0);
        match event_type {
            "contentBlockStart" => {
                let tool_use = payload.get("start").and_then(|start| start.get("toolUse"));
                if let Some(tool_use) = tool_use {
                    self.read_tool_use(index, &tool_use);
                }
            }
            "contentBlockDelta" => {
                if let Some(delta) = payload.get("delta") {
                    self.read_delta(index, &delta);
                }
            }
            "messageStop" | "metadata" => self.read_end(payload),
            _ => {}
        }
    }

    /// An exception frame (`:message-type` `exception` or `error`): the message its
    /// payload gives, else `fallback` (its type, `throttlingException`..., or the error
    /// frame's `:error-message`).
    pub(super) fn exception(&mut self, fallback: &str, payload: Option<&Value<'_, '_>>) {
        if self.summary.error.is_none() {
            let message = payload.and_then(message_error);
            self.summary.error = Some(message.unwrap_or_else(|| fallback.to_owned()));
        }
    }

    /// A whole block of a response's message.
    fn read_block(&mut self, index: u64, block: &Value<'_, '_>) {
        if let Some(text) = block.get_str("text") {
            append(&mut self.summary.content, text);
        }
        let reasoning = block.get("reasoningContent");
        if let Some(text) = reasoning.and_then(|reasoning| reasoning.get("reasoningText")) {
            let text = text.get_str("text").unwrap_or_default();
            append(&mut self.summary.reasoning, text);
        }
        if let Some(tool_use) = block.get("toolUse") {
            self.read_tool_use(index, &tool_use);
            if let Some(input) = tool_use.get("input") {
                self.tool_calls.at(index).arguments = input.encode();
            }
        }
    }

    fn read_tool_use(&mut self, index: u64, tool_use: &Value<'_, '_>) {
        let call = self.tool_calls.at(index);
        fill_once(&mut call.id, tool_use.get_str("toolUseId"));
        fill_once(&mut call.name, tool_use.get_str("name"));
    }

    fn read_delta(&mut self, index: u64, delta: &Value<'_, '_>) {
        if let Some(text) = delta.get_str("text") {
            append(&mut self.summary.content, text);
        }
        // A reasoning delta carries text, or the block's signature (not logged).
        if let Some(reasoning) = delta.get("reasoningContent") {
            if let Some(text) = reasoning.get_str("text") {
                append(&mut self.summary.reasoning, text);
            }
        }
        if let Some(tool_use) = delta.get("toolUse") {
            let piece = tool_use.get_str("input").unwrap_or_default();
            self.tool_calls.at(index).arguments.push_str(piece);
        }
    }

    /// The stop reason and usage: a whole response's, or `messageStop`'s and `metadata`'s.
    /// `inputTokens` leaves out the prompt read from or written to the cache, which the
    /// prompt counts (as for Anthropic's).
    fn read_end(&mut self, holder: &Value<'_, '_>) {
        if let Some(reason) = holder.get_str("stopReason") {
            self.summary.finish_reason = Some(reason.to_owned());
        }
        let Some(usage) = holder.get("usage").filter(|usage| usage.is_object()) else {
            return;
        };
        let count = |key: &str| usage.get_i64(key);
        let cache_read = count("cacheReadInputTokens");
        let cache_write = count("cacheWriteInputTokens");
        let counts = Usage {
            prompt: count("inputTokens")
                .map(|input| input + cache_read.unwrap_or(0) + cache_write.unwrap_or(0)),
            completion: count("outputTokens"),
            total: count("totalTokens"),
            cached: cache_read,
        };
        counts.record(&mut self.summary);
    }

    pub(super) fn finish(mut self) -> ResponseSummary {
        // A tool without parameters may stream no input: its input was `{}`.
        for call in self.tool_calls.iter_mut() {
            if call.arguments.is_empty() {
                call.arguments.push_str("{}");
            }
        }
        self.summary.tool_calls = self.tool_calls.into_json();
        self.summary
    }
}
