//! Whole answers and error bodies between Anthropic Messages and chat completions. A body
//! that does not parse as what it should be is passed on unchanged: the client sees what the
//! upstream said, and the log row says it was malformed.

use simd_json::json;
use simd_json::prelude::*;

use super::super::value::{
    chat_completion, chat_error_message, chat_reasoning, chat_reply, chat_tokens, chat_usage,
    first_choice, parse_answer,
};
use super::super::{finish_from_anthropic, finish_to_anthropic};
use super::request::{push_tool_use_blocks, tool_call_of};
use super::stream::input_tokens;

/// A chat completion as an Anthropic message.
pub fn message_from_chat(body: &[u8]) -> Option<Vec<u8>> {
    let completion = parse_answer(body)?;
    let choice = first_choice(&completion)?;
    let message = choice.get("message")?;
    let mut content = Vec::new();
    if let Some(thinking) = chat_reasoning(message) {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": ""}));
    }
    if let Some(text) = message.get_str("content").filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": text}));
    }
    push_tool_use_blocks(message, &mut content);
    let stop_sequence = choice.get_str("stop_reason");
    let reason = choice.get_str("finish_reason").unwrap_or("stop");
    let (input, output) = chat_tokens(completion.get("usage"));
    let message = json!({
        "id": completion.get_str("id").unwrap_or_default(),
        "type": "message",
        "role": "assistant",
        "model": completion.get_str("model").unwrap_or_default(),
        "content": content,
        "stop_reason": finish_to_anthropic(reason, stop_sequence),
        "stop_sequence": stop_sequence,
        "usage": {"input_tokens": input, "output_tokens": output},
    });
    Some(message.encode().into_bytes())
}

/// An Anthropic message as a chat completion.
pub fn message_to_chat(body: &[u8]) -> Option<Vec<u8>> {
    let message = parse_answer(body)?;
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
    let usage = message.get("usage");
    let input = usage.map_or(0, input_tokens);
    let output = usage
        .and_then(|u| u.get_u64("output_tokens"))
        .unwrap_or_default();
    let reason = finish_from_anthropic(message.get_str("stop_reason").unwrap_or("end_turn"));
    Some(chat_completion(
        message.get_str("id").unwrap_or_default(),
        message.get_str("model").unwrap_or_default(),
        chat_reply(text, reasoning, calls),
        reason,
        chat_usage(input, output),
    ))
}

/// An OpenAI-shaped error body as Anthropic's.
pub fn error_from_chat(status: u16, body: &[u8]) -> Vec<u8> {
    super::error_body(super::error_type(status), &chat_error_message(body)).into_bytes()
}

/// An Anthropic error body as OpenAI's.
pub fn error_to_chat(body: &[u8]) -> Vec<u8> {
    let value = parse_answer(body);
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
