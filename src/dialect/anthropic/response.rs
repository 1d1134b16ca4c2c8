//! Whole answers and error bodies between Anthropic Messages and chat completions. A body
//! that does not parse as what it should be is passed on unchanged: the client sees what the
//! upstream said, and the log row says it was malformed.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::{finish_from_anthropic, finish_to_anthropic};
use super::request::{push_tool_use_blocks, tool_call_of};
use super::stream::input_tokens;

/// Choice 0 of a completion (`index` 0, or the first without one).
fn first_choice(value: &OwnedValue) -> Option<&OwnedValue> {
    let choices = value.get("choices")?.as_array()?;
    choices
        .iter()
        .find(|c| c.get_u64("index").unwrap_or(0) == 0)
}

fn parse(body: &[u8]) -> Option<OwnedValue> {
    simd_json::to_owned_value(&mut body.to_vec()).ok()
}

/// A chat completion as an Anthropic message.
pub fn message_from_chat(body: &[u8]) -> Option<Vec<u8>> {
    let completion = parse(body)?;
    let choice = first_choice(&completion)?;
    let message = choice.get("message")?;
    let mut content = Vec::new();
    let reasoning = message
        .get_str("reasoning_content")
        .or_else(|| message.get_str("reasoning"));
    if let Some(thinking) = reasoning.filter(|t| !t.is_empty()) {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": ""}));
    }
    if let Some(text) = message.get_str("content").filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": text}));
    }
    push_tool_use_blocks(message, &mut content);
    let stop_sequence = choice.get_str("stop_reason");
    let reason = choice.get_str("finish_reason").unwrap_or("stop");
    let usage = completion.get("usage");
    let tokens = |key| usage.and_then(|u| u.get_u64(key)).unwrap_or_default();
    let message = json!({
        "id": completion.get_str("id").unwrap_or_default(),
        "type": "message",
        "role": "assistant",
        "model": completion.get_str("model").unwrap_or_default(),
        "content": content,
        "stop_reason": finish_to_anthropic(reason, stop_sequence),
        "stop_sequence": stop_sequence,
        "usage": {"input_tokens": tokens("prompt_tokens"), "output_tokens": tokens("completion_tokens")},
    });
    Some(message.encode().into_bytes())
}

/// An Anthropic message as a chat completion.
pub fn message_to_chat(body: &[u8]) -> Option<Vec<u8>> {
    let message = parse(body)?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in message.get("content")?.as_array()? {
        match block.get_str("type") {
            Some("text") => text.push_str(block.get_str("text").unwrap_or_default()),
            Some("thinking") => reasoning.push_str(block.get_str("thinking").unwrap_or_default()),
            Some("tool_use") => calls.push(tool_call_of(block)),
            _ => {}
        }
    }
    let mut reply = json!({"role": "assistant", "content": text});
    if let Some(fields) = reply.as_object_mut() {
        if !reasoning.is_empty() {
            fields.insert("reasoning_content".into(), OwnedValue::from(reasoning));
        }
        if !calls.is_empty() {
            fields.insert("tool_calls".into(), OwnedValue::from(calls));
        }
    }
    let usage = message.get("usage");
    let input = usage.map_or(0, input_tokens);
    let output = usage
        .and_then(|u| u.get_u64("output_tokens"))
        .unwrap_or_default();
    let reason = finish_from_anthropic(message.get_str("stop_reason").unwrap_or("end_turn"));
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let completion = json!({
        "id": message.get_str("id").unwrap_or_default(),
        "object": "chat.completion",
        "created": created,
        "model": message.get_str("model").unwrap_or_default(),
        "choices": [{"index": 0, "message": reply, "finish_reason": reason}],
        "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output},
    });
    Some(completion.encode().into_bytes())
}

/// The message of an error body in either shape (both put it at `error.message`).
fn error_message(body: &[u8]) -> Option<String> {
    let value = parse(body)?;
    let error = value.get("error")?;
    let message = error.get_str("message").or_else(|| error.as_str())?;
    Some(message.to_string())
}

/// An OpenAI-shaped error body as Anthropic's.
pub fn error_from_chat(status: u16, body: &[u8]) -> Vec<u8> {
    let message = error_message(body).unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    super::error_body(super::error_type(status), &message).into_bytes()
}

/// An Anthropic error body as OpenAI's.
pub fn error_to_chat(body: &[u8]) -> Vec<u8> {
    let value = parse(body);
    let error = value.as_ref().and_then(|v| v.get("error"));
    let message = error.and_then(|e| e.get_str("message")).map_or_else(
        || String::from_utf8_lossy(body).into_owned(),
        str::to_string,
    );
    let kind = error.and_then(|e| e.get_str("type")).unwrap_or("api_error");
    json!({"error": {"message": message, "type": kind, "code": kind}})
        .encode()
        .into_bytes()
}
