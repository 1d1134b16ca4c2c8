//! ConverseStream as pieces. Each event is one event-stream frame whose `:event-type` names
//! it and whose payload is its JSON (AWS adds a `p` field of padding, which is ignored).
//! Content blocks are numbered by `contentBlockIndex`; pieces number tool calls by their
//! own count, so both sides keep a map. The stop reason (`messageStop`) and the usage
//! (`metadata`, the last event) come in two events.

use std::time::Instant;

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::super::value::now;
use super::super::Piece;
use super::response::input_tokens;
use super::{answer_id, exception_frame, finish_from_bedrock, finish_to_bedrock};
use crate::eventstream::{read_frame, write_frame};
use crate::json::{self, push_json_string};

/// Reads one whole frame per call (the stream's framing cuts them with `frame_len`).
#[derive(Debug, Default)]
pub struct EventDecoder {
    /// Content block index of each tool call, in the order they started.
    tool_blocks: Vec<u64>,
    scratch: Vec<u8>,
}

impl EventDecoder {
    pub fn decode(&mut self, frame: &[u8], out: &mut Vec<Piece>) {
        let frame = match read_frame(frame) {
            Ok(frame) => frame,
            Err(error) => {
                out.push(Piece::Error(error.to_string()));
                return;
            }
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(frame.payload);
        match frame.message_type.unwrap_or("event") {
            "event" => {
                let kind = frame.event_type.unwrap_or_default();
                let _ = json::read(&mut scratch, |event| self.decode_event(kind, &event, out));
            }
            "exception" => {
                let message = json::read(&mut scratch, |body| {
                    body.get_str("message").map(str::to_string)
                });
                let kind = frame.exception_type.unwrap_or("exception");
                out.push(Piece::Error(
                    message.ok().flatten().unwrap_or_else(|| kind.to_string()),
                ));
            }
            _ => {
                let message = frame.error_message.or(frame.error_code);
                out.push(Piece::Error(
                    message.unwrap_or("upstream error").to_string(),
                ));
            }
        }
        self.scratch = scratch;
    }

    fn decode_event(&mut self, kind: &str, event: &Value<'_, '_>, out: &mut Vec<Piece>) {
        match kind {
            "messageStart" => out.push(Piece::Start {
                id: answer_id(),
                // Converse events never name the model: the translator fills it in.
                model: String::new(),
                created: now(),
                input_tokens: None,
            }),
            "contentBlockStart" => {
                let tool_use = event.get("start").and_then(|s| s.get("toolUse"));
                let Some(tool_use) = tool_use else { return };
                self.tool_blocks
                    .push(event.get_u64("contentBlockIndex").unwrap_or_default());
                out.push(Piece::ToolCall {
                    index: self.tool_blocks.len() - 1,
                    id: tool_use.get_str("toolUseId").map(str::to_string),
                    name: tool_use.get_str("name").map(str::to_string),
                    arguments: String::new(),
                });
            }
            "contentBlockDelta" => {
                let Some(delta) = event.get("delta") else {
                    return;
                };
                let tool_use = delta.get("toolUse");
                let reasoning = delta.get("reasoningContent");
                if let Some(text) = delta.get_str("text").filter(|t| !t.is_empty()) {
                    out.push(Piece::Text(text.to_string()));
                } else if let Some(input) = tool_use.as_ref().and_then(|t| t.get_str("input")) {
                    let block = event.get_u64("contentBlockIndex").unwrap_or_default();
                    if let Some(index) = self.tool_blocks.iter().position(|&b| b == block) {
                        out.push(Piece::ToolCall {
                            index,
                            id: None,
                            name: None,
                            arguments: input.to_string(),
                        });
                    }
                } else if let Some(text) = reasoning
                    .as_ref()
                    .and_then(|r| r.get_str("text"))
                    .filter(|t| !t.is_empty())
                {
                    out.push(Piece::Reasoning(text.to_string()));
                }
            }
            "messageStop" => {
                let reason = event.get_str("stopReason").unwrap_or("end_turn");
                // Anthropic models on Bedrock name the matched sequence here.
                let stop_sequence = event
                    .get("additionalModelResponseFields")
                    .and_then(|f| f.get_str("stop_sequence").map(str::to_string));
                out.push(Piece::Finish {
                    reason: finish_from_bedrock(reason).to_string(),
                    stop_sequence,
                });
            }
            "metadata" => {
                if let Some(usage) = event.get("usage") {
                    out.push(Piece::Usage {
                        input: input_tokens(&usage),
                        output: usage.get_u64("outputTokens").unwrap_or_default(),
                    });
                }
                // The last event of a Converse stream.
                out.push(Piece::Done);
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Reasoning,
    /// A tool call, by its piece index.
    Tool(usize),
}

/// Writes pieces as ConverseStream frames.
#[derive(Debug, Default)]
pub struct EventEncoder {
    /// When `messageStart` went out: `metadata.metrics.latencyMs` counts from there.
    started: Option<Instant>,
    /// The open content block and its index.
    open: Option<(Block, u64)>,
    next_index: u64,
    stopped: bool,
    usage: Option<(u64, u64)>,
    ended: bool,
}

impl EventEncoder {
    pub fn encode(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if self.started.is_none() {
            self.started = Some(Instant::now());
            event(out, "messageStart", r#"{"role":"assistant"}"#);
        }
        match piece {
            // The input count until a `Usage` says both (a chat stream may carry none).
            Piece::Start {
                input_tokens: Some(input),
                ..
            } if self.usage.is_none() => self.usage = Some((*input, 0)),
            Piece::Start { .. } => {}
            Piece::Text(text) => {
                self.open_block(Block::Text, out);
                self.delta(out, |data| {
                    data.push_str(r#"{"text":"#);
                    push_json_string(data, text);
                    data.push('}');
                });
            }
            Piece::Reasoning(text) => {
                self.open_block(Block::Reasoning, out);
                self.delta(out, |data| {
                    data.push_str(r#"{"reasoningContent":{"text":"#);
                    push_json_string(data, text);
                    data.push_str("}}");
                });
            }
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                if self.open.map(|(block, _)| block) != Some(Block::Tool(*index)) {
                    self.open_block(Block::Tool(*index), out);
                    let block = self.open.map_or(0, |(_, at)| at);
                    let id = id.clone().unwrap_or_else(|| format!("tooluse_{index}"));
                    let mut data = format!(
                        r#"{{"contentBlockIndex":{block},"start":{{"toolUse":{{"toolUseId":"#
                    );
                    push_json_string(&mut data, &id);
                    data.push_str(r#","name":"#);
                    push_json_string(&mut data, name.as_deref().unwrap_or_default());
                    data.push_str("}}}");
                    event(out, "contentBlockStart", &data);
                }
                if !arguments.is_empty() {
                    self.delta(out, |data| {
                        data.push_str(r#"{"toolUse":{"input":"#);
                        push_json_string(data, arguments);
                        data.push_str("}}");
                    });
                }
            }
            Piece::Finish {
                reason,
                stop_sequence,
            } => self.stop(finish_to_bedrock(reason), stop_sequence.as_deref(), out),
            Piece::Usage { input, output } => self.usage = Some((*input, *output)),
            Piece::Error(message) => {
                // An exception ends a Converse stream: nothing may follow it.
                self.ended = true;
                exception_frame(out, "modelStreamErrorException", message);
            }
            Piece::Done => {
                self.stop("end_turn", None, out);
                self.ended = true;
                let (input, output) = self.usage.unwrap_or_default();
                let latency = self.started.map_or(0, |at| at.elapsed().as_millis());
                let data = format!(
                    r#"{{"usage":{{"inputTokens":{input},"outputTokens":{output},"totalTokens":{}}},"metrics":{{"latencyMs":{latency}}}}}"#,
                    input + output
                );
                event(out, "metadata", &data);
            }
        }
    }

    /// Closes the open block unless it is `block`, then opens `block` under the next index.
    fn open_block(&mut self, block: Block, out: &mut Vec<u8>) {
        if self.open.map(|(open, _)| open) == Some(block) {
            return;
        }
        self.close_block(out);
        self.open = Some((block, self.next_index));
        self.next_index += 1;
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open.take() {
            event(
                out,
                "contentBlockStop",
                &format!(r#"{{"contentBlockIndex":{index}}}"#),
            );
        }
    }

    /// A `contentBlockDelta` of the open block; `write` appends the `delta` object.
    fn delta(&self, out: &mut Vec<u8>, write: impl FnOnce(&mut String)) {
        let index = self.open.map_or(0, |(_, index)| index);
        let mut data = format!(r#"{{"contentBlockIndex":{index},"delta":"#);
        write(&mut data);
        data.push('}');
        event(out, "contentBlockDelta", &data);
    }

    /// `messageStop`, once: the stop reason goes out as soon as it is known (the usage
    /// follows in `metadata` at the end).
    fn stop(&mut self, reason: &str, stop_sequence: Option<&str>, out: &mut Vec<u8>) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.close_block(out);
        let reason = match stop_sequence {
            Some(_) if reason == "end_turn" => "stop_sequence",
            _ => reason,
        };
        let mut data = String::from(r#"{"stopReason":"#);
        push_json_string(&mut data, reason);
        if let Some(sequence) = stop_sequence {
            data.push_str(r#","additionalModelResponseFields":{"stop_sequence":"#);
            push_json_string(&mut data, sequence);
            data.push('}');
        }
        data.push('}');
        event(out, "messageStop", &data);
    }
}

fn event(out: &mut Vec<u8>, name: &str, data: &str) {
    let headers = [
        (":event-type", name),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ];
    write_frame(out, &headers, data.as_bytes());
}
