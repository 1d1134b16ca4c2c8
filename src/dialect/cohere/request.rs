//! Requests between Cohere v2 Chat and chat completions. What has no counterpart on the
//! other side is refused with the field's name (`Untranslatable`); hints that do not change
//! the answer are dropped, and the README's translation table lists both.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::value::{
    chat_text, insert, parse, present, refuse, refuse_chat_only, refuse_several_choices, Result,
};

/// Sampling fields that mean the same on both sides, under Cohere's name and chat's.
const SAMPLING: &[(&str, &str)] = &[
    ("max_tokens", "max_tokens"),
    ("temperature", "temperature"),
    ("p", "top_p"),
    ("k", "top_k"),
    ("seed", "seed"),
    ("frequency_penalty", "frequency_penalty"),
    ("presence_penalty", "presence_penalty"),
];

// === Cohere v2 Chat to chat ===

/// A Cohere v2 Chat request as a chat completions request under `model`, streamed or not.
pub fn to_chat(body: &[u8], model: &str, stream: bool) -> Result<Vec<u8>> {
    let request = parse(body)?;
    if present(&request, "documents").is_some() {
        return refuse(
            "'documents' (grounded generation with citations) has no counterpart in chat",
        );
    }
    if request.get_bool("logprobs") == Some(true) {
        return refuse(
            "'logprobs' is not translated: Cohere's and chat's log probabilities differ in shape",
        );
    }
    if let Some(mode) = request.get_str("safety_mode") {
        // CONTEXTUAL is Cohere's default and OFF removes Cohere's own safety preamble:
        // neither exists on another upstream. STRICT asks for a stricter preamble, which
        // another upstream cannot be given.
        if mode.eq_ignore_ascii_case("STRICT") {
            return refuse("'safety_mode' STRICT has no counterpart in chat");
        }
    }
    if let Some(thinking) = present(&request, "thinking") {
        if thinking.get_str("type") != Some("enabled")
            || present(thinking, "token_budget").is_some()
        {
            return refuse(
                "'thinking' other than {\"type\":\"enabled\"} (the default) has no counterpart in chat",
            );
        }
    }
    let mut messages = Vec::new();
    let turns = request.get("messages").and_then(|m| m.as_array());
    for (i, message) in turns.into_iter().flatten().enumerate() {
        messages.push(message_to_chat(message, &format!("messages[{i}]"))?);
    }
    let mut chat = json!({"model": model, "messages": messages, "stream": stream});
    for (cohere, openai) in SAMPLING {
        if let Some(value) = present(&request, cohere) {
            insert(&mut chat, openai, value.clone());
        }
    }
    if let Some(stop) = present(&request, "stop_sequences") {
        insert(&mut chat, "stop", stop.clone());
    }
    if let Some(tools) = present(&request, "tools") {
        let strict = request.get_bool("strict_tools") == Some(true);
        let tools: Result<Vec<_>> = tools
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, tool)| tool_to_chat(tool, strict, i))
            .collect();
        insert(&mut chat, "tools", OwnedValue::from(tools?));
    }
    if let Some(choice) = present(&request, "tool_choice") {
        let choice = match choice.as_str() {
            Some("REQUIRED") => "required",
            Some("NONE") => "none",
            _ => return refuse("'tool_choice' must be REQUIRED or NONE"),
        };
        insert(&mut chat, "tool_choice", OwnedValue::from(choice));
    }
    if let Some(format) = present(&request, "response_format") {
        if let Some(format) = response_format_to_chat(format)? {
            insert(&mut chat, "response_format", format);
        }
    }
    Ok(chat.encode().into_bytes())
}

fn message_to_chat(message: &OwnedValue, at: &str) -> Result<OwnedValue> {
    let content = message.get("content").filter(|c| !c.is_null());
    match message.get_str("role") {
        Some("system") => Ok(json!({"role": "system", "content": text_of(content, at)?})),
        Some("user") => Ok(json!({"role": "user", "content": user_content(content, at, "chat")?})),
        Some("assistant") => assistant_to_chat(message, at),
        Some("tool") => Ok(json!({
            "role": "tool",
            "tool_call_id": message.get_str("tool_call_id").unwrap_or_default(),
            "content": tool_content_to_chat(content, at)?,
        })),
        other => refuse(format!(
            "'{at}.role' must be system, user, assistant or tool, not {other:?}"
        )),
    }
}

/// A string, or text blocks joined: what a system prompt holds. Cohere's blocks have chat's
/// shape, so chat's reader reads both sides.
fn text_of(content: Option<&OwnedValue>, at: &str) -> Result<String> {
    chat_text(content, at, "block where only text is allowed")
}

/// User content between the sides: a string stays one; text and image blocks keep their shape,
/// which is chat's (`image_url.url` takes data URLs and web URLs on both sides).
/// `other_side` names the side that could not take a block, for the refusal.
fn user_content(content: Option<&OwnedValue>, at: &str, other_side: &str) -> Result<OwnedValue> {
    let Some(content) = content else {
        return refuse(format!("'{at}.content' is missing"));
    };
    if content.is_str() {
        return Ok(content.clone());
    }
    let mut parts = Vec::new();
    for (j, block) in content.as_array().into_iter().flatten().enumerate() {
        match block.get_str("type") {
            Some("text") => parts
                .push(json!({"type": "text", "text": block.get_str("text").unwrap_or_default()})),
            Some("image_url") => {
                let Some(image) = block
                    .get("image_url")
                    .filter(|i| i.get_str("url").is_some())
                else {
                    return refuse(format!("'{at}.content[{j}].image_url.url' is missing"));
                };
                parts.push(json!({"type": "image_url", "image_url": image.clone()}));
            }
            other => {
                return refuse(format!(
                    "'{at}.content[{j}]' is a {} block, which {other_side} cannot take",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(OwnedValue::from(parts))
}

/// An assistant turn: its text (the tool plan when it has none: that is where Cohere
/// keeps the words that come with tool calls) and its tool calls. Thinking is dropped:
/// chat cannot send the model's earlier reasoning back.
fn assistant_to_chat(message: &OwnedValue, at: &str) -> Result<OwnedValue> {
    let content = message.get("content").filter(|c| !c.is_null());
    let mut text = String::new();
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
                    Some("thinking") => {}
                    other => {
                        return refuse(format!(
                            "'{at}.content[{j}]' is a {} block, which chat cannot take",
                            other.unwrap_or("typeless")
                        ))
                    }
                }
            }
        }
    }
    if text.is_empty() {
        text.push_str(message.get_str("tool_plan").unwrap_or_default());
    }
    let mut out = json!({"role": "assistant", "content": text});
    if let Some(calls) = message.get("tool_calls").and_then(|c| c.as_array()) {
        if !calls.is_empty() {
            insert(
                &mut out,
                "tool_calls",
                OwnedValue::from(calls.iter().map(tool_call).collect::<Vec<_>>()),
            );
        }
    }
    Ok(out)
}

/// A tool call in the shape both sides share, with its arguments always a string.
fn tool_call(call: &OwnedValue) -> OwnedValue {
    let function = call.get("function");
    json!({
        "id": call.get_str("id").unwrap_or_default(),
        "type": "function",
        "function": {
            "name": function.and_then(|f| f.get_str("name")).unwrap_or_default(),
            "arguments": function.and_then(|f| f.get_str("arguments")).unwrap_or("{}"),
        },
    })
}

/// A tool result as chat's string: text blocks as they are, documents as their `data`
/// JSON (Cohere renders a document into the prompt much the same way; its `id` is only
/// for citations, which chat has none of).
fn tool_content_to_chat(content: Option<&OwnedValue>, at: &str) -> Result<String> {
    let Some(content) = content else {
        return Ok(String::new());
    };
    if let Some(text) = content.as_str() {
        return Ok(text.to_string());
    }
    let mut pieces = Vec::new();
    for (j, block) in content.as_array().into_iter().flatten().enumerate() {
        match block.get_str("type") {
            Some("text") => pieces.push(block.get_str("text").unwrap_or_default().to_string()),
            Some("document") => {
                let data = block.get("document").and_then(|d| d.get("data"));
                pieces.push(data.map_or_else(|| "{}".to_string(), |d| d.encode()));
            }
            other => {
                return refuse(format!(
                    "'{at}.content[{j}]' is a {} block, which a chat tool result cannot take",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(pieces.join("\n"))
}

/// Cohere's tools are chat's; `strict_tools` becomes each function's `strict`.
fn tool_to_chat(tool: &OwnedValue, strict: bool, i: usize) -> Result<OwnedValue> {
    let Some(function) = tool
        .get("function")
        .filter(|_| tool.get_str("type") == Some("function"))
    else {
        return refuse(format!("'tools[{i}]' must be a function tool"));
    };
    let mut function = function.clone();
    if strict {
        insert(&mut function, "strict", OwnedValue::from(true));
    }
    Ok(json!({"type": "function", "function": function}))
}

fn response_format_to_chat(format: &OwnedValue) -> Result<Option<OwnedValue>> {
    match format.get_str("type") {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(match present(format, "json_schema") {
            // Not `strict`: OpenAI's strict mode refuses schemas Cohere takes (it wants
            // `additionalProperties: false` and every property required).
            Some(schema) => {
                json!({"type": "json_schema", "json_schema": {"name": "response", "schema": schema.clone()}})
            }
            None => json!({"type": "json_object"}),
        })),
        other => refuse(format!(
            "'response_format.type' must be text or json_object, not {other:?}"
        )),
    }
}

// === chat to Cohere v2 Chat ===

/// Chat fields with no Cohere counterpart that would change the answer.
const CHAT_ONLY: &[&str] = &[
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "prediction",
    "modalities",
    "web_search_options",
];

/// A chat completions request as a Cohere v2 Chat request (`model` and `stream` stay in
/// the body: Cohere reads them there).
pub fn from_chat(body: &[u8]) -> Result<Vec<u8>> {
    let request = parse(body)?;
    refuse_chat_only(&request, CHAT_ONLY, "on Cohere upstreams")?;
    refuse_several_choices(&request, "on Cohere upstreams")?;
    if request.get_bool("parallel_tool_calls") == Some(false) {
        return refuse("'parallel_tool_calls' false has no counterpart on Cohere upstreams");
    }
    let mut messages = Vec::new();
    let turns = request.get("messages").and_then(|m| m.as_array());
    for (i, message) in turns.into_iter().flatten().enumerate() {
        messages.push(message_from_chat(message, &format!("messages[{i}]"))?);
    }
    let mut out = json!({
        "model": request.get_str("model").unwrap_or_default(),
        "messages": messages,
    });
    if let Some(stream) = request.get_bool("stream") {
        insert(&mut out, "stream", OwnedValue::from(stream));
    }
    for (cohere, openai) in SAMPLING {
        if let Some(value) = present(&request, openai) {
            insert(&mut out, cohere, value.clone());
        }
    }
    if let Some(max) = present(&request, "max_completion_tokens") {
        insert(&mut out, "max_tokens", max.clone());
    }
    match present(&request, "stop") {
        Some(stop) if stop.is_str() => insert(
            &mut out,
            "stop_sequences",
            OwnedValue::from(vec![stop.clone()]),
        ),
        Some(stop) => insert(&mut out, "stop_sequences", stop.clone()),
        None => {}
    }
    if let Some(format) = present(&request, "response_format") {
        if let Some(format) = response_format_from_chat(format)? {
            insert(&mut out, "response_format", format);
        }
    }
    // Cohere's reasoning models think unless told not to; chat's lowest efforts say not to.
    if matches!(
        request.get_str("reasoning_effort"),
        Some("none" | "minimal")
    ) {
        insert(&mut out, "thinking", json!({"type": "disabled"}));
    }
    let mut tools = match present(&request, "tools") {
        Some(tools) => tools_from_chat(tools, &mut out)?,
        None => Vec::new(),
    };
    match present(&request, "tool_choice") {
        None => {}
        Some(choice) => {
            match choice.as_str() {
                Some("auto") => {}
                Some("required") => insert(&mut out, "tool_choice", OwnedValue::from("REQUIRED")),
                Some("none") => insert(&mut out, "tool_choice", OwnedValue::from("NONE")),
                Some(other) => {
                    return refuse(format!(
                        "'tool_choice' {other} is not one of auto, required, none"
                    ))
                }
                // Cohere cannot name the tool to call: offering only that tool and requiring
                // a call asks the same.
                None => {
                    let name = choice.get("function").and_then(|f| f.get_str("name"));
                    tools.retain(|t| t.get("function").and_then(|f| f.get_str("name")) == name);
                    if tools.is_empty() {
                        return refuse(format!("'tool_choice' names the function {name:?}, which 'tools' does not hold"));
                    }
                    insert(&mut out, "tool_choice", OwnedValue::from("REQUIRED"));
                }
            }
        }
    }
    if !tools.is_empty() {
        insert(&mut out, "tools", OwnedValue::from(tools));
    }
    Ok(out.encode().into_bytes())
}

fn message_from_chat(message: &OwnedValue, at: &str) -> Result<OwnedValue> {
    let content = message.get("content").filter(|c| !c.is_null());
    match message.get_str("role") {
        Some("system" | "developer") => {
            Ok(json!({"role": "system", "content": text_of(content, at)?}))
        }
        Some("user") => {
            Ok(json!({"role": "user", "content": user_content(content, at, "a Cohere upstream")?}))
        }
        Some("assistant") => assistant_from_chat(message, content, at),
        Some("tool") => Ok(json!({
            "role": "tool",
            "tool_call_id": message.get_str("tool_call_id").unwrap_or_default(),
            "content": text_of(content, at)?,
        })),
        other => refuse(format!(
            "'{at}.role' {other:?} has no counterpart on Cohere upstreams"
        )),
    }
}

/// An assistant turn: with tool calls, its text goes in `tool_plan` (where Cohere puts the
/// words that come with calls); without, in `content`.
fn assistant_from_chat(
    message: &OwnedValue,
    content: Option<&OwnedValue>,
    at: &str,
) -> Result<OwnedValue> {
    let text = text_of(content, at)?;
    let calls: Vec<OwnedValue> = message
        .get("tool_calls")
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .map(tool_call)
        .collect();
    let mut out = json!({"role": "assistant"});
    if calls.is_empty() {
        insert(&mut out, "content", OwnedValue::from(text));
        return Ok(out);
    }
    if !text.is_empty() {
        insert(&mut out, "tool_plan", OwnedValue::from(text));
    }
    insert(&mut out, "tool_calls", OwnedValue::from(calls));
    Ok(out)
}

/// Function tools as Cohere's (which requires `parameters`); chat's per-function `strict`
/// becomes `strict_tools`, which Cohere has only for all tools at once.
fn tools_from_chat(tools: &OwnedValue, out: &mut OwnedValue) -> Result<Vec<OwnedValue>> {
    let mut converted = Vec::new();
    let mut strict = Vec::new();
    for (i, tool) in tools.as_array().into_iter().flatten().enumerate() {
        let Some(function) = tool
            .get("function")
            .filter(|_| tool.get_str("type") == Some("function"))
        else {
            return refuse(format!(
                "'tools[{i}]': only function tools can be sent to Cohere upstreams"
            ));
        };
        strict.push(function.get_bool("strict") == Some(true));
        let mut cohere = json!({
            "name": function.get_str("name").unwrap_or_default(),
            "parameters": function.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        });
        if let Some(description) = function.get("description") {
            insert(&mut cohere, "description", description.clone());
        }
        converted.push(json!({"type": "function", "function": cohere}));
    }
    if strict.iter().any(|&s| s) {
        if !strict.iter().all(|&s| s) {
            return refuse("'tools[].function.strict' must be the same for every tool: Cohere's 'strict_tools' covers all of them");
        }
        insert(out, "strict_tools", OwnedValue::from(true));
    }
    Ok(converted)
}

fn response_format_from_chat(format: &OwnedValue) -> Result<Option<OwnedValue>> {
    match format.get_str("type") {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let schema = format.get("json_schema").and_then(|s| s.get("schema"));
            let Some(schema) = schema else {
                return refuse("'response_format.json_schema.schema' is missing");
            };
            Ok(Some(
                json!({"type": "json_object", "json_schema": schema.clone()}),
            ))
        }
        other => refuse(format!(
            "'response_format.type' {other:?} has no counterpart on Cohere upstreams"
        )),
    }
}
