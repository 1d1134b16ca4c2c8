//! Whole answers and error bodies between Responses and chat completions, and the
//! Response object the stream encoder sends too. A body that does not parse as what it
//! should be is passed on unchanged (`None`): the client sees what the upstream said.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::value::{
    chat_error_message, chat_tool_calls, first_choice, insert, now, parse_answer,
};
use super::{finish_from_responses, finish_to_responses};

/// One output item of a Response, its text whole.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Message {
        id: String,
        text: String,
    },
    /// Reasoning as the model wrote it (`reasoning_text`), not a summary: that is what chat
    /// upstreams send.
    Reasoning {
        id: String,
        text: String,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
    },
}

impl Item {
    pub(super) fn id(&self) -> &str {
        match self {
            Self::Message { id, .. } | Self::Reasoning { id, .. } | Self::Call { id, .. } => id,
        }
    }

    /// The item as it stands in `output` (`status`: in_progress, completed, incomplete).
    pub(super) fn value(&self, status: &str) -> OwnedValue {
        match self {
            Self::Message { id, text } => json!({
                "type": "message", "id": id, "status": status, "role": "assistant",
                "content": if status == "in_progress" { json!([]) } else { json!([output_text(text)]) },
            }),
            Self::Reasoning { id, text } => json!({
                "type": "reasoning", "id": id, "status": status, "summary": [],
                "content": if status == "in_progress" { json!([]) } else { json!([{"type": "reasoning_text", "text": text}]) },
            }),
            Self::Call {
                id,
                call_id,
                name,
                arguments,
            } => json!({
                "type": "function_call", "id": id, "call_id": call_id, "name": name,
                "arguments": arguments, "status": status,
            }),
        }
    }
}

/// An `output_text` content part.
pub(super) fn output_text(text: &str) -> OwnedValue {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// What a Response says besides its items.
#[derive(Debug, Default)]
pub(super) struct Outline<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub created: u64,
    /// in_progress, completed or incomplete.
    pub status: &'a str,
    /// Why it is incomplete.
    pub incomplete: Option<&'a str>,
    pub usage: Option<Usage>,
}

/// A Response's token counts.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Usage {
    pub input: u64,
    pub output: u64,
    /// Of the input, read from the prompt cache.
    pub cached: u64,
    /// Of the output, reasoning.
    pub reasoning: u64,
}

/// A Response object (`object: "response"`) with the fields the SDK requires.
pub(super) fn response_value(outline: &Outline<'_>, output: Vec<OwnedValue>) -> OwnedValue {
    // The SDK requires `cache_write_tokens`; chat does not count cache writes (Anthropic's
    // are in its prompt tokens).
    let usage = outline.usage.map_or_else(OwnedValue::null, |usage| {
        json!({
            "input_tokens": usage.input,
            "input_tokens_details": {"cached_tokens": usage.cached, "cache_write_tokens": 0},
            "output_tokens": usage.output,
            "output_tokens_details": {"reasoning_tokens": usage.reasoning},
            "total_tokens": usage.input + usage.output,
        })
    });
    json!({
        "id": outline.id, "object": "response", "created_at": outline.created,
        "status": outline.status, "error": null,
        "incomplete_details": outline.incomplete.map_or_else(OwnedValue::null, |reason| json!({"reason": reason})),
        "instructions": null, "metadata": {}, "model": outline.model, "output": output,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
        "usage": usage,
    })
}

/// A chat id as a Response id (`resp_…`), kept as it is when it already is one.
pub(super) fn response_id(id: &str) -> String {
    match id {
        "" => "resp_gpt_api".to_string(),
        id if id.starts_with("resp_") => id.to_string(),
        id => format!("resp_{id}"),
    }
}

/// The id of output item `index` of Response `id`: its kind's prefix and the response's.
pub(super) fn item_id(prefix: &str, response_id: &str, index: usize) -> String {
    let base = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{base}_{index}")
}

// === Responses to chat ===

/// A Response as a chat completion (`model` where the Response names none).
pub fn answer_to_chat(body: &[u8], model: &str) -> Option<Vec<u8>> {
    let response = parse_answer(body)?;
    let mut text = String::new();
    let mut refusal = String::new();
    let mut reasoning = Vec::new();
    let mut calls = Vec::new();
    for item in response.get("output")?.as_array()? {
        match item.get_str("type") {
            Some("message") => {
                for part in item
                    .get("content")
                    .and_then(|c| c.as_array())
                    .into_iter()
                    .flatten()
                {
                    match part.get_str("type") {
                        Some("output_text") => {
                            text.push_str(part.get_str("text").unwrap_or_default())
                        }
                        Some("refusal") => {
                            refusal.push_str(part.get_str("refusal").unwrap_or_default())
                        }
                        _ => {}
                    }
                }
            }
            Some("reasoning") => {
                let summary = item.get("summary").and_then(|s| s.as_array());
                let content = item.get("content").and_then(|c| c.as_array());
                for part in summary.into_iter().chain(content).flatten() {
                    reasoning.extend(part.get_str("text").map(str::to_string));
                }
            }
            Some("function_call") => calls.push(json!({
                "id": item.get_str("call_id").unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": item.get_str("name").unwrap_or_default(),
                    "arguments": item.get_str("arguments").unwrap_or("{}"),
                },
            })),
            _ => {}
        }
    }
    let incomplete = response
        .get("incomplete_details")
        .and_then(|d| d.get_str("reason"))
        .filter(|_| response.get_str("status") == Some("incomplete"));
    let reason = match incomplete {
        Some(reason) => finish_from_responses(reason),
        None if !calls.is_empty() => "tool_calls",
        None => "stop",
    };
    // OpenAI's own answers hold null, not "", beside tool calls.
    let content = if text.is_empty() && !calls.is_empty() {
        OwnedValue::null()
    } else {
        OwnedValue::from(text)
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !refusal.is_empty() {
        insert(&mut message, "refusal", OwnedValue::from(refusal));
    }
    if !reasoning.is_empty() {
        insert(
            &mut message,
            "reasoning_content",
            OwnedValue::from(reasoning.join("\n\n")),
        );
    }
    if !calls.is_empty() {
        insert(&mut message, "tool_calls", OwnedValue::from(calls));
    }
    let usage = response.get("usage");
    let tokens = |key| usage.and_then(|u| u.get_u64(key)).unwrap_or_default();
    let detail = |holder, key| {
        usage
            .and_then(|u| u.get(holder))
            .and_then(|d| d.get_u64(key))
            .unwrap_or_default()
    };
    let created = response
        .get_u64("created_at")
        .or_else(|| response.get_f64("created_at").map(|t| t as u64))
        .unwrap_or_else(now);
    let completion = json!({
        "id": response.get_str("id").unwrap_or_default(),
        "object": "chat.completion",
        "created": created,
        "model": response.get_str("model").filter(|m| !m.is_empty()).unwrap_or(model),
        "choices": [{"index": 0, "message": message, "finish_reason": reason}],
        "usage": {
            "prompt_tokens": tokens("input_tokens"),
            "completion_tokens": tokens("output_tokens"),
            "total_tokens": tokens("input_tokens") + tokens("output_tokens"),
            "prompt_tokens_details": {"cached_tokens": detail("input_tokens_details", "cached_tokens")},
            "completion_tokens_details": {"reasoning_tokens": detail("output_tokens_details", "reasoning_tokens")},
        },
    });
    Some(completion.encode().into_bytes())
}

// === chat to Responses ===

/// A chat completion as a Response: its reasoning, its text (and refusal) as one message,
/// its tool calls as `function_call` items, in that order.
pub fn answer_from_chat(body: &[u8]) -> Option<Vec<u8>> {
    let completion = parse_answer(body)?;
    let choice = first_choice(&completion)?;
    let message = choice.get("message")?;
    let id = response_id(completion.get_str("id").unwrap_or_default());
    let reason = choice.get_str("finish_reason").unwrap_or("stop");
    let incomplete = finish_to_responses(reason);
    let status = if incomplete.is_some() {
        "incomplete"
    } else {
        "completed"
    };
    let mut output = Vec::new();
    let reasoning = message
        .get_str("reasoning_content")
        .or_else(|| message.get_str("reasoning"));
    if let Some(text) = reasoning.filter(|t| !t.is_empty()) {
        let item = Item::Reasoning {
            id: item_id("rs", &id, output.len()),
            text: text.to_string(),
        };
        output.push(item.value(status));
    }
    let text = message.get_str("content").unwrap_or_default();
    let refusal = message.get_str("refusal").filter(|r| !r.is_empty());
    if !text.is_empty() || refusal.is_some() {
        let item = Item::Message {
            id: item_id("msg", &id, output.len()),
            text: text.to_string(),
        };
        let mut value = item.value(status);
        if let Some(refusal) = refusal {
            let parts = value.get_mut("content").and_then(|c| c.as_array_mut());
            if let Some(parts) = parts {
                if text.is_empty() {
                    parts.clear();
                }
                parts.push(json!({"type": "refusal", "refusal": refusal}));
            }
        }
        output.push(value);
    }
    for call in chat_tool_calls(message) {
        let item = Item::Call {
            id: item_id("fc", &id, output.len()),
            call_id: call.id.unwrap_or_default().to_string(),
            name: call.name.to_string(),
            arguments: call.arguments.to_string(),
        };
        output.push(item.value("completed"));
    }
    let usage = completion.get("usage");
    let tokens = |holder: Option<&str>, key| {
        let holder = match holder {
            Some(holder) => usage.and_then(|u| u.get(holder)),
            None => usage,
        };
        holder.and_then(|h| h.get_u64(key)).unwrap_or_default()
    };
    let outline = Outline {
        id: &id,
        model: completion.get_str("model").unwrap_or_default(),
        created: completion.get_u64("created").unwrap_or_else(now),
        status,
        incomplete,
        usage: usage.map(|_| Usage {
            input: tokens(None, "prompt_tokens"),
            output: tokens(None, "completion_tokens"),
            cached: tokens(Some("prompt_tokens_details"), "cached_tokens"),
            reasoning: tokens(Some("completion_tokens_details"), "reasoning_tokens"),
        }),
    };
    Some(response_value(&outline, output).encode().into_bytes())
}

// === errors ===

/// The fields of an OpenAI-shaped error body (both sides use it), or the body as the
/// message where it is not one.
fn error_fields(body: &[u8]) -> (String, Option<OwnedValue>) {
    let value = parse_answer(body);
    let error = value.as_ref().and_then(|v| v.get("error"));
    (
        chat_error_message(body),
        error.filter(|e| e.is_object()).cloned(),
    )
}

/// `{"error":{message,type,param,code}}` with what the body says and, where it says
/// nothing, what `status` means.
fn error_shape(status: u16, body: &[u8]) -> Vec<u8> {
    let (message, error) = error_fields(body);
    let field = |key| {
        error
            .as_ref()
            .and_then(|e| e.get(key))
            .filter(|v| !v.is_null())
            .cloned()
    };
    json!({"error": {
        "message": message,
        "type": field("type").unwrap_or_else(|| OwnedValue::from(super::error_type(status))),
        "param": field("param").unwrap_or_else(OwnedValue::null),
        "code": field("code").unwrap_or_else(|| OwnedValue::from(super::error_code(status))),
    }})
    .encode()
    .into_bytes()
}

/// A Responses error body as chat's (the same shape, its fields completed).
pub fn error_to_chat(body: &[u8]) -> Vec<u8> {
    error_shape(500, body)
}

/// A chat error body as Responses' (the same shape, its fields completed from `status`).
pub fn error_from_chat(status: u16, body: &[u8]) -> Vec<u8> {
    error_shape(status, body)
}
