//! Whole answers and error bodies between Gemini generateContent and chat completions. A
//! body that does not parse as what it should be is passed on unchanged by the caller
//! (`None`): the client sees what the upstream said.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::value::{
    chat_error_message, chat_reasoning, chat_reply, chat_tool_calls, chat_usage, insert, now,
    parse_answer,
};
use super::{call_id, error_body, error_status, finish_from_gemini, finish_to_gemini};

/// Gemini's `usageMetadata` as (prompt, completion, reasoning, cached) tokens the way chat
/// counts them: tool-use prompts are prompt tokens, thoughts are completion tokens.
fn usage_of(usage: Option<&OwnedValue>) -> (u64, u64, u64, u64) {
    let tokens = |key| usage.and_then(|u| u.get_u64(key)).unwrap_or_default();
    let thoughts = tokens("thoughtsTokenCount");
    (
        tokens("promptTokenCount") + tokens("toolUsePromptTokenCount"),
        tokens("candidatesTokenCount") + thoughts,
        thoughts,
        tokens("cachedContentTokenCount"),
    )
}

/// A Gemini answer as a chat completion for `model` (Gemini's `modelVersion` when empty):
/// every candidate a choice.
pub fn answer_to_chat(body: &[u8], model: &str) -> Option<Vec<u8>> {
    let answer = parse_answer(body)?;
    let response_id = answer.get_str("responseId").unwrap_or_default();
    let mut choices = Vec::new();
    let mut calls = 0;
    let candidates = answer.get("candidates").and_then(|c| c.as_array());
    for (position, candidate) in candidates.into_iter().flatten().enumerate() {
        let mut text = String::new();
        let mut reasoning = String::new();
        let mut tool_calls = Vec::new();
        let parts = candidate.get("content").and_then(|c| c.get("parts"));
        for part in parts.and_then(|p| p.as_array()).into_iter().flatten() {
            if let Some(call) = part.get("functionCall") {
                let id = call
                    .get_str("id")
                    .map_or_else(|| call_id(response_id, calls), str::to_string);
                calls += 1;
                let arguments = call
                    .get("args")
                    .map_or_else(|| "{}".to_string(), |a| a.encode());
                tool_calls.push(json!({"id": id, "type": "function", "function": {
                    "name": call.get_str("name").unwrap_or_default(), "arguments": arguments}}));
            } else if part.get_bool("thought") == Some(true) {
                reasoning.push_str(part.get_str("text").unwrap_or_default());
            } else {
                text.push_str(part.get_str("text").unwrap_or_default());
            }
        }
        let reason = candidate
            .get_str("finishReason")
            .map_or("stop", finish_from_gemini);
        let reason = if reason == "stop" && !tool_calls.is_empty() {
            "tool_calls"
        } else {
            reason
        };
        let message = chat_reply(text, reasoning, tool_calls);
        let index = candidate.get_u64("index").unwrap_or(position as u64);
        choices.push(json!({"index": index, "message": message, "finish_reason": reason}));
    }
    if choices.is_empty() {
        // A prompt Gemini blocked comes back without candidates.
        let blocked = answer
            .get("promptFeedback")
            .and_then(|f| f.get_str("blockReason"));
        let reason = if blocked.is_some() {
            "content_filter"
        } else {
            "stop"
        };
        choices.push(json!({"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": reason}));
    }
    let (prompt, completion, reasoning, cached) = usage_of(answer.get("usageMetadata"));
    let mut usage = chat_usage(prompt, completion);
    if reasoning > 0 {
        insert(
            &mut usage,
            "completion_tokens_details",
            json!({"reasoning_tokens": reasoning}),
        );
    }
    if cached > 0 {
        insert(
            &mut usage,
            "prompt_tokens_details",
            json!({"cached_tokens": cached}),
        );
    }
    let model = match model {
        "" => answer.get_str("modelVersion").unwrap_or_default(),
        model => model,
    };
    let completion = json!({
        "id": response_id,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": choices,
        "usage": usage,
    });
    Some(completion.encode().into_bytes())
}

/// A chat completion as a Gemini answer: every choice a candidate.
pub fn answer_from_chat(body: &[u8]) -> Option<Vec<u8>> {
    let completion = parse_answer(body)?;
    let mut candidates = Vec::new();
    for (position, choice) in completion.get("choices")?.as_array()?.iter().enumerate() {
        let message = choice.get("message")?;
        let mut parts = Vec::new();
        if let Some(thought) = chat_reasoning(message) {
            parts.push(json!({"text": thought, "thought": true}));
        }
        if let Some(text) = message.get_str("content").filter(|t| !t.is_empty()) {
            parts.push(json!({"text": text}));
        }
        for call in chat_tool_calls(message) {
            let args = call
                .input()
                .filter(|a| a.is_object())
                .unwrap_or_else(|| json!({}));
            let mut function_call = json!({"name": call.name, "args": args});
            // Gemini clients send the id back with the call, so the history keeps chat's id.
            if let Some(id) = call.id {
                insert(&mut function_call, "id", OwnedValue::from(id));
            }
            parts.push(json!({"functionCall": function_call}));
        }
        if parts.is_empty() {
            parts.push(json!({"text": ""}));
        }
        let reason = choice.get_str("finish_reason").unwrap_or("stop");
        candidates.push(json!({
            "content": {"parts": parts, "role": "model"},
            "finishReason": finish_to_gemini(reason),
            "index": choice.get_u64("index").unwrap_or(position as u64),
        }));
    }
    let usage = completion.get("usage");
    let tokens = |key| usage.and_then(|u| u.get_u64(key)).unwrap_or_default();
    let detail = |details, key| {
        usage
            .and_then(|u| u.get(details))
            .and_then(|d| d.get_u64(key))
            .unwrap_or_default()
    };
    let (prompt, completion_tokens) = (tokens("prompt_tokens"), tokens("completion_tokens"));
    let thoughts = detail("completion_tokens_details", "reasoning_tokens").min(completion_tokens);
    let mut metadata = json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion_tokens - thoughts,
        "totalTokenCount": prompt + completion_tokens,
    });
    if thoughts > 0 {
        insert(
            &mut metadata,
            "thoughtsTokenCount",
            OwnedValue::from(thoughts),
        );
    }
    let cached = detail("prompt_tokens_details", "cached_tokens");
    if cached > 0 {
        insert(
            &mut metadata,
            "cachedContentTokenCount",
            OwnedValue::from(cached),
        );
    }
    let answer = json!({
        "candidates": candidates,
        "usageMetadata": metadata,
        "modelVersion": completion.get_str("model").unwrap_or_default(),
        "responseId": completion.get_str("id").unwrap_or_default(),
    });
    Some(answer.encode().into_bytes())
}

/// The `error` object of an error body; a JSON-array stream sends its error as the
/// array's one element.
fn error_of(value: &OwnedValue) -> Option<&OwnedValue> {
    match value.as_array() {
        Some(elements) => elements.first()?.get("error"),
        None => value.get("error"),
    }
}

/// A Gemini error body as OpenAI's: Google's status name becomes the code.
pub fn error_to_chat(body: &[u8]) -> Vec<u8> {
    let value = parse_answer(body);
    let error = value.as_ref().and_then(error_of);
    let message = error.and_then(|e| e.get_str("message")).map_or_else(
        || String::from_utf8_lossy(body).into_owned(),
        str::to_string,
    );
    let code = error.and_then(|e| e.get_u64("code")).unwrap_or(500);
    let status = error
        .and_then(|e| e.get_str("status"))
        .unwrap_or_else(|| error_status(u16::try_from(code).unwrap_or(500)));
    let kind = match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => "invalid_request_error",
        "UNAUTHENTICATED" => "authentication_error",
        "PERMISSION_DENIED" => "permission_error",
        "NOT_FOUND" => "not_found_error",
        "RESOURCE_EXHAUSTED" => "rate_limit_error",
        _ => "server_error",
    };
    json!({"error": {"message": message, "type": kind, "code": status.to_ascii_lowercase()}})
        .encode()
        .into_bytes()
}

/// An OpenAI-shaped error body as Gemini's.
pub fn error_from_chat(status: u16, body: &[u8]) -> Vec<u8> {
    error_body(status, &chat_error_message(body)).into_bytes()
}
