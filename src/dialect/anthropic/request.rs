//! Requests between Anthropic Messages and chat completions. What has no counterpart on the
//! other side is refused with the field's name (`Untranslatable`), except hints that do not
//! change the answer (prompt caching's `cache_control`), which are dropped; the README's
//! translation table lists both.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::value::{
    chat_tool_calls, insert, object, parse, refuse, refuse_chat_only, refuse_several_choices,
    Result,
};

/// The `max_tokens` Anthropic requires when a chat request sets none.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

// === Anthropic Messages to chat ===

/// An Anthropic Messages request as a chat completions request.
pub fn to_chat(body: &[u8]) -> Result<Vec<u8>> {
    let request = parse(body)?;
    let mut messages = Vec::new();
    match request.get("system") {
        None => {}
        Some(system) => {
            messages.push(json!({"role": "system", "content": text_blocks(system, "system")?}))
        }
    }
    let turns = request.get("messages").and_then(|m| m.as_array());
    for (i, turn) in turns.into_iter().flatten().enumerate() {
        let at = format!("messages[{i}]");
        match turn.get_str("role") {
            Some("user") => user_turn_to_chat(turn.get("content"), &at, &mut messages)?,
            Some("assistant") => messages.push(assistant_turn_to_chat(turn.get("content"), &at)?),
            other => {
                return refuse(format!(
                    "'{at}.role' must be user or assistant, not {other:?}"
                ))
            }
        }
    }
    let mut chat = object(vec![("messages", OwnedValue::from(messages))]);
    for key in [
        "model",
        "stream",
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
    ] {
        if let Some(value) = request.get(key) {
            insert(&mut chat, key, value.clone());
        }
    }
    if let Some(stop) = request.get("stop_sequences") {
        insert(&mut chat, "stop", stop.clone());
    }
    if let Some(user) = request.get("metadata").and_then(|m| m.get("user_id")) {
        insert(&mut chat, "user", user.clone());
    }
    if let Some(tools) = request.get("tools").and_then(|t| t.as_array()) {
        let tools: Result<Vec<_>> = tools.iter().map(tool_to_chat).collect();
        insert(&mut chat, "tools", OwnedValue::from(tools?));
    }
    if let Some(choice) = request.get("tool_choice") {
        let (choice, parallel) = tool_choice_to_chat(choice)?;
        insert(&mut chat, "tool_choice", choice);
        if let Some(parallel) = parallel {
            insert(&mut chat, "parallel_tool_calls", parallel);
        }
    }
    Ok(chat.encode().into_bytes())
}

/// A string, or text blocks joined: the only content a system prompt or a tool result has.
fn text_blocks(content: &OwnedValue, at: &str) -> Result<String> {
    if let Some(text) = content.as_str() {
        return Ok(text.to_string());
    }
    let Some(blocks) = content.as_array() else {
        return refuse(format!(
            "'{at}' must be a string or an array of text blocks"
        ));
    };
    let mut text = String::new();
    for block in blocks {
        match block.get_str("type") {
            Some("text") => text.push_str(block.get_str("text").unwrap_or_default()),
            other => {
                return refuse(format!(
                    "'{at}' holds a {} block, which an OpenAI-compatible upstream cannot take here",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(text)
}

fn user_turn_to_chat(
    content: Option<&OwnedValue>,
    at: &str,
    messages: &mut Vec<OwnedValue>,
) -> Result<()> {
    let Some(content) = content else {
        return refuse(format!("'{at}.content' is missing"));
    };
    if let Some(text) = content.as_str() {
        messages.push(json!({"role": "user", "content": text}));
        return Ok(());
    }
    let mut parts = Vec::new();
    for (j, block) in content.as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.content[{j}]");
        match block.get_str("type") {
            Some("text") => parts
                .push(json!({"type": "text", "text": block.get_str("text").unwrap_or_default()})),
            Some("image") => parts
                .push(json!({"type": "image_url", "image_url": {"url": image_url(block, &at)?}})),
            // Chat wants each result as its own message right after the assistant's calls.
            Some("tool_result") => {
                let content = match block.get("content") {
                    None => String::new(),
                    Some(content) => text_blocks(content, &format!("{at}.content"))?,
                };
                messages.push(json!({
                    "role": "tool",
                    "tool_call_id": block.get_str("tool_use_id").unwrap_or_default(),
                    "content": content,
                }));
            }
            other => {
                return refuse(format!(
                    "'{at}' is a {} block, which an OpenAI-compatible upstream cannot take",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    if !parts.is_empty() {
        messages.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

fn image_url(block: &OwnedValue, at: &str) -> Result<String> {
    let source = block.get("source");
    match source.and_then(|s| s.get_str("type")) {
        Some("base64") => Ok(format!(
            "data:{};base64,{}",
            source
                .and_then(|s| s.get_str("media_type"))
                .unwrap_or("image/png"),
            source.and_then(|s| s.get_str("data")).unwrap_or_default()
        )),
        Some("url") => Ok(source
            .and_then(|s| s.get_str("url"))
            .unwrap_or_default()
            .to_string()),
        _ => refuse(format!(
            "'{at}.source' must be a base64 or url image source"
        )),
    }
}

fn assistant_turn_to_chat(content: Option<&OwnedValue>, at: &str) -> Result<OwnedValue> {
    let mut text = String::new();
    let mut calls = Vec::new();
    match content {
        Some(content) if content.is_str() => text.push_str(content.as_str().unwrap_or_default()),
        _ => {
            for (j, block) in content
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
                .enumerate()
            {
                match block.get_str("type") {
                    Some("text") => text.push_str(block.get_str("text").unwrap_or_default()),
                    Some("tool_use") => calls.push(tool_call_of(block)),
                    // The model's earlier reasoning: chat has no way to send it back.
                    Some("thinking" | "redacted_thinking") => {}
                    other => return refuse(format!("'{at}.content[{j}]' is a {} block, which an OpenAI-compatible upstream cannot take", other.unwrap_or("typeless"))),
                }
            }
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        insert(&mut message, "tool_calls", OwnedValue::from(calls));
    }
    Ok(message)
}

fn tool_to_chat(tool: &OwnedValue) -> Result<OwnedValue> {
    if tool.get_str("type").is_some_and(|t| t != "custom") {
        return refuse(format!(
            "the server tool '{}' exists only on Anthropic upstreams",
            tool.get_str("type").unwrap_or_default()
        ));
    }
    let mut function = json!({
        "name": tool.get_str("name").unwrap_or_default(),
        "parameters": tool.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
    });
    if let Some(description) = tool.get("description") {
        insert(&mut function, "description", description.clone());
    }
    Ok(json!({"type": "function", "function": function}))
}

fn tool_choice_to_chat(choice: &OwnedValue) -> Result<(OwnedValue, Option<OwnedValue>)> {
    let parallel = choice
        .get_bool("disable_parallel_tool_use")
        .filter(|&disabled| disabled)
        .map(|_| OwnedValue::from(false));
    let choice = match choice.get_str("type") {
        Some("auto") => OwnedValue::from("auto"),
        Some("any") => OwnedValue::from("required"),
        Some("none") => OwnedValue::from("none"),
        Some("tool") => {
            json!({"type": "function", "function": {"name": choice.get_str("name").unwrap_or_default()}})
        }
        other => {
            return refuse(format!(
                "'tool_choice.type' {other:?} is not one of auto, any, tool, none"
            ))
        }
    };
    Ok((choice, parallel))
}

// === chat to Anthropic Messages ===

/// Chat fields with no Anthropic counterpart that would change the answer.
const CHAT_ONLY: &[&str] = &[
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "prediction",
    "modalities",
    "seed",
    "reasoning_effort",
    "frequency_penalty",
    "presence_penalty",
];

/// A chat completions request as an Anthropic Messages request.
pub fn from_chat(body: &[u8]) -> Result<Vec<u8>> {
    let request = parse(body)?;
    refuse_chat_only(&request, CHAT_ONLY, "on Anthropic upstreams")?;
    refuse_several_choices(&request, "on Anthropic upstreams")?;
    if let Some(format) = request
        .get("response_format")
        .and_then(|f| f.get_str("type"))
    {
        if format != "text" {
            return refuse(format!(
                "'response_format' {format} has no counterpart on Anthropic upstreams"
            ));
        }
    }
    let mut system = String::new();
    let mut turns: Vec<(String, Vec<OwnedValue>)> = Vec::new();
    let messages = request.get("messages").and_then(|m| m.as_array());
    for (i, message) in messages.into_iter().flatten().enumerate() {
        let at = format!("messages[{i}]");
        let (role, blocks) = match message.get_str("role") {
            Some("system" | "developer") => {
                if !system.is_empty() {
                    system.push_str("\n\n");
                }
                system.push_str(&chat_text(message.get("content"), &at)?);
                continue;
            }
            Some("user") => ("user", user_blocks(message.get("content"), &at)?),
            Some("assistant") => ("assistant", assistant_blocks(message, &at)?),
            Some("tool") => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": message.get_str("tool_call_id").unwrap_or_default(),
                    "content": chat_text(message.get("content"), &at)?,
                })],
            ),
            other => {
                return refuse(format!(
                    "'{at}.role' {other:?} has no counterpart on Anthropic upstreams"
                ))
            }
        };
        // Anthropic wants the roles to alternate: consecutive turns of one role are merged.
        match turns.last_mut() {
            Some((last, merged)) if last == role => merged.extend(blocks),
            _ => turns.push((role.to_string(), blocks)),
        }
    }
    let messages: Vec<OwnedValue> = turns
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": blocks}))
        .collect();
    let max_tokens = request
        .get("max_completion_tokens")
        .or_else(|| request.get("max_tokens"))
        .and_then(|v| v.as_u64())
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let mut out = object(vec![
        ("model", request.get("model").cloned().unwrap_or_default()),
        ("messages", OwnedValue::from(messages)),
        ("max_tokens", OwnedValue::from(max_tokens)),
    ]);
    if !system.is_empty() {
        insert(&mut out, "system", OwnedValue::from(system));
    }
    for key in ["stream", "temperature", "top_p", "top_k"] {
        if let Some(value) = request.get(key).filter(|v| !v.is_null()) {
            insert(&mut out, key, value.clone());
        }
    }
    match request.get("stop") {
        Some(stop) if stop.is_str() => insert(
            &mut out,
            "stop_sequences",
            OwnedValue::from(vec![stop.clone()]),
        ),
        Some(stop) if stop.is_array() => insert(&mut out, "stop_sequences", stop.clone()),
        _ => {}
    }
    if let Some(user) = request.get_str("user") {
        insert(&mut out, "metadata", json!({"user_id": user}));
    }
    if let Some(tools) = request.get("tools").and_then(|t| t.as_array()) {
        let tools: Result<Vec<_>> = tools.iter().map(tool_from_chat).collect();
        insert(&mut out, "tools", OwnedValue::from(tools?));
    }
    let parallel = request.get_bool("parallel_tool_calls");
    if let Some(choice) = tool_choice_from_chat(request.get("tool_choice"), parallel)? {
        insert(&mut out, "tool_choice", choice);
    }
    Ok(out.encode().into_bytes())
}

/// A chat message's content as text: a string, or its text parts joined.
fn chat_text(content: Option<&OwnedValue>, at: &str) -> Result<String> {
    match content {
        None => Ok(String::new()),
        Some(content) if content.is_null() => Ok(String::new()),
        Some(content) => text_blocks(content, &format!("{at}.content")),
    }
}

fn user_blocks(content: Option<&OwnedValue>, at: &str) -> Result<Vec<OwnedValue>> {
    if let Some(text) = content.and_then(|c| c.as_str()) {
        return Ok(vec![json!({"type": "text", "text": text})]);
    }
    let mut blocks = Vec::new();
    for (j, part) in content
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .enumerate()
    {
        match part.get_str("type") {
            Some("text") => blocks
                .push(json!({"type": "text", "text": part.get_str("text").unwrap_or_default()})),
            Some("image_url") => {
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get_str("url"))
                    .unwrap_or_default();
                blocks.push(json!({"type": "image", "source": image_source(url)}));
            }
            other => {
                return refuse(format!(
                    "'{at}.content[{j}]' is a {} part, which Anthropic upstreams cannot take",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(blocks)
}

fn image_source(url: &str) -> OwnedValue {
    let inline = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"));
    match inline {
        Some((media_type, data)) => {
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
        None => json!({"type": "url", "url": url}),
    }
}

fn assistant_blocks(message: &OwnedValue, at: &str) -> Result<Vec<OwnedValue>> {
    let mut blocks = Vec::new();
    let text = chat_text(message.get("content"), at)?;
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    push_tool_use_blocks(message, &mut blocks);
    Ok(blocks)
}

/// A `tool_use` block as a chat tool call (`input` JSON-encoded as `arguments`).
pub(super) fn tool_call_of(block: &OwnedValue) -> OwnedValue {
    json!({
        "id": block.get_str("id").unwrap_or_default(),
        "type": "function",
        "function": {
            "name": block.get_str("name").unwrap_or_default(),
            "arguments": block.get("input").map_or_else(|| "{}".to_string(), |i| i.encode()),
        },
    })
}

/// A chat message's `tool_calls` as `tool_use` blocks (arguments parsed back into `input`).
pub(super) fn push_tool_use_blocks(message: &OwnedValue, blocks: &mut Vec<OwnedValue>) {
    for call in chat_tool_calls(message) {
        blocks.push(json!({
            "type": "tool_use",
            "id": call.id.unwrap_or_default(),
            "name": call.name,
            "input": call.input().unwrap_or_else(|| json!({})),
        }));
    }
}

fn tool_from_chat(tool: &OwnedValue) -> Result<OwnedValue> {
    let Some(function) = tool
        .get("function")
        .filter(|_| tool.get_str("type") == Some("function"))
    else {
        return refuse("only function tools can be sent to Anthropic upstreams");
    };
    let mut out = json!({
        "name": function.get_str("name").unwrap_or_default(),
        "input_schema": function.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    });
    if let Some(description) = function.get("description") {
        insert(&mut out, "description", description.clone());
    }
    Ok(out)
}

fn tool_choice_from_chat(
    choice: Option<&OwnedValue>,
    parallel: Option<bool>,
) -> Result<Option<OwnedValue>> {
    let mut out = match choice {
        None => match parallel {
            Some(false) => json!({"type": "auto"}),
            _ => return Ok(None),
        },
        Some(choice) => match choice.as_str() {
            Some("auto") => json!({"type": "auto"}),
            Some("required") => json!({"type": "any"}),
            Some("none") => json!({"type": "none"}),
            Some(other) => {
                return refuse(format!(
                    "'tool_choice' {other} is not one of auto, required, none"
                ))
            }
            None => {
                let name = choice.get("function").and_then(|f| f.get_str("name"));
                json!({"type": "tool", "name": name.unwrap_or_default()})
            }
        },
    };
    if parallel == Some(false) {
        insert(
            &mut out,
            "disable_parallel_tool_use",
            OwnedValue::from(true),
        );
    }
    Ok(Some(out))
}
