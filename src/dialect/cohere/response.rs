//! Whole answers and error bodies between Cohere v2 Chat and chat completions. A body that
//! does not parse as what it should be gives `None`: the caller passes it on unchanged.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::value::{
    chat_completion, chat_error_message, chat_reasoning, chat_reply, chat_tokens, chat_usage,
    first_choice, insert, parse_answer,
};
use super::{count, finish_from_cohere, finish_with_sequence};

/// Input and output tokens of a Cohere `usage`: what the model read and wrote (`tokens`),
/// or the billed counts where the answer has only those.
fn usage_of(usage: Option<&OwnedValue>) -> (u64, u64) {
    let tokens = usage.and_then(|u| u.get("tokens"));
    let billed = usage.and_then(|u| u.get("billed_units"));
    let read = |key| {
        tokens
            .and_then(|t| count(t, key))
            .or_else(|| billed.and_then(|b| count(b, key)))
            .unwrap_or_default()
    };
    (read("input_tokens"), read("output_tokens"))
}

/// A Cohere v2 Chat answer as a chat completion of `model` (Cohere's answer names none).
pub fn answer_to_chat(body: &[u8], model: &str) -> Option<Vec<u8>> {
    let answer = parse_answer(body)?;
    let message = answer.get("message")?;
    let mut text = String::new();
    let mut reasoning = String::new();
    for block in message
        .get("content")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
    {
        match block.get_str("type") {
            Some("text") => text.push_str(block.get_str("text").unwrap_or_default()),
            Some("thinking") => reasoning.push_str(block.get_str("thinking").unwrap_or_default()),
            _ => {}
        }
    }
    // The words Cohere says before its tool calls are the content chat would have.
    if text.is_empty() {
        text.push_str(message.get_str("tool_plan").unwrap_or_default());
    }
    let calls = message.get("tool_calls").and_then(|c| c.as_array());
    let reply = chat_reply(text, reasoning, calls.cloned().unwrap_or_default());
    let (input, output) = usage_of(answer.get("usage"));
    let mut usage = chat_usage(input, output);
    if let Some(cached) = answer.get("usage").and_then(|u| count(u, "cached_tokens")) {
        insert(
            &mut usage,
            "prompt_tokens_details",
            json!({"cached_tokens": cached}),
        );
    }
    let reason = finish_from_cohere(answer.get_str("finish_reason").unwrap_or("COMPLETE"));
    Some(chat_completion(
        answer.get_str("id").unwrap_or_default(),
        model,
        reply,
        reason,
        usage,
    ))
}

/// A chat completion (choice 0) as a Cohere v2 Chat answer. With tool calls, the text goes
/// in `tool_plan`, as Cohere writes it; chat's reasoning becomes a thinking block.
pub fn answer_from_chat(body: &[u8]) -> Option<Vec<u8>> {
    let completion = parse_answer(body)?;
    let choice = first_choice(&completion)?;
    let message = choice.get("message")?;
    let text = message.get_str("content").unwrap_or_default();
    let calls = message
        .get("tool_calls")
        .and_then(|c| c.as_array())
        .filter(|c| !c.is_empty());
    let mut content = Vec::new();
    if let Some(thinking) = chat_reasoning(message) {
        content.push(json!({"type": "thinking", "thinking": thinking}));
    }
    let mut reply = json!({"role": "assistant"});
    match calls {
        Some(calls) => {
            if !text.is_empty() {
                insert(&mut reply, "tool_plan", OwnedValue::from(text));
            }
            insert(&mut reply, "tool_calls", OwnedValue::from(calls.clone()));
        }
        None => content.push(json!({"type": "text", "text": text})),
    }
    if !content.is_empty() {
        insert(&mut reply, "content", OwnedValue::from(content));
    }
    let (input, output) = chat_tokens(completion.get("usage"));
    let reason = choice.get_str("finish_reason").unwrap_or("stop");
    let answer = json!({
        "id": completion.get_str("id").unwrap_or_default(),
        "finish_reason": finish_with_sequence(reason, choice.get_str("stop_reason")),
        "message": reply,
        "usage": {
            "billed_units": {"input_tokens": input, "output_tokens": output},
            "tokens": {"input_tokens": input, "output_tokens": output},
        },
    });
    Some(answer.encode().into_bytes())
}

/// A Cohere error body (`{"id","message"}`) as OpenAI's. Cohere's body names no error
/// class, so the type is a generic one; the status still says which.
pub fn error_to_chat(body: &[u8]) -> Vec<u8> {
    let value = parse_answer(body);
    let message = value
        .as_ref()
        .and_then(|v| v.get_str("message"))
        .map_or_else(
            || String::from_utf8_lossy(body).into_owned(),
            str::to_string,
        );
    json!({"error": {"message": message, "type": "upstream_error", "code": "upstream_error"}})
        .encode()
        .into_bytes()
}

/// An OpenAI-shaped error body as Cohere's.
pub fn error_from_chat(status: u16, body: &[u8]) -> Vec<u8> {
    super::error_body(status, &chat_error_message(body)).into_bytes()
}
