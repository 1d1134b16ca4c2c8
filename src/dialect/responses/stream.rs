//! Responses streams as pieces. Every event carries its `type` and a `sequence_number`
//! counting the stream's events; the output is a list of items (a message, reasoning, a
//! function call), each opened (`output_item.added`), filled by deltas and closed
//! (`.done` events with its whole text); `response.completed` (or `.incomplete`) carries
//! the whole Response with its usage. Pieces name tool calls by their own count, items by
//! their place in the output, so both sides keep a map.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::super::piece::{push_text, text_of};
use super::super::Piece;
use super::response::{item_id, output_text, response_id, response_value, Item, Outline, Usage};
use super::{finish_from_responses, finish_to_responses};
use crate::json::{self, push_json_string};

/// Reads events with simd-json's tape into a buffer kept between events (see `chat`).
#[derive(Debug, Default)]
pub struct EventDecoder {
    started: bool,
    /// Output index of each function call, in the order they started, and whether its
    /// arguments came yet (a server may send them only whole, in the `done` events).
    calls: Vec<(u64, bool)>,
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
        let output_index = event.get_u64("output_index").unwrap_or_default();
        match event.get_str("type").unwrap_or_default() {
            "response.created" | "response.queued" | "response.in_progress" if !self.started => {
                self.started = true;
                let response = event.get("response");
                let response = response.as_ref();
                let created = response.and_then(|r| {
                    r.get_u64("created_at")
                        .or_else(|| r.get_f64("created_at").map(|t| t as u64))
                });
                out.push(Piece::Start {
                    id: text_of(response, "id"),
                    model: text_of(response, "model"),
                    created: created.unwrap_or_default(),
                    input_tokens: None,
                });
            }
            "response.output_item.added" | "response.output_item.done" => {
                let Some(item) = event.get("item") else {
                    return;
                };
                if item.get_str("type") == Some("function_call") {
                    self.call_item(output_index, &item, out);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                push_text(out, Piece::Text, event.get_str("delta"));
            }
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                push_text(out, Piece::Reasoning, event.get_str("delta"));
            }
            "response.function_call_arguments.delta" => {
                let delta = event.get_str("delta").unwrap_or_default();
                if let Some(index) = self.call_at(output_index) {
                    self.calls[index].1 = true;
                    push_arguments(out, index, delta);
                }
            }
            "response.function_call_arguments.done" => {
                let arguments = event.get_str("arguments").unwrap_or_default();
                if let Some(index) = self.call_at(output_index) {
                    self.whole_arguments(index, arguments, out);
                }
            }
            "response.completed" | "response.incomplete" => {
                let Some(response) = event.get("response") else {
                    return;
                };
                let incomplete = response
                    .get("incomplete_details")
                    .and_then(|d| d.get_str("reason").map(str::to_string))
                    .filter(|_| response.get_str("status") == Some("incomplete"));
                let reason = match incomplete {
                    Some(reason) => finish_from_responses(&reason),
                    None if !self.calls.is_empty() => "tool_calls",
                    None => "stop",
                };
                out.push(Piece::Finish {
                    reason: reason.to_string(),
                    stop_sequence: None,
                });
                if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
                    out.push(Piece::Usage {
                        input: usage.get_u64("input_tokens").unwrap_or_default(),
                        output: usage.get_u64("output_tokens").unwrap_or_default(),
                    });
                }
                out.push(Piece::Done);
            }
            "response.failed" => {
                let response = event.get("response");
                let error = response.as_ref().and_then(|r| r.get("error"));
                out.push(Piece::Error(text_or(
                    error.as_ref(),
                    "message",
                    "response failed",
                )));
            }
            "error" => {
                let message = event.get_str("message").map(str::to_string);
                let nested = event.get("error");
                out.push(Piece::Error(message.unwrap_or_else(|| {
                    text_or(nested.as_ref(), "message", "upstream error")
                })));
            }
            _ => {}
        }
    }

    fn call_at(&self, output_index: u64) -> Option<usize> {
        self.calls.iter().position(|&(at, _)| at == output_index)
    }

    /// A `function_call` item, added or done: a call's first piece the first time it is
    /// seen, its arguments where no delta brought them.
    fn call_item(&mut self, output_index: u64, item: &Value<'_, '_>, out: &mut Vec<Piece>) {
        let arguments = item.get_str("arguments").unwrap_or_default();
        let index = match self.call_at(output_index) {
            Some(index) => index,
            None => {
                self.calls.push((output_index, false));
                out.push(Piece::ToolCall {
                    index: self.calls.len() - 1,
                    id: Some(text_of(Some(item), "call_id")),
                    name: Some(text_of(Some(item), "name")),
                    arguments: String::new(),
                });
                self.calls.len() - 1
            }
        };
        self.whole_arguments(index, arguments, out);
    }

    fn whole_arguments(&mut self, index: usize, arguments: &str, out: &mut Vec<Piece>) {
        if !self.calls[index].1 && !arguments.is_empty() {
            self.calls[index].1 = true;
            push_arguments(out, index, arguments);
        }
    }
}

fn push_arguments(out: &mut Vec<Piece>, index: usize, arguments: &str) {
    out.push(Piece::ToolCall {
        index,
        id: None,
        name: None,
        arguments: arguments.to_string(),
    });
}

fn text_or(holder: Option<&Value<'_, '_>>, key: &str, default: &str) -> String {
    holder
        .and_then(|h| h.get_str(key))
        .unwrap_or(default)
        .to_string()
}

/// An output item being written, and the status its `.done` events gave it once they
/// went out (the Response at the end lists it so).
#[derive(Debug)]
struct Output {
    item: Item,
    closed: Option<&'static str>,
}

/// Writes pieces as Responses events. A message or reasoning item is closed when another
/// item opens; function calls stay open to the end, as a chat stream may interleave their
/// argument fragments.
#[derive(Debug, Default)]
pub struct EventEncoder {
    id: String,
    model: String,
    created: u64,
    started: bool,
    ended: bool,
    /// The next event's `sequence_number`.
    sequence: u64,
    output: Vec<Output>,
    /// The open message or reasoning item (output index).
    open: Option<usize>,
    /// Output index of each tool call, by piece index.
    calls: Vec<(usize, usize)>,
    finish: Option<String>,
    usage: Option<(u64, u64)>,
}

impl EventEncoder {
    pub fn encode(&mut self, piece: &Piece, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        if let Piece::Start {
            id, model, created, ..
        } = piece
        {
            if !self.started {
                self.start(id, model, *created, out);
            }
            return;
        }
        if !self.started {
            self.start("", "", 0, out);
        }
        match piece {
            Piece::Start { .. } => {}
            Piece::Text(text) => {
                let index = self.open_item(true, out);
                if let Item::Message { text: whole, .. } = &mut self.output[index].item {
                    whole.push_str(text);
                }
                self.delta(
                    out,
                    "response.output_text.delta",
                    index,
                    text,
                    r#","logprobs":[]"#,
                );
            }
            Piece::Reasoning(text) => {
                let index = self.open_item(false, out);
                if let Item::Reasoning { text: whole, .. } = &mut self.output[index].item {
                    whole.push_str(text);
                }
                self.delta(out, "response.reasoning_text.delta", index, text, "");
            }
            Piece::ToolCall {
                index,
                id,
                name,
                arguments,
            } => self.tool_call(*index, id.as_deref(), name.as_deref(), arguments, out),
            Piece::Finish { reason, .. } => {
                self.finish = Some(reason.clone());
                if self.usage.is_some() {
                    self.end(out);
                }
            }
            Piece::Usage { input, output } => {
                self.usage = Some((*input, *output));
                if self.finish.is_some() {
                    self.end(out);
                }
            }
            Piece::Error(message) => {
                out.extend_from_slice(&error_event("upstream_error", message, self.sequence));
                self.sequence += 1;
            }
            Piece::Done => self.end(out),
        }
    }

    fn start(&mut self, id: &str, model: &str, created: u64, out: &mut Vec<u8>) {
        self.started = true;
        self.id = response_id(id);
        self.model = model.to_string();
        self.created = created;
        let outline = Outline {
            id: &self.id,
            model,
            created,
            status: "in_progress",
            ..Outline::default()
        };
        let response = response_value(&outline, Vec::new()).encode();
        for kind in ["response.created", "response.in_progress"] {
            self.event(out, kind, &format!(r#""response":{response}"#));
        }
    }

    /// The open message (or reasoning) item, opened after closing another.
    fn open_item(&mut self, message: bool, out: &mut Vec<u8>) -> usize {
        if let Some(index) = self.open {
            if matches!(self.output[index].item, Item::Message { .. }) == message {
                return index;
            }
            self.close(index, "completed", out);
        }
        let index = self.output.len();
        let (prefix, part) = if message {
            ("msg", output_text(""))
        } else {
            (
                "rs",
                simd_json::json!({"type": "reasoning_text", "text": ""}),
            )
        };
        let id = item_id(prefix, &self.id, index);
        let item = if message {
            Item::Message {
                id,
                text: String::new(),
            }
        } else {
            Item::Reasoning {
                id,
                text: String::new(),
            }
        };
        self.add_item(item, out);
        self.open = Some(index);
        let fields = format!(
            r#"{},"content_index":0,"part":{}"#,
            self.at(index),
            part.encode()
        );
        self.event(out, "response.content_part.added", &fields);
        index
    }

    fn add_item(&mut self, item: Item, out: &mut Vec<u8>) {
        let index = self.output.len();
        let fields = format!(
            r#""output_index":{index},"item":{}"#,
            item.value("in_progress").encode()
        );
        self.output.push(Output { item, closed: None });
        self.event(out, "response.output_item.added", &fields);
    }

    fn tool_call(
        &mut self,
        call: usize,
        id: Option<&str>,
        name: Option<&str>,
        arguments: &str,
        out: &mut Vec<u8>,
    ) {
        let known = self
            .calls
            .iter()
            .find(|&&(c, _)| c == call)
            .map(|&(_, index)| index);
        let index = match known {
            Some(index) => index,
            None => {
                if let Some(open) = self.open.take() {
                    self.close(open, "completed", out);
                }
                let index = self.output.len();
                let item = Item::Call {
                    id: item_id("fc", &self.id, index),
                    call_id: id.map_or_else(|| format!("call_{call}"), str::to_string),
                    name: name.unwrap_or_default().to_string(),
                    arguments: String::new(),
                };
                self.add_item(item, out);
                self.calls.push((call, index));
                index
            }
        };
        if arguments.is_empty() {
            return;
        }
        if let Item::Call {
            arguments: whole, ..
        } = &mut self.output[index].item
        {
            whole.push_str(arguments);
        }
        self.delta(
            out,
            "response.function_call_arguments.delta",
            index,
            arguments,
            "",
        );
    }

    /// `"item_id":…,"output_index":…` of item `index`.
    fn at(&self, index: usize) -> String {
        let mut at = String::from(r#""item_id":"#);
        push_json_string(&mut at, self.output[index].item.id());
        at.push_str(&format!(r#","output_index":{index}"#));
        at
    }

    fn delta(&mut self, out: &mut Vec<u8>, kind: &str, index: usize, text: &str, extra: &str) {
        let mut fields = self.at(index);
        if !matches!(self.output[index].item, Item::Call { .. }) {
            fields.push_str(r#","content_index":0"#);
        }
        fields.push_str(r#","delta":"#);
        push_json_string(&mut fields, text);
        fields.push_str(extra);
        self.event(out, kind, &fields);
    }

    /// The `.done` events of item `index`, with its whole text.
    fn close(&mut self, index: usize, status: &'static str, out: &mut Vec<u8>) {
        if self.output[index].closed.is_some() {
            return;
        }
        self.output[index].closed = Some(status);
        let at = self.at(index);
        let item = self.output[index].item.clone();
        let mut whole = String::new();
        match &item {
            Item::Message { text, .. } | Item::Reasoning { text, .. } => {
                let (kind, part) = match &item {
                    Item::Message { .. } => ("response.output_text.done", output_text(text)),
                    _ => (
                        "response.reasoning_text.done",
                        simd_json::json!({"type": "reasoning_text", "text": text}),
                    ),
                };
                push_json_string(&mut whole, text);
                let logprobs = if kind == "response.output_text.done" {
                    r#","logprobs":[]"#
                } else {
                    ""
                };
                self.event(
                    out,
                    kind,
                    &format!(r#"{at},"content_index":0,"text":{whole}{logprobs}"#),
                );
                let fields = format!(r#"{at},"content_index":0,"part":{}"#, part.encode());
                self.event(out, "response.content_part.done", &fields);
            }
            Item::Call {
                name, arguments, ..
            } => {
                push_json_string(&mut whole, arguments);
                let mut fields = format!(r#"{at},"arguments":{whole},"name":"#);
                push_json_string(&mut fields, name);
                self.event(out, "response.function_call_arguments.done", &fields);
            }
        }
        let fields = format!(
            r#""output_index":{index},"item":{}"#,
            item.value(status).encode()
        );
        self.event(out, "response.output_item.done", &fields);
    }

    /// The closing events, once: every item's `.done` events, then the whole Response.
    fn end(&mut self, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.ended = true;
        let incomplete = self.finish.as_deref().and_then(finish_to_responses);
        let status = if incomplete.is_some() {
            "incomplete"
        } else {
            "completed"
        };
        // Only the text the limit cut is incomplete; a call that streamed whole is not.
        for index in 0..self.output.len() {
            let item_status = match self.output[index].item {
                Item::Call { .. } => "completed",
                _ => status,
            };
            self.close(index, item_status, out);
        }
        let output = self
            .output
            .iter()
            .map(|o| o.item.value(o.closed.unwrap_or(status)))
            .collect();
        let outline = Outline {
            id: &self.id,
            model: &self.model,
            created: self.created,
            status,
            incomplete,
            usage: self.usage.map(|(input, output)| Usage {
                input,
                output,
                ..Usage::default()
            }),
        };
        let response = response_value(&outline, output).encode();
        let kind = if incomplete.is_some() {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.event(out, kind, &format!(r#""response":{response}"#));
    }

    /// `event: kind` with `{"type":kind,"sequence_number":n,<fields>}`.
    fn event(&mut self, out: &mut Vec<u8>, kind: &str, fields: &str) {
        let sequence = self.sequence;
        self.sequence += 1;
        out.extend_from_slice(
            format!(
                "event: {kind}\ndata: {{\"type\":\"{kind}\",\"sequence_number\":{sequence},{fields}}}\n\n"
            )
            .as_bytes(),
        );
    }
}

/// An in-band `error` event.
pub(super) fn error_event(code: &str, message: &str, sequence: u64) -> Vec<u8> {
    let mut data = String::from(r#"{"type":"error","code":"#);
    push_json_string(&mut data, code);
    data.push_str(r#","message":"#);
    push_json_string(&mut data, message);
    data.push_str(&format!(r#","param":null,"sequence_number":{sequence}}}"#));
    format!("event: error\ndata: {data}\n\n").into_bytes()
}
