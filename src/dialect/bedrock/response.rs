//! Whole answers and error bodies between Bedrock Converse and chat completions. A body that
//! does not parse as what it should be is passed on unchanged (see `anthropic::response`).

use simd_json::json;
use simd_json::prelude::*;

use super::super::value::{
    chat_completion, chat_error_message, chat_reasoning, chat_reply, chat_tokens, chat_usage,
    first_choice, parse_answer,
};
use super::request::{push_tool_use_blocks, tool_call_of};
use super::{answer_id, finish_from_bedrock, finish_to_bedrock};

/// Input tokens as chat counts them: cache reads and writes are prompt tokens too.
pub(super) fn input_tokens<V>(usage: &V) -> u64
where
    V: ValueObjectAccessAsScalar,
    V::Key: std::borrow::Borrow<str> + std::hash::Hash + Eq,
{
    [
        "inputTokens",
        "cacheReadInputTokens",
        "cacheWriteInputTokens",
    ]
    .iter()
    .filter_map(|&key| usage.get_u64(key))
    .sum()
}

/// A Converse answer as a chat completion of `model` (the answer does not name it).
pub fn answer_to_chat(body: &[u8], model: &str) -> Option<Vec<u8>> {
    let answer = parse_answer(body)?;
    let blocks = answer
        .get("output")?
        .get("message")?
        .get("content")?
        .as_array()?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        if let Some(part) = block.get_str("text") {
            text.push_str(part);
        } else if let Some(tool_use) = block.get("toolUse") {
            calls.push(tool_call_of(tool_use));
        } else if let Some(thought) = block
            .get("reasoningContent")
            .and_then(|r| r.get("reasoningText"))
            .and_then(|r| r.get_str("text"))
        {
            reasoning.push_str(thought);
        }
    }
    let usage = answer.get("usage");
    let input = usage.map_or(0, input_tokens);
    let output = usage
        .and_then(|u| u.get_u64("outputTokens"))
        .unwrap_or_default();
    let reason = finish_from_bedrock(answer.get_str("stopReason").unwrap_or("end_turn"));
    Some(chat_completion(
        &answer_id(),
        model,
        chat_reply(text, reasoning, calls),
        reason,
        chat_usage(input, output),
    ))
}

/// A chat completion as a Converse answer. Its `metrics.latencyMs` is 0: the completion
/// does not say how long it took.
pub fn answer_from_chat(body: &[u8]) -> Option<Vec<u8>> {
    let completion = parse_answer(body)?;
    let choice = first_choice(&completion)?;
    let message = choice.get("message")?;
    let mut content = Vec::new();
    if let Some(thought) = chat_reasoning(message) {
        content.push(json!({"reasoningContent": {"reasoningText": {"text": thought}}}));
    }
    if let Some(text) = message.get_str("content").filter(|t| !t.is_empty()) {
        content.push(json!({"text": text}));
    }
    push_tool_use_blocks(message, &mut content);
    let mut reason = finish_to_bedrock(choice.get_str("finish_reason").unwrap_or("stop"));
    // vLLM names the stop string that matched.
    if reason == "end_turn" && choice.get_str("stop_reason").is_some() {
        reason = "stop_sequence";
    }
    let (input, output) = chat_tokens(completion.get("usage"));
    let answer = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": reason,
        "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output},
        "metrics": {"latencyMs": 0},
    });
    Some(answer.encode().into_bytes())
}

/// A Converse error body (`{"message": ...}`, some AWS services add `__type`) as OpenAI's.
pub fn error_to_chat(body: &[u8]) -> Vec<u8> {
    let value = parse_answer(body);
    let message = value
        .as_ref()
        .and_then(|v| v.get_str("message").or_else(|| v.get_str("Message")))
        .map_or_else(
            || String::from_utf8_lossy(body).into_owned(),
            str::to_string,
        );
    let kind = value
        .as_ref()
        .and_then(|v| v.get_str("__type"))
        // `__type` may be `namespace#Name`.
        .map_or("api_error", |t| t.rsplit('#').next().unwrap_or(t));
    json!({"error": {"message": message, "type": kind, "code": kind}})
        .encode()
        .into_bytes()
}

/// An OpenAI-shaped error body as Converse's (its type goes in a header: `error_type`).
pub fn error_from_chat(status: u16, body: &[u8]) -> Vec<u8> {
    super::error_body(status, &chat_error_message(body)).into_bytes()
}
