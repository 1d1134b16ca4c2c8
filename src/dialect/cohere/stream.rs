//! Cohere v2 Chat streams as pieces. Cohere writes `event: <type>` and `data: <json>` with
//! the same type in the JSON, and ends with `message-end`, which carries the finish
//! reason, the usage and, when generation failed, the error. Content blocks (text,
//! thinking) and tool calls are numbered apart; the tool plan streams as text.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::super::piece::push_text;
use super::super::value::now;
use super::super::Piece;
use super::{count, finish_from_cohere, finish_with_sequence};
use crate::json::{self, push_json_string};

/// Reads events with simd-json's tape into a buffer kept between events (see `chat`).
#[derive(Debug, Default)]
pub struct EventDecoder {
    /// Cohere's index of each tool call, in the order they started.
    tool_calls: Vec<u64>,
    scratch: Vec<u8>,
}

impl EventDecoder {
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<Piece>) {
        // Some Cohere deployments end with an OpenAI-style marker after `message-end`.
        if payload.trim_ascii() == b"[DONE]" {
            out.push(Piece::Done);
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend_from_slice(payload);
        let _ = json::read(&mut scratch, |event| self.decode_event(&event, out));
        self.scratch = scratch;
    }

    fn decode_event(&mut self, event: &Value<'_, '_>, out: &mut Vec<Piece>) {
        let message = event.get("delta").and_then(|d| d.get("message"));
        match event.get_str("type").unwrap_or_default() {
            "message-start" => out.push(Piece::Start {
                id: event.get_str("id").unwrap_or_default().to_string(),
                model: String::new(),
                created: now(),
                input_tokens: None,
            }),
            "content-start" | "content-delta" => {
                let content = message.as_ref().and_then(|m| m.get("content"));
                let text = |key| content.as_ref().and_then(|c| c.get_str(key));
                push_text(out, Piece::Reasoning, text("thinking"));
                push_text(out, Piece::Text, text("text"));
            }
            "tool-plan-delta" => {
                let plan = message.as_ref().and_then(|m| m.get_str("tool_plan"));
                push_text(out, Piece::Text, plan);
            }
            "tool-call-start" => {
                let call = message.as_ref().and_then(|m| m.get("tool_calls"));
                let function = call.as_ref().and_then(|c| c.get("function"));
                self.tool_calls
                    .push(event.get_u64("index").unwrap_or_default());
                out.push(Piece::ToolCall {
                    index: self.tool_calls.len() - 1,
                    id: call
                        .as_ref()
                        .and_then(|c| c.get_str("id"))
                        .map(str::to_string),
                    name: Some(
                        function
                            .as_ref()
                            .and_then(|f| f.get_str("name"))
                            .unwrap_or_default()
                            .to_string(),
                    ),
                    arguments: arguments(function.as_ref()),
                });
            }
            "tool-call-delta" => {
                let call = event.get_u64("index").unwrap_or_default();
                let Some(index) = self.tool_calls.iter().position(|&c| c == call) else {
                    return;
                };
                let function = message
                    .as_ref()
                    .and_then(|m| m.get("tool_calls"))
                    .and_then(|c| c.get("function"));
                out.push(Piece::ToolCall {
                    index,
                    id: None,
                    name: None,
                    arguments: arguments(function.as_ref()),
                });
            }
            "message-end" => {
                let delta = event.get("delta");
                let error = delta.as_ref().and_then(|d| d.get_str("error"));
                if let Some(error) = error.filter(|e| !e.is_empty()) {
                    out.push(Piece::Error(error.to_string()));
                    return;
                }
                if let Some(reason) = delta.as_ref().and_then(|d| d.get_str("finish_reason")) {
                    out.push(Piece::Finish {
                        reason: finish_from_cohere(reason).to_string(),
                        stop_sequence: None,
                    });
                }
                if let Some(usage) = delta.as_ref().and_then(|d| d.get("usage")) {
                    let (input, output) = usage_of(&usage);
                    out.push(Piece::Usage { input, output });
                }
                out.push(Piece::Done);
            }
            _ => {}
        }
    }
}

/// What the model read and wrote (`tokens`), or the billed counts where only those came.
fn usage_of(usage: &Value<'_, '_>) -> (u64, u64) {
    let tokens = usage.get("tokens");
    let billed = usage.get("billed_units");
    let read = |key| {
        tokens
            .as_ref()
            .and_then(|t| count(t, key))
            .or_else(|| billed.as_ref().and_then(|b| count(b, key)))
            .unwrap_or_default()
    };
    (read("input_tokens"), read("output_tokens"))
}

fn arguments(function: Option<&Value<'_, '_>>) -> String {
    function
        .and_then(|f| f.get_str("arguments"))
        .unwrap_or_default()
        .to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    /// A content block of this kind (`text`, `thinking`) and its index.
    Content(&'static str, u64),
    /// A tool call, by its piece index.
    Tool(usize),
}

/// Writes pieces as Cohere v2 Chat events.
#[derive(Debug, Default)]
pub struct EventEncoder {
    started: bool,
    open: Option<Open>,
    next_content: u64,
    finish: Option<&'static str>,
    usage: Option<(u64, u64)>,
    ended: bool,
}

impl EventEncoder {
    pub fn encode(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if let Piece::Start { id, .. } = piece {
            self.start(id, out);
            return;
        }
        if !self.started {
            self.start("", out);
        }
        match piece {
            Piece::Start { .. } => {}
            Piece::Text(text) => self.content(out, "text", text),
            Piece::Reasoning(text) => self.content(out, "thinking", text),
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                if self.open != Some(Open::Tool(*index)) {
                    self.close(out);
                    self.open = Some(Open::Tool(*index));
                    let mut data = format!(
                        r#"{{"type":"tool-call-start","index":{index},"delta":{{"message":{{"tool_calls":{{"id":"#
                    );
                    let id = id.clone().unwrap_or_else(|| format!("call_{index}"));
                    push_json_string(&mut data, &id);
                    data.push_str(r#","type":"function","function":{"name":"#);
                    push_json_string(&mut data, name.as_deref().unwrap_or_default());
                    data.push_str(r#","arguments":""}}}}}"#);
                    event(out, "tool-call-start", &data);
                }
                if !arguments.is_empty() {
                    let mut data = format!(
                        r#"{{"type":"tool-call-delta","index":{index},"delta":{{"message":{{"tool_calls":{{"function":{{"arguments":"#
                    );
                    push_json_string(&mut data, arguments);
                    data.push_str("}}}}}");
                    event(out, "tool-call-delta", &data);
                }
            }
            Piece::Finish {
                reason,
                stop_sequence,
            } => self.finish = Some(finish_with_sequence(reason, stop_sequence.as_deref())),
            Piece::Usage { input, output } => self.usage = Some((*input, *output)),
            Piece::Error(message) => {
                self.close(out);
                error_end(out, message);
                self.ended = true;
            }
            Piece::Done => self.end(out),
        }
    }

    fn start(&mut self, id: &str, out: &mut Vec<u8>) {
        self.started = true;
        let mut data = String::from(r#"{"id":"#);
        push_json_string(&mut data, id);
        data.push_str(r#","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#);
        event(out, "message-start", &data);
    }

    /// A delta of text or thinking, opening its content block first when another is open.
    fn content(&mut self, out: &mut Vec<u8>, kind: &'static str, text: &str) {
        let index = match self.open {
            Some(Open::Content(open, index)) if open == kind => index,
            _ => {
                self.close(out);
                let index = self.next_content;
                self.next_content += 1;
                self.open = Some(Open::Content(kind, index));
                let data = format!(
                    r#"{{"type":"content-start","index":{index},"delta":{{"message":{{"content":{{"type":"{kind}","{kind}":""}}}}}}}}"#
                );
                event(out, "content-start", &data);
                index
            }
        };
        let mut data = format!(
            r#"{{"type":"content-delta","index":{index},"delta":{{"message":{{"content":{{"{kind}":"#
        );
        push_json_string(&mut data, text);
        data.push_str("}}}}");
        event(out, "content-delta", &data);
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        match self.open.take() {
            Some(Open::Content(_, index)) => event(
                out,
                "content-end",
                &format!(r#"{{"type":"content-end","index":{index}}}"#),
            ),
            Some(Open::Tool(index)) => event(
                out,
                "tool-call-end",
                &format!(r#"{{"type":"tool-call-end","index":{index}}}"#),
            ),
            None => {}
        }
    }

    /// The open block's end, then `message-end` with the finish reason and the usage.
    fn end(&mut self, out: &mut Vec<u8>) {
        self.ended = true;
        self.close(out);
        let (input, output) = self.usage.unwrap_or_default();
        let data = format!(
            r#"{{"type":"message-end","delta":{{"finish_reason":"{}","usage":{{"billed_units":{{"input_tokens":{input},"output_tokens":{output}}},"tokens":{{"input_tokens":{input},"output_tokens":{output}}}}}}}}}"#,
            self.finish.unwrap_or("COMPLETE")
        );
        event(out, "message-end", &data);
    }
}

/// `message-end` saying generation failed with `message`.
pub(super) fn error_end(out: &mut Vec<u8>, message: &str) {
    let mut data =
        String::from(r#"{"type":"message-end","delta":{"finish_reason":"ERROR","error":"#);
    push_json_string(&mut data, message);
    data.push_str("}}");
    event(out, "message-end", &data);
}

fn event(out: &mut Vec<u8>, name: &str, data: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}
