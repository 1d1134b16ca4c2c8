//! Anthropic Messages streams as pieces. Its events name content blocks by index (text,
//! thinking, tool_use); pieces name tool calls by their own count, so both sides keep a map.
//! The stop reason and the output tokens come together in `message_delta`.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::super::piece::{push_text, text_of};
use super::super::value::now;
use super::super::{finish_from_anthropic, finish_to_anthropic, Piece};
use crate::json::{self, push_json_string};

/// Reads events with simd-json's tape into a buffer kept between events (see `chat`).
#[derive(Debug, Default)]
pub struct EventDecoder {
    input_tokens: u64,
    /// Content block index of each tool call, in the order they started.
    tool_blocks: Vec<u64>,
    scratch: Vec<u8>,
}

impl EventDecoder {
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<Piece>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(payload);
        let _ = json::read(&mut scratch, |event| self.decode_event(&event, out));
        self.scratch = scratch;
    }

    fn decode_event(&mut self, event: &Value<'_, '_>, out: &mut Vec<Piece>) {
        match event.get_str("type").unwrap_or_default() {
            "message_start" => {
                let message = event.get("message");
                let usage = message.as_ref().and_then(|m| m.get("usage"));
                self.input_tokens = usage.as_ref().map_or(0, input_tokens);
                out.push(Piece::Start {
                    id: text_of(message.as_ref(), "id"),
                    model: text_of(message.as_ref(), "model"),
                    created: now(),
                    input_tokens: Some(self.input_tokens),
                });
            }
            "content_block_start" => {
                let Some(block) = event.get("content_block") else {
                    return;
                };
                match block.get_str("type").unwrap_or_default() {
                    "tool_use" => {
                        self.tool_blocks
                            .push(event.get_u64("index").unwrap_or_default());
                        out.push(Piece::ToolCall {
                            index: self.tool_blocks.len() - 1,
                            id: block.get_str("id").map(str::to_string),
                            name: block.get_str("name").map(str::to_string),
                            arguments: String::new(),
                        });
                    }
                    "text" => push_text(out, Piece::Text, block.get_str("text")),
                    "thinking" => push_text(out, Piece::Reasoning, block.get_str("thinking")),
                    _ => {}
                }
            }
            "content_block_delta" => {
                let Some(delta) = event.get("delta") else {
                    return;
                };
                match delta.get_str("type").unwrap_or_default() {
                    "text_delta" => push_text(out, Piece::Text, delta.get_str("text")),
                    "thinking_delta" => {
                        push_text(out, Piece::Reasoning, delta.get_str("thinking"));
                    }
                    "input_json_delta" => {
                        let block = event.get_u64("index").unwrap_or_default();
                        if let Some(index) = self.tool_blocks.iter().position(|&b| b == block) {
                            out.push(Piece::ToolCall {
                                index,
                                id: None,
                                name: None,
                                arguments: text_of(Some(&delta), "partial_json"),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                let delta = event.get("delta");
                if let Some(reason) = delta.as_ref().and_then(|d| d.get_str("stop_reason")) {
                    out.push(Piece::Finish {
                        reason: finish_from_anthropic(reason).to_string(),
                        stop_sequence: delta
                            .as_ref()
                            .and_then(|d| d.get_str("stop_sequence"))
                            .map(str::to_string),
                    });
                }
                if let Some(usage) = event.get("usage") {
                    let input = match usage.get_u64("input_tokens") {
                        Some(_) => input_tokens(&usage),
                        None => self.input_tokens,
                    };
                    out.push(Piece::Usage {
                        input,
                        output: usage.get_u64("output_tokens").unwrap_or_default(),
                    });
                }
            }
            "message_stop" => out.push(Piece::Done),
            "error" => {
                let error = event.get("error");
                let message = error.as_ref().and_then(|e| e.get_str("message"));
                out.push(Piece::Error(
                    message.unwrap_or("upstream error").to_string(),
                ));
            }
            _ => {}
        }
    }
}

/// Input tokens as chat counts them: cache reads and writes are prompt tokens too.
pub(super) fn input_tokens<V>(usage: &V) -> u64
where
    V: ValueObjectAccessAsScalar,
    V::Key: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|&key| usage.get_u64(key))
    .sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool call, by its piece index.
    Tool(usize),
}

/// Writes pieces as Anthropic Messages events.
#[derive(Debug, Default)]
pub struct EventEncoder {
    started: bool,
    /// The open content block and its index.
    open: Option<(Block, u64)>,
    next_index: u64,
    input_tokens: u64,
    output_tokens: u64,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<String>,
    ended: bool,
}

impl EventEncoder {
    pub fn encode(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        if let Piece::Start {
            id,
            model,
            input_tokens,
            ..
        } = piece
        {
            self.start(id, model, input_tokens.unwrap_or_default(), out);
            return;
        }
        if !self.started {
            self.start("msg_gpt_api", "", 0, out);
        }
        match piece {
            Piece::Start { .. } => {}
            Piece::Text(text) => {
                self.open_block(Block::Text, out);
                self.delta(out, "text_delta", "text", text);
            }
            Piece::Reasoning(text) => {
                self.open_block(Block::Thinking, out);
                self.delta(out, "thinking_delta", "thinking", text);
            }
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                if self.open.map(|(block, _)| block) != Some(Block::Tool(*index)) {
                    self.close_block(out);
                    let mut block = String::from(r#"{"type":"tool_use","id":"#);
                    let id = id.clone().unwrap_or_else(|| format!("toolu_{index}"));
                    push_json_string(&mut block, &id);
                    block.push_str(r#","name":"#);
                    push_json_string(&mut block, name.as_deref().unwrap_or_default());
                    block.push_str(r#","input":{}}"#);
                    self.start_block(Block::Tool(*index), &block, out);
                }
                if !arguments.is_empty() {
                    self.delta(out, "input_json_delta", "partial_json", arguments);
                }
            }
            Piece::Finish {
                reason,
                stop_sequence,
            } => {
                self.stop_reason = Some(finish_to_anthropic(reason, stop_sequence.as_deref()));
                self.stop_sequence.clone_from(stop_sequence);
            }
            Piece::Usage { input, output } => {
                self.input_tokens = *input;
                self.output_tokens = *output;
            }
            Piece::Error(message) => {
                out.extend_from_slice(super::error_event("api_error", message).as_bytes());
            }
            Piece::Done => self.end(out),
        }
    }

    fn start(&mut self, id: &str, model: &str, input_tokens: u64, out: &mut Vec<u8>) {
        self.started = true;
        self.input_tokens = input_tokens;
        let mut data = String::from(r#"{"type":"message_start","message":{"id":"#);
        push_json_string(&mut data, id);
        data.push_str(r#","type":"message","role":"assistant","model":"#);
        push_json_string(&mut data, model);
        data.push_str(&format!(
            r#","content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input_tokens},"output_tokens":0}}}}}}"#
        ));
        event(out, "message_start", &data);
    }

    fn open_block(&mut self, block: Block, out: &mut Vec<u8>) {
        if self.open.map(|(open, _)| open) == Some(block) {
            return;
        }
        self.close_block(out);
        let start = match block {
            Block::Text => r#"{"type":"text","text":""}"#,
            Block::Thinking => r#"{"type":"thinking","thinking":"","signature":""}"#,
            Block::Tool(_) => unreachable!("tool blocks start with their id and name"),
        };
        self.start_block(block, start, out);
    }

    fn start_block(&mut self, block: Block, content_block: &str, out: &mut Vec<u8>) {
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((block, index));
        let data = format!(
            r#"{{"type":"content_block_start","index":{index},"content_block":{content_block}}}"#
        );
        event(out, "content_block_start", &data);
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open.take() {
            let data = format!(r#"{{"type":"content_block_stop","index":{index}}}"#);
            event(out, "content_block_stop", &data);
        }
    }

    fn delta(&self, out: &mut Vec<u8>, kind: &str, key: &str, text: &str) {
        let index = self.open.map_or(0, |(_, index)| index);
        let mut data = format!(
            r#"{{"type":"content_block_delta","index":{index},"delta":{{"type":"{kind}","{key}":"#
        );
        push_json_string(&mut data, text);
        data.push_str("}}");
        event(out, "content_block_delta", &data);
    }

    /// The closing events, once: the open block's stop, the stop reason with the usage,
    /// `message_stop`.
    fn end(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.close_block(out);
        let mut data = String::from(r#"{"type":"message_delta","delta":{"stop_reason":"#);
        push_json_string(&mut data, self.stop_reason.unwrap_or("end_turn"));
        data.push_str(r#","stop_sequence":"#);
        match &self.stop_sequence {
            Some(sequence) => push_json_string(&mut data, sequence),
            None => data.push_str("null"),
        }
        data.push_str(&format!(
            r#"}},"usage":{{"input_tokens":{},"output_tokens":{}}}}}"#,
            self.input_tokens, self.output_tokens
        ));
        event(out, "message_delta", &data);
        event(out, "message_stop", r#"{"type":"message_stop"}"#);
    }
}

fn event(out: &mut Vec<u8>, name: &str, data: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}
