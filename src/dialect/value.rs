//! The JSON helpers every dialect's translation uses: parsing, building and reading values,
//! refusing what has no counterpart, and the chat shapes all of them read (message content,
//! choice 0, error bodies). Each dialect's own field names stay in its module.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::Untranslatable;

pub(super) type Result<T> = std::result::Result<T, Untranslatable>;

pub(super) fn refuse<T>(message: impl Into<String>) -> Result<T> {
    Err(Untranslatable(message.into()))
}

/// A request body, refused when it is not JSON.
pub(super) fn parse(body: &[u8]) -> Result<OwnedValue> {
    simd_json::to_owned_value(&mut body.to_vec())
        .map_err(|e| Untranslatable(format!("the body is not valid JSON: {e}")))
}

/// An answer or error body; `None` when it is not JSON (the caller passes it on unchanged).
pub(super) fn parse_answer(body: &[u8]) -> Option<OwnedValue> {
    simd_json::to_owned_value(&mut body.to_vec()).ok()
}

pub(super) fn object(fields: Vec<(&str, OwnedValue)>) -> OwnedValue {
    let mut value = OwnedValue::object();
    for (key, field) in fields {
        insert(&mut value, key, field);
    }
    value
}

pub(super) fn insert(value: &mut OwnedValue, key: &str, field: OwnedValue) {
    if let Some(object) = value.as_object_mut() {
        object.insert(key.into(), field);
    }
}

/// A field that is there and not null.
pub(super) fn present<'v>(value: &'v OwnedValue, key: &str) -> Option<&'v OwnedValue> {
    value.get(key).filter(|v| !v.is_null())
}

/// Whether a field's value asks for something: null, false, 0 and empty ask for nothing
/// (some clients send every default).
pub(super) fn asks_something(value: &OwnedValue) -> bool {
    !(value.is_null()
        || value.as_bool() == Some(false)
        || value.cast_f64() == Some(0.0)
        || value.as_array().is_some_and(|a| a.is_empty())
        || value.as_str().is_some_and(str::is_empty))
}

/// Refuses the first of `fields` (chat fields the target has no counterpart for) that asks
/// for something; `target` ends the message ("on Bedrock upstreams").
pub(super) fn refuse_chat_only(request: &OwnedValue, fields: &[&str], target: &str) -> Result<()> {
    // A seed of 0 is a seed like any other; 0 of the rest is their default.
    let asks = |key: &str, value: &OwnedValue| match key {
        "seed" => !value.is_null(),
        _ => asks_something(value),
    };
    match fields
        .iter()
        .find(|key| request.get(**key).is_some_and(|value| asks(key, value)))
    {
        Some(key) => refuse(format!("'{key}' has no counterpart {target}")),
        None => Ok(()),
    }
}

/// Refuses `n` above 1 for a target that answers with one choice.
pub(super) fn refuse_several_choices(request: &OwnedValue, target: &str) -> Result<()> {
    match request.get_u64("n") {
        Some(n) if n > 1 => refuse(format!("'n' greater than 1 has no counterpart {target}")),
        _ => Ok(()),
    }
}

/// A chat message's content as text: a string, or its text parts joined (absent or null:
/// empty). Another part is refused; `why` follows its type in the message ("part where only
/// text can go").
pub(super) fn chat_text(content: Option<&OwnedValue>, at: &str, why: &str) -> Result<String> {
    joined_parts(content, at, &["text"], why)
}

/// `chat_text` that also reads an assistant's `refusal` parts as text.
pub(super) fn chat_text_or_refusal(
    content: Option<&OwnedValue>,
    at: &str,
    why: &str,
) -> Result<String> {
    joined_parts(content, at, &["text", "refusal"], why)
}

/// The parts of `kinds` joined: each holds its text under its own type's name.
fn joined_parts(
    content: Option<&OwnedValue>,
    at: &str,
    kinds: &[&str],
    why: &str,
) -> Result<String> {
    let Some(content) = content else {
        return Ok(String::new());
    };
    if let Some(text) = content.as_str() {
        return Ok(text.to_string());
    }
    let mut text = String::new();
    for (j, part) in content.as_array().into_iter().flatten().enumerate() {
        match part.get_str("type") {
            Some(kind) if kinds.contains(&kind) => {
                text.push_str(part.get_str(kind).unwrap_or_default())
            }
            other => {
                return refuse(format!(
                    "'{at}.content[{j}]' is a {} {why}",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(text)
}

/// One of a chat message's `tool_calls`.
pub(super) struct ChatToolCall<'v> {
    pub(super) id: Option<&'v str>,
    pub(super) name: &'v str,
    /// JSON text, `{}` where the call has none.
    pub(super) arguments: &'v str,
}

impl ChatToolCall<'_> {
    /// The arguments as a value, `None` where they are not JSON (a call cut short).
    pub(super) fn input(&self) -> Option<OwnedValue> {
        simd_json::to_owned_value(&mut self.arguments.as_bytes().to_vec()).ok()
    }
}

/// A chat message's tool calls, in order.
pub(super) fn chat_tool_calls(message: &OwnedValue) -> impl Iterator<Item = ChatToolCall<'_>> {
    let calls = message.get("tool_calls").and_then(|c| c.as_array());
    calls.into_iter().flatten().map(|call| {
        let function = call.get("function");
        ChatToolCall {
            id: call.get_str("id"),
            name: function.and_then(|f| f.get_str("name")).unwrap_or_default(),
            arguments: function
                .and_then(|f| f.get_str("arguments"))
                .unwrap_or("{}"),
        }
    })
}

/// Choice 0 of a completion (`index` 0, or the first without one).
pub(super) fn first_choice(completion: &OwnedValue) -> Option<&OwnedValue> {
    let choices = completion.get("choices")?.as_array()?;
    choices
        .iter()
        .find(|c| c.get_u64("index").unwrap_or(0) == 0)
}

/// The message of an OpenAI-shaped error body (`error.message`, or `error` as a string),
/// or the body itself where it has none.
pub(super) fn chat_error_message(body: &[u8]) -> String {
    let value = parse_answer(body);
    let error = value.as_ref().and_then(|v| v.get("error"));
    error
        .and_then(|e| e.get_str("message").or_else(|| e.as_str()))
        .map_or_else(
            || String::from_utf8_lossy(body).into_owned(),
            str::to_string,
        )
}

/// Seconds since the epoch: the `created` of an answer whose source names none.
pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// === chat answers ===

/// The model's reasoning in a chat message (`reasoning_content`, or vLLM's `reasoning`),
/// when it has any.
pub(super) fn chat_reasoning(message: &OwnedValue) -> Option<&str> {
    message
        .get_str("reasoning_content")
        .or_else(|| message.get_str("reasoning"))
        .filter(|t| !t.is_empty())
}

/// The prompt and completion tokens of a chat `usage` (0 where absent).
pub(super) fn chat_tokens(usage: Option<&OwnedValue>) -> (u64, u64) {
    let tokens = |key| usage.and_then(|u| u.get_u64(key)).unwrap_or_default();
    (tokens("prompt_tokens"), tokens("completion_tokens"))
}

/// A chat `usage` of `input` prompt and `output` completion tokens.
pub(super) fn chat_usage(input: u64, output: u64) -> OwnedValue {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

/// An assistant message: its text, and its reasoning and tool calls where it has any.
pub(super) fn chat_reply(text: String, reasoning: String, calls: Vec<OwnedValue>) -> OwnedValue {
    let mut reply = json!({"role": "assistant", "content": text});
    if !reasoning.is_empty() {
        insert(&mut reply, "reasoning_content", OwnedValue::from(reasoning));
    }
    if !calls.is_empty() {
        insert(&mut reply, "tool_calls", OwnedValue::from(calls));
    }
    reply
}

/// A `chat.completion` of one choice, created now.
pub(super) fn chat_completion(
    id: &str,
    model: &str,
    reply: OwnedValue,
    finish_reason: &str,
    usage: OwnedValue,
) -> Vec<u8> {
    json!({
        "id": id,
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{"index": 0, "message": reply, "finish_reason": finish_reason}],
        "usage": usage,
    })
    .encode()
    .into_bytes()
}
