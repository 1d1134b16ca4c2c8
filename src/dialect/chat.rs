//! OpenAI chat completion streams as pieces: `chat.completion.chunk` events read into pieces
//! (choice 0 only: streams with several choices are not translated) and pieces written as
//! chunks under one id. Decoding runs on the worker for every event of a translated stream,
//! so it reads the tape (see `json`), not a tree.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::Piece;
use crate::json::{self, push_json_string};

/// Reads chunks with simd-json's tape into a buffer kept between events: no tree of values.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    started: bool,
    scratch: Vec<u8>,
}

impl ChunkDecoder {
    pub fn decode(&mut self, payload: &[u8], out: &mut Vec<Piece>) {
        if payload.trim_ascii() == b"[DONE]" {
            out.push(Piece::Done);
            return;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(payload);
        let started = &mut self.started;
        let _ = json::read(&mut self.scratch, |chunk| {
            decode_chunk(&chunk, started, out)
        });
    }
}

fn decode_chunk(chunk: &Value<'_, '_>, started: &mut bool, out: &mut Vec<Piece>) {
    if let Some(error) = chunk.get("error") {
        let message = error.get_str("message").or_else(|| error.as_str());
        out.push(Piece::Error(
            message.unwrap_or("upstream error").to_string(),
        ));
        return;
    }
    if !*started {
        *started = true;
        out.push(Piece::Start {
            id: chunk.get_str("id").unwrap_or_default().to_string(),
            model: chunk.get_str("model").unwrap_or_default().to_string(),
            created: chunk.get_u64("created").unwrap_or_default(),
            input_tokens: None,
        });
    }
    let choices = chunk.get("choices").and_then(|c| c.as_array());
    let mut choices = choices.iter().flat_map(|c| c.iter());
    // Choice 0: the one with `index` 0, or the first without one.
    if let Some(choice) = choices.find(|c| c.get_u64("index").unwrap_or(0) == 0) {
        decode_choice(&choice, out);
    }
    if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
        out.push(Piece::Usage {
            input: usage.get_u64("prompt_tokens").unwrap_or_default(),
            output: usage.get_u64("completion_tokens").unwrap_or_default(),
        });
    }
}

fn decode_choice(choice: &Value<'_, '_>, out: &mut Vec<Piece>) {
    if let Some(delta) = choice.get("delta") {
        let reasoning = delta
            .get_str("reasoning_content")
            .or_else(|| delta.get_str("reasoning"));
        if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
            out.push(Piece::Reasoning(text.to_string()));
        }
        if let Some(text) = delta.get_str("content").filter(|t| !t.is_empty()) {
            out.push(Piece::Text(text.to_string()));
        }
        let calls = delta.get("tool_calls").and_then(|c| c.as_array());
        for (position, call) in calls.iter().flat_map(|c| c.iter()).enumerate() {
            let function = call.get("function");
            out.push(Piece::ToolCall {
                index: call.get_u64("index").unwrap_or(position as u64) as usize,
                id: call.get_str("id").map(str::to_string),
                name: function
                    .as_ref()
                    .and_then(|f| f.get_str("name"))
                    .map(str::to_string),
                arguments: function
                    .as_ref()
                    .and_then(|f| f.get_str("arguments"))
                    .unwrap_or_default()
                    .to_string(),
            });
        }
    }
    if let Some(reason) = choice.get_str("finish_reason") {
        out.push(Piece::Finish {
            reason: reason.to_string(),
            // vLLM names the stop string that matched.
            stop_sequence: choice.get_str("stop_reason").map(str::to_string),
        });
    }
}

/// Writes pieces as `chat.completion.chunk` events.
#[derive(Debug, Default)]
pub struct ChunkEncoder {
    id: String,
    created: u64,
    model: String,
    started: bool,
    strip_usage: bool,
    withheld: Option<Vec<u8>>,
    ended: bool,
}

impl ChunkEncoder {
    pub fn new(strip_usage: bool) -> Self {
        Self {
            strip_usage,
            ..Self::default()
        }
    }

    pub fn take_withheld(&mut self) -> Option<Vec<u8>> {
        self.withheld.take()
    }

    pub fn encode(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        if let Piece::Start {
            id, model, created, ..
        } = piece
        {
            self.id.clone_from(id);
            self.model.clone_from(model);
            self.created = *created;
            self.started = true;
            self.event(out, r#""choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]"#);
            return;
        }
        let mut fields = String::new();
        match piece {
            Piece::Start { .. } => {}
            Piece::Text(text) => delta(&mut fields, "content", text),
            Piece::Reasoning(text) => delta(&mut fields, "reasoning_content", text),
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                fields.push_str(r#""choices":[{"index":0,"delta":{"tool_calls":[{"index":"#);
                fields.push_str(&index.to_string());
                if let Some(id) = id {
                    fields.push_str(r#","id":"#);
                    push_json_string(&mut fields, id);
                    fields.push_str(r#","type":"function""#);
                }
                fields.push_str(r#","function":{"#);
                if let Some(name) = name {
                    fields.push_str(r#""name":"#);
                    push_json_string(&mut fields, name);
                    fields.push(',');
                }
                fields.push_str(r#""arguments":"#);
                push_json_string(&mut fields, arguments);
                fields.push_str(r#"}}]},"finish_reason":null}]"#);
            }
            Piece::Finish { reason, .. } => {
                fields.push_str(r#""choices":[{"index":0,"delta":{},"finish_reason":"#);
                push_json_string(&mut fields, reason);
                fields.push_str("}]");
            }
            Piece::Usage { input, output } => {
                fields = format!(
                    r#""choices":[],"usage":{{"prompt_tokens":{input},"completion_tokens":{output},"total_tokens":{}}}"#,
                    input + output
                );
                if self.strip_usage {
                    let mut event = Vec::new();
                    self.event(&mut event, &fields);
                    self.withheld = Some(event);
                    return;
                }
            }
            Piece::Error(message) => {
                out.extend_from_slice(b"data: {\"error\":{\"message\":");
                let mut text = String::new();
                push_json_string(&mut text, message);
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b",\"type\":\"upstream_error\"}}\n\n");
                return;
            }
            Piece::Done => {
                if !self.ended {
                    self.ended = true;
                    out.extend_from_slice(b"data: [DONE]\n\n");
                }
                return;
            }
        }
        self.event(out, &fields);
    }

    /// A chunk under the stream's id; `fields` go inside the object.
    fn event(&self, out: &mut Vec<u8>, fields: &str) {
        let mut event = String::with_capacity(fields.len() + 96);
        event.push_str("data: {\"id\":");
        push_json_string(&mut event, &self.id);
        event.push_str(",\"object\":\"chat.completion.chunk\",\"created\":");
        event.push_str(&self.created.to_string());
        event.push_str(",\"model\":");
        push_json_string(&mut event, &self.model);
        event.push(',');
        event.push_str(fields);
        event.push_str("}\n\n");
        out.extend_from_slice(event.as_bytes());
    }
}

fn delta(fields: &mut String, key: &str, text: &str) {
    fields.push_str(r#""choices":[{"index":0,"delta":{""#);
    fields.push_str(key);
    fields.push_str("\":");
    push_json_string(fields, text);
    fields.push_str(r#"},"finish_reason":null}]"#);
}
