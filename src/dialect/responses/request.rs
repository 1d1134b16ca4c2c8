//! Requests between Responses and chat completions. What has no counterpart on the other
//! side is refused with the field's name (`Untranslatable`): above all what needs the
//! state OpenAI keeps (`previous_response_id`, `conversation`, `prompt`, stored items) and
//! OpenAI's built-in tools. Hints that do not change the answer are dropped (`store`,
//! `metadata`, `truncation`, reasoning summaries, ...); the README's translation table
//! lists both.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::value::{asks_something, insert, parse, present, refuse, Result};

mod from_chat;

pub use from_chat::from_chat;

/// A field that is there and says something (not null, false, 0 or empty).
fn set<'v>(request: &'v OwnedValue, key: &str) -> Option<&'v OwnedValue> {
    request.get(key).filter(|v| asks_something(v))
}

/// Copies the fields that mean the same on both sides.
fn copy(from: &OwnedValue, to: &mut OwnedValue, keys: &[&str]) {
    for key in keys {
        if let Some(value) = present(from, key) {
            insert(to, key, value.clone());
        }
    }
}

/// Fields both APIs have under one name.
const SHARED: &[&str] = &[
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
];

// === Responses to chat ===

/// Responses fields that need what OpenAI keeps or runs, or that ask for output chat's
/// stream cannot carry.
const RESPONSES_ONLY: &[(&str, &str)] = &[
    (
        "previous_response_id",
        "continues a response the upstream that issued it keeps",
    ),
    ("conversation", "names a conversation OpenAI keeps"),
    ("prompt", "names a prompt template OpenAI keeps"),
    ("background", "runs the response in OpenAI's background"),
    (
        "context_management",
        "compacts the context on OpenAI's side",
    ),
    ("moderation", "asks for OpenAI's moderation results"),
    ("top_logprobs", "asks for log probabilities"),
];

/// A Responses request as a chat completions request for `model`.
pub fn to_chat(body: &[u8], model: &str, stream: bool) -> Result<Vec<u8>> {
    let request = parse(body)?;
    for (key, why) in RESPONSES_ONLY {
        if set(&request, key).is_some() {
            return refuse(format!(
                "'{key}' {why}: it has no counterpart in chat completions"
            ));
        }
    }
    let include = request.get("include").and_then(|i| i.as_array());
    if include
        .into_iter()
        .flatten()
        .any(|i| i.as_str() == Some("message.output_text.logprobs"))
    {
        return refuse(
            "'include' message.output_text.logprobs has no counterpart in translated streams",
        );
    }
    let mut messages = Vec::new();
    match request.get("instructions") {
        Some(text) if text.is_str() => {
            messages.push(json!({"role": "system", "content": text.as_str().unwrap_or_default()}));
        }
        Some(other) if !other.is_null() => return refuse("'instructions' must be a string"),
        _ => {}
    }
    match request.get("input") {
        Some(text) if text.is_str() => {
            messages.push(json!({"role": "user", "content": text.as_str().unwrap_or_default()}));
        }
        Some(items) if items.is_array() => {
            for (i, item) in items.as_array().into_iter().flatten().enumerate() {
                item_to_chat(item, &format!("input[{i}]"), &mut messages)?;
            }
        }
        Some(other) if !other.is_null() => {
            return refuse("'input' must be a string or an array of items")
        }
        _ => {}
    }
    let mut chat = json!({"model": model, "messages": messages, "stream": stream});
    copy(&request, &mut chat, SHARED);
    if let Some(max) = request.get("max_output_tokens").filter(|v| !v.is_null()) {
        insert(&mut chat, "max_completion_tokens", max.clone());
    }
    if let Some(tools) = request.get("tools").and_then(|t| t.as_array()) {
        let tools: Result<Vec<_>> = tools.iter().enumerate().map(tool_to_chat).collect();
        insert(&mut chat, "tools", OwnedValue::from(tools?));
    }
    if let Some(choice) = request.get("tool_choice").filter(|v| !v.is_null()) {
        insert(&mut chat, "tool_choice", tool_choice_to_chat(choice)?);
    }
    if let Some(text) = request.get("text") {
        if let Some(format) = text.get("format").filter(|f| !f.is_null()) {
            if let Some(format) = format_to_chat(format)? {
                insert(&mut chat, "response_format", format);
            }
        }
        copy(text, &mut chat, &["verbosity"]);
    }
    // The effort is chat's `reasoning_effort`; the summary asked for is dropped (chat's
    // reasoning comes back as `reasoning_content`, whole, where the upstream sends it).
    if let Some(effort) = request
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .filter(|e| !e.is_null())
    {
        insert(&mut chat, "reasoning_effort", effort.clone());
    }
    Ok(chat.encode().into_bytes())
}

/// One input item as chat messages: a message, a function call (which joins the assistant
/// message before it, as chat wants a turn's calls in one message) or a call's output.
fn item_to_chat(item: &OwnedValue, at: &str, messages: &mut Vec<OwnedValue>) -> Result<()> {
    let kind = match item.get_str("type") {
        Some(kind) => kind,
        None if item.get("role").is_some() => "message",
        None => return refuse(format!("'{at}' has neither a type nor a role")),
    };
    match kind {
        "message" => {
            let message = message_to_chat(item, at)?;
            // One assistant turn may be several items (text around its calls): chat wants
            // them in one message, or the calls would not be right before their results.
            match messages.last_mut() {
                Some(last)
                    if last.get_str("role") == Some("assistant")
                        && message.get_str("role") == Some("assistant") =>
                {
                    let mut text = last.get_str("content").unwrap_or_default().to_string();
                    text.push_str(message.get_str("content").unwrap_or_default());
                    insert(last, "content", OwnedValue::from(text));
                }
                _ => messages.push(message),
            }
        }
        "function_call" => {
            let call = json!({
                "id": item.get_str("call_id").unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": item.get_str("name").unwrap_or_default(),
                    "arguments": item.get_str("arguments").unwrap_or("{}"),
                },
            });
            let last = messages
                .last_mut()
                .filter(|m| m.get_str("role") == Some("assistant"));
            match last {
                Some(assistant) => match assistant.get_mut("tool_calls").and_then(|c| c.as_array_mut()) {
                    Some(calls) => calls.push(call),
                    None => insert(assistant, "tool_calls", OwnedValue::from(vec![call])),
                },
                None => messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            }
        }
        "function_call_output" => {
            let output = match item.get("output") {
                Some(output) if output.is_str() => output.as_str().unwrap_or_default().to_string(),
                Some(parts) => text_parts(parts, &format!("{at}.output"))?,
                None => String::new(),
            };
            messages.push(json!({
                "role": "tool",
                "tool_call_id": item.get_str("call_id").unwrap_or_default(),
                "content": output,
            }));
        }
        // The model's earlier reasoning: chat has no way to send it back.
        "reasoning" => {}
        "item_reference" => {
            return refuse(format!(
                "'{at}' is an item_reference, which names an item OpenAI keeps: it has no counterpart in chat completions"
            ))
        }
        other => {
            return refuse(format!(
                "'{at}' is a {other} item, which exists only on OpenAI's Responses upstreams"
            ))
        }
    }
    Ok(())
}

fn message_to_chat(item: &OwnedValue, at: &str) -> Result<OwnedValue> {
    let content = item.get("content");
    match item.get_str("role") {
        Some("user") => {
            if let Some(text) = content.and_then(|c| c.as_str()) {
                return Ok(json!({"role": "user", "content": text}));
            }
            let parts = content.and_then(|c| c.as_array()).into_iter().flatten();
            let parts: Result<Vec<_>> = parts
                .enumerate()
                .map(|(j, part)| part_to_chat(part, &format!("{at}.content[{j}]")))
                .collect();
            Ok(json!({"role": "user", "content": parts?}))
        }
        Some(role @ ("system" | "developer" | "assistant")) => {
            let text = match content {
                Some(text) if text.is_str() => text.as_str().unwrap_or_default().to_string(),
                Some(parts) => text_parts(parts, &format!("{at}.content"))?,
                None => String::new(),
            };
            // Chat has `developer` too, but the translators beyond chat know `system`.
            let role = if role == "assistant" {
                "assistant"
            } else {
                "system"
            };
            Ok(json!({"role": role, "content": text}))
        }
        other => refuse(format!(
            "'{at}.role' must be user, assistant, system or developer, not {other:?}"
        )),
    }
}

/// Text parts (`input_text`, `output_text`, a refusal) joined: what a system prompt, an
/// assistant turn and a call's output can hold in chat.
fn text_parts(parts: &OwnedValue, at: &str) -> Result<String> {
    let Some(parts) = parts.as_array() else {
        return refuse(format!("'{at}' must be a string or an array of parts"));
    };
    let mut text = String::new();
    for (j, part) in parts.iter().enumerate() {
        match part.get_str("type") {
            Some("input_text" | "output_text") => {
                text.push_str(part.get_str("text").unwrap_or_default());
            }
            Some("refusal") => text.push_str(part.get_str("refusal").unwrap_or_default()),
            other => {
                return refuse(format!(
                    "'{at}[{j}]' is a {} part, which chat cannot take here (only text)",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(text)
}

fn part_to_chat(part: &OwnedValue, at: &str) -> Result<OwnedValue> {
    match part.get_str("type") {
        Some("input_text" | "output_text") => {
            Ok(json!({"type": "text", "text": part.get_str("text").unwrap_or_default()}))
        }
        Some("input_image") => {
            let Some(url) = part.get_str("image_url") else {
                return refuse(format!(
                    "'{at}' names an image by file_id, a file OpenAI keeps: only image_url (a URL or a data URL) can be translated"
                ));
            };
            let mut image = json!({"url": url});
            if let Some(detail) = part.get("detail").filter(|d| !d.is_null()) {
                insert(&mut image, "detail", detail.clone());
            }
            Ok(json!({"type": "image_url", "image_url": image}))
        }
        Some("input_file") => {
            if part.get_str("file_url").is_some() {
                return refuse(format!(
                    "'{at}.file_url' has no counterpart in chat completions (send file_data)"
                ));
            }
            let mut file = json!({});
            copy(part, &mut file, &["file_data", "file_id", "filename"]);
            Ok(json!({"type": "file", "file": file}))
        }
        Some("input_audio") => Ok(json!({
            "type": "input_audio",
            "input_audio": part.get("input_audio").cloned().unwrap_or_else(|| json!({})),
        })),
        other => refuse(format!(
            "'{at}' is a {} part, which chat completions cannot take",
            other.unwrap_or("typeless")
        )),
    }
}

fn tool_to_chat((i, tool): (usize, &OwnedValue)) -> Result<OwnedValue> {
    match tool.get_str("type") {
        Some("function") => {}
        other => {
            return refuse(format!(
                "'tools[{i}]' is the built-in tool '{}', which exists only on OpenAI's Responses upstreams",
                other.unwrap_or("typeless")
            ))
        }
    }
    let mut function = json!({"name": tool.get_str("name").unwrap_or_default()});
    copy(
        tool,
        &mut function,
        &["description", "parameters", "strict"],
    );
    Ok(json!({"type": "function", "function": function}))
}

fn tool_choice_to_chat(choice: &OwnedValue) -> Result<OwnedValue> {
    if let Some(mode) = choice.as_str() {
        return match mode {
            "auto" | "none" | "required" => Ok(OwnedValue::from(mode)),
            other => refuse(format!(
                "'tool_choice' {other} is not one of auto, none, required"
            )),
        };
    }
    match choice.get_str("type") {
        Some("function") => Ok(
            json!({"type": "function", "function": {"name": choice.get_str("name").unwrap_or_default()}}),
        ),
        other => refuse(format!(
            "'tool_choice' of type {} has no counterpart in chat completions (only auto, none, required or a function)",
            other.unwrap_or("typeless")
        )),
    }
}

/// `text.format` as chat's `response_format` (`None` for plain text, chat's default).
fn format_to_chat(format: &OwnedValue) -> Result<Option<OwnedValue>> {
    match format.get_str("type") {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = json!({});
            copy(
                format,
                &mut schema,
                &["name", "schema", "description", "strict"],
            );
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        other => refuse(format!(
            "'text.format' of type {} is not one of text, json_object, json_schema",
            other.unwrap_or("typeless")
        )),
    }
}
