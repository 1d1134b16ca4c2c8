//! Chat completions requests as Responses requests: each message an input item, the
//! sampling and tool fields under their Responses names. Chat fields Responses lacks are
//! refused by name.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::{copy, insert, parse, refuse, Result, SHARED};
use crate::dialect::value::{self, chat_tool_calls, refuse_chat_only, refuse_several_choices};

/// Chat fields with no Responses counterpart that would change the answer.
const CHAT_ONLY: &[&str] = &[
    "stop",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "audio",
    "prediction",
    "web_search_options",
    "functions",
    "function_call",
    "top_k",
];

/// A chat completions request as a Responses request (model and stream stay in the body).
pub fn from_chat(body: &[u8]) -> Result<Vec<u8>> {
    let request = parse(body)?;
    refuse_chat_only(&request, CHAT_ONLY, "in the Responses API")?;
    refuse_several_choices(&request, "in the Responses API")?;
    let modalities = request.get("modalities").and_then(|m| m.as_array());
    if modalities
        .into_iter()
        .flatten()
        .any(|m| m.as_str() != Some("text"))
    {
        return refuse("'modalities' other than text have no counterpart in the Responses API");
    }
    let mut input = Vec::new();
    let messages = request.get("messages").and_then(|m| m.as_array());
    for (i, message) in messages.into_iter().flatten().enumerate() {
        message_from_chat(message, &format!("messages[{i}]"), &mut input)?;
    }
    let mut out = json!({
        "model": request.get("model").cloned().unwrap_or_default(),
        "input": input,
        // Chat completions are not kept unless asked; Responses are, by default.
        "store": request.get_bool("store").unwrap_or(false),
    });
    copy(&request, &mut out, &["stream"]);
    copy(&request, &mut out, SHARED);
    let max = request
        .get("max_completion_tokens")
        .filter(|v| !v.is_null())
        .or_else(|| request.get("max_tokens"));
    if let Some(max) = max.filter(|v| !v.is_null()) {
        insert(&mut out, "max_output_tokens", max.clone());
    }
    if let Some(tools) = request.get("tools").and_then(|t| t.as_array()) {
        let tools: Result<Vec<_>> = tools.iter().enumerate().map(tool_from_chat).collect();
        insert(&mut out, "tools", OwnedValue::from(tools?));
    }
    if let Some(choice) = request.get("tool_choice").filter(|v| !v.is_null()) {
        insert(&mut out, "tool_choice", tool_choice_from_chat(choice)?);
    }
    let mut text = json!({});
    if let Some(format) = request.get("response_format").filter(|v| !v.is_null()) {
        insert(&mut text, "format", format_from_chat(format)?);
    }
    copy(&request, &mut text, &["verbosity"]);
    if text.as_object().is_some_and(|t| !t.is_empty()) {
        insert(&mut out, "text", text);
    }
    if let Some(effort) = request.get("reasoning_effort").filter(|e| !e.is_null()) {
        insert(&mut out, "reasoning", json!({"effort": effort.clone()}));
    }
    Ok(out.encode().into_bytes())
}

fn message_from_chat(message: &OwnedValue, at: &str, input: &mut Vec<OwnedValue>) -> Result<()> {
    let content = message.get("content").filter(|c| !c.is_null());
    match message.get_str("role") {
        Some(role @ ("system" | "developer")) => {
            let text = chat_text(content, at)?;
            input.push(json!({"role": role, "content": text}));
        }
        Some("user") => {
            let content = match content {
                Some(text) if text.is_str() => text.clone(),
                _ => {
                    let parts = content.and_then(|c| c.as_array()).into_iter().flatten();
                    let parts: Result<Vec<_>> = parts
                        .enumerate()
                        .map(|(j, part)| part_from_chat(part, &format!("{at}.content[{j}]")))
                        .collect();
                    OwnedValue::from(parts?)
                }
            };
            input.push(json!({"role": "user", "content": content}));
        }
        Some("assistant") => {
            let mut text = chat_text(content, at)?;
            if let Some(refusal) = message.get_str("refusal") {
                text.push_str(refusal);
            }
            if !text.is_empty() {
                input.push(json!({"role": "assistant", "content": text}));
            }
            for call in chat_tool_calls(message) {
                input.push(json!({
                    "type": "function_call",
                    "call_id": call.id.unwrap_or_default(),
                    "name": call.name,
                    "arguments": call.arguments,
                }));
            }
        }
        Some("tool") => input.push(json!({
            "type": "function_call_output",
            "call_id": message.get_str("tool_call_id").unwrap_or_default(),
            "output": chat_text(content, at)?,
        })),
        other => {
            return refuse(format!(
                "'{at}.role' {other:?} has no counterpart in the Responses API"
            ))
        }
    }
    Ok(())
}

/// A chat message's content (its refusals too) as text, where Responses takes only text.
fn chat_text(content: Option<&OwnedValue>, at: &str) -> Result<String> {
    value::chat_text_or_refusal(
        content,
        at,
        "part, which the Responses API cannot take here (only text)",
    )
}

fn part_from_chat(part: &OwnedValue, at: &str) -> Result<OwnedValue> {
    match part.get_str("type") {
        Some("text") => {
            Ok(json!({"type": "input_text", "text": part.get_str("text").unwrap_or_default()}))
        }
        Some("image_url") => {
            let image = part.get("image_url");
            let url = image
                .and_then(|i| i.get_str("url"))
                .or_else(|| image.and_then(|i| i.as_str()))
                .unwrap_or_default();
            let detail = image.and_then(|i| i.get_str("detail")).unwrap_or("auto");
            Ok(json!({"type": "input_image", "image_url": url, "detail": detail}))
        }
        Some("file") => {
            let mut file = json!({"type": "input_file"});
            if let Some(fields) = part.get("file") {
                copy(fields, &mut file, &["file_data", "file_id", "filename"]);
            }
            Ok(file)
        }
        Some("input_audio") => Ok(json!({
            "type": "input_audio",
            "input_audio": part.get("input_audio").cloned().unwrap_or_else(|| json!({})),
        })),
        other => refuse(format!(
            "'{at}' is a {} part, which the Responses API cannot take",
            other.unwrap_or("typeless")
        )),
    }
}

fn tool_from_chat((i, tool): (usize, &OwnedValue)) -> Result<OwnedValue> {
    let Some(function) = tool
        .get("function")
        .filter(|_| tool.get_str("type") == Some("function"))
    else {
        return refuse(format!(
            "'tools[{i}]' is not a function tool: only function tools can be translated"
        ));
    };
    let mut out = json!({
        "type": "function",
        "name": function.get_str("name").unwrap_or_default(),
        // Required in Responses (null: none); chat's default is not strict.
        "strict": function.get("strict").cloned().unwrap_or_else(|| OwnedValue::from(false)),
        "parameters": function.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    });
    copy(function, &mut out, &["description"]);
    Ok(out)
}

fn tool_choice_from_chat(choice: &OwnedValue) -> Result<OwnedValue> {
    if let Some(mode) = choice.as_str() {
        return match mode {
            "auto" | "none" | "required" => Ok(OwnedValue::from(mode)),
            other => refuse(format!(
                "'tool_choice' {other} is not one of auto, none, required"
            )),
        };
    }
    match choice.get_str("type") {
        Some("function") => {
            let name = choice.get("function").and_then(|f| f.get_str("name"));
            Ok(json!({"type": "function", "name": name.unwrap_or_default()}))
        }
        other => refuse(format!(
            "'tool_choice' of type {} cannot be translated (only auto, none, required or a function)",
            other.unwrap_or("typeless")
        )),
    }
}

fn format_from_chat(format: &OwnedValue) -> Result<OwnedValue> {
    match format.get_str("type") {
        Some("text") => Ok(json!({"type": "text"})),
        Some("json_object") => Ok(json!({"type": "json_object"})),
        Some("json_schema") => {
            let mut out = json!({"type": "json_schema"});
            if let Some(schema) = format.get("json_schema") {
                copy(
                    schema,
                    &mut out,
                    &["name", "schema", "description", "strict"],
                );
            }
            Ok(out)
        }
        other => refuse(format!(
            "'response_format' of type {} is not one of text, json_object, json_schema",
            other.unwrap_or("typeless")
        )),
    }
}
