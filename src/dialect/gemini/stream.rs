//! Gemini streams as pieces. Every event is a whole `GenerateContentResponse`: text and
//! thoughts as parts, each function call whole in one part, the finish reason and the final
//! usage on the last event, and no end marker (the stream just ends). Served as SSE
//! (`?alt=sse`, events `data: …\r\n\r\n`) or, without it, as one JSON array written element
//! by element.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::super::value::now;
use super::super::Piece;
use super::{call_id, error_body, finish_from_gemini, finish_to_gemini};
use crate::json::{self, push_json_string};

/// Reads events with simd-json's tape into a buffer kept between events (see `chat`).
#[derive(Debug, Default)]
pub struct EventDecoder {
    started: bool,
    response_id: String,
    calls: usize,
    finished: bool,
    /// The last usage seen: Gemini repeats it, growing, on every event.
    usage: Option<(u64, u64)>,
    usage_sent: bool,
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
        if let Some(error) = event.get("error") {
            let message = error.get_str("message").unwrap_or("upstream error");
            out.push(Piece::Error(message.to_string()));
            return;
        }
        if let Some(usage) = event.get("usageMetadata") {
            let tokens = |key| usage.get_u64(key).unwrap_or_default();
            self.usage = Some((
                tokens("promptTokenCount") + tokens("toolUsePromptTokenCount"),
                tokens("candidatesTokenCount") + tokens("thoughtsTokenCount"),
            ));
        }
        if !self.started {
            self.started = true;
            self.response_id = event.get_str("responseId").unwrap_or_default().to_string();
            out.push(Piece::Start {
                id: self.response_id.clone(),
                model: event
                    .get_str("modelVersion")
                    .unwrap_or_default()
                    .to_string(),
                created: now(),
                input_tokens: self.usage.map(|(input, _)| input),
            });
        }
        let candidates = event.get("candidates").and_then(|c| c.as_array());
        let mut candidates = candidates.iter().flat_map(|c| c.iter());
        // Candidate 0: the one with `index` 0, or the first without one.
        if let Some(candidate) = candidates.find(|c| c.get_u64("index").unwrap_or(0) == 0) {
            self.decode_candidate(&candidate, out);
        } else if event
            .get("promptFeedback")
            .is_some_and(|f| f.get_str("blockReason").is_some())
        {
            self.finished = true;
            out.push(Piece::Finish {
                reason: "content_filter".into(),
                stop_sequence: None,
            });
        }
        // Usage once, at the finish (or after it, if it comes later).
        if let (true, false, Some((input, output))) = (self.finished, self.usage_sent, self.usage) {
            self.usage_sent = true;
            out.push(Piece::Usage { input, output });
        }
    }

    fn decode_candidate(&mut self, candidate: &Value<'_, '_>, out: &mut Vec<Piece>) {
        let parts = candidate
            .get("content")
            .and_then(|c| c.get("parts"))
            .and_then(|p| p.as_array());
        for part in parts.iter().flat_map(|p| p.iter()) {
            if let Some(call) = part.get("functionCall") {
                let id = call
                    .get_str("id")
                    .map_or_else(|| call_id(&self.response_id, self.calls), str::to_string);
                out.push(Piece::ToolCall {
                    index: self.calls,
                    id: Some(id),
                    name: Some(call.get_str("name").unwrap_or_default().to_string()),
                    arguments: call
                        .get("args")
                        .map_or_else(|| "{}".to_string(), |a| a.encode()),
                });
                self.calls += 1;
                continue;
            }
            let Some(text) = part.get_str("text").filter(|t| !t.is_empty()) else {
                continue;
            };
            if part.get_bool("thought") == Some(true) {
                out.push(Piece::Reasoning(text.to_string()));
            } else {
                out.push(Piece::Text(text.to_string()));
            }
        }
        if let Some(reason) = candidate.get_str("finishReason") {
            let reason = match finish_from_gemini(reason) {
                "stop" if self.calls > 0 => "tool_calls",
                reason => reason,
            };
            self.finished = true;
            out.push(Piece::Finish {
                reason: reason.into(),
                stop_sequence: None,
            });
        }
    }
}

/// Appends one element of a JSON-array stream: `[` before the first, `\r\n,\r\n` between
/// (as Gemini writes them). Lets an `?alt=sse` stream be re-framed for a client that asked
/// for the array without parsing its events.
pub fn array_element(element: &[u8], first: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(if first { b"[" } else { b"\r\n,\r\n" });
    out.extend_from_slice(element);
}

/// Closes a JSON-array stream (`[]` when no element was written).
pub fn array_close(first: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(if first { b"[]" } else { b"]" });
}

/// A tool call whose argument fragments are still arriving.
#[derive(Debug)]
struct OpenCall {
    index: usize,
    id: Option<String>,
    name: String,
    arguments: String,
}

/// Writes pieces as Gemini events. Tool calls are held until whole (Gemini sends each in one
/// part); the finish is held until the usage or the end, since Gemini sends both on its
/// last event.
#[derive(Debug, Default)]
pub struct EventEncoder {
    /// A JSON-array stream rather than SSE.
    array: bool,
    elements: usize,
    id: String,
    model: String,
    call: Option<OpenCall>,
    finish: Option<&'static str>,
    usage: Option<(u64, u64)>,
    finished: bool,
    ended: bool,
}

impl EventEncoder {
    /// `array`: the JSON-array stream of `streamGenerateContent` without `alt=sse`.
    pub fn new(array: bool) -> Self {
        Self {
            array,
            ..Self::default()
        }
    }

    /// The client already has the array's opening (a continued stream whose delivered
    /// elements replayed into nothing this encoder writes, e.g. a usage-only chunk).
    pub fn array_opened(&mut self) {
        self.elements = self.elements.max(1);
    }

    pub fn encode(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        if !matches!(piece, Piece::ToolCall { .. }) {
            self.close_call(out);
        }
        match piece {
            Piece::Start { id, model, .. } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
            }
            Piece::Text(text) => self.parts(out, &text_part(text, false)),
            Piece::Reasoning(text) => self.parts(out, &text_part(text, true)),
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                if self.call.as_ref().is_some_and(|c| c.index != *index) {
                    self.close_call(out);
                }
                let call = self.call.get_or_insert_with(|| OpenCall {
                    index: *index,
                    id: id.clone(),
                    name: name.clone().unwrap_or_default(),
                    arguments: String::new(),
                });
                call.arguments.push_str(arguments);
            }
            Piece::Finish { reason, .. } => {
                self.finish = Some(finish_to_gemini(reason));
                if self.usage.is_some() {
                    self.last(out);
                }
            }
            Piece::Usage { input, output } => {
                self.usage = Some((*input, *output));
                if self.finish.is_some() {
                    self.last(out);
                }
            }
            Piece::Error(message) => {
                // The stream ends with the error: no finish event after it.
                self.finished = true;
                let body = error_body(500, message);
                self.element(out, &body);
            }
            Piece::Done => {
                if !self.ended {
                    self.ended = true;
                    self.last(out);
                    if self.array {
                        array_close(self.elements == 0, out);
                    }
                }
            }
        }
    }

    /// The held tool call as one `functionCall` part; arguments that are not a JSON object
    /// (cut off by the token limit) go as `{}`.
    fn close_call(&mut self, out: &mut Vec<u8>) {
        let Some(call) = self.call.take() else {
            return;
        };
        let mut arguments = call.arguments.into_bytes();
        let whole = json::read_copy(&arguments, |a| a.is_object()).unwrap_or(false);
        if !whole {
            arguments = b"{}".to_vec();
        }
        let mut part = String::from(r#"{"functionCall":{"#);
        if let Some(id) = &call.id {
            part.push_str(r#""id":"#);
            push_json_string(&mut part, id);
            part.push(',');
        }
        part.push_str(r#""name":"#);
        push_json_string(&mut part, &call.name);
        part.push_str(r#","args":"#);
        part.push_str(&String::from_utf8_lossy(&arguments));
        part.push_str("}}");
        self.parts(out, &part);
    }

    /// The last event, once: the finish reason and the usage.
    fn last(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut event = String::from(
            r#"{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":""#,
        );
        event.push_str(self.finish.unwrap_or("STOP"));
        event.push_str(r#"","index":0}],"#);
        if let Some((input, output)) = self.usage {
            event.push_str(&format!(
                r#""usageMetadata":{{"promptTokenCount":{input},"candidatesTokenCount":{output},"totalTokenCount":{}}},"#,
                input + output
            ));
        }
        self.identity(&mut event);
        self.element(out, &event);
    }

    /// An event with one candidate holding `parts` (JSON text).
    fn parts(&mut self, out: &mut Vec<u8>, parts: &str) {
        let mut event = String::with_capacity(parts.len() + 160);
        event.push_str(r#"{"candidates":[{"content":{"parts":["#);
        event.push_str(parts);
        event.push_str(r#"],"role":"model"},"index":0}],"#);
        self.identity(&mut event);
        self.element(out, &event);
    }

    /// `"modelVersion":…,"responseId":…}`: every Gemini event carries both.
    fn identity(&self, event: &mut String) {
        event.push_str(r#""modelVersion":"#);
        push_json_string(event, &self.model);
        event.push_str(r#","responseId":"#);
        push_json_string(event, &self.id);
        event.push('}');
    }

    fn element(&mut self, out: &mut Vec<u8>, json: &str) {
        if self.array {
            array_element(json.as_bytes(), self.elements == 0, out);
        } else {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(json.as_bytes());
            out.extend_from_slice(b"\r\n\r\n");
        }
        self.elements += 1;
    }
}

fn text_part(text: &str, thought: bool) -> String {
    let mut part = String::from(r#"{"text":"#);
    push_json_string(&mut part, text);
    if thought {
        part.push_str(r#","thought":true"#);
    }
    part.push('}');
    part
}
