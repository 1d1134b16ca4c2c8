//! Requests between Bedrock Converse and chat completions (chat to Converse in `from_chat`).
//! Converse carries the model and whether to stream in the URL
//! (`/model/{id}/converse[-stream]`), so they come as arguments and never appear in a
//! Converse body. What has no counterpart on the other side is refused
//! with the field's name (`Untranslatable`); hints that do not change the answer
//! (`cachePoint`, `performanceConfig`, `requestMetadata`, ...) are dropped, and the README's
//! translation table lists both.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::value::{insert, parse, present, refuse, Result};

mod from_chat;

pub use from_chat::from_chat;
pub(super) use from_chat::push_tool_use_blocks;

// === Converse to chat ===

/// Converse fields with no chat counterpart that change the answer.
const CONVERSE_ONLY: &[&str] = &[
    "guardrailConfig",
    "promptVariables",
    "additionalModelResponseFieldPaths",
];

/// A Converse request (its body, and the model and streaming its URL names) as a chat
/// completions request.
pub fn to_chat(body: &[u8], model: &str, stream: bool) -> Result<Vec<u8>> {
    let request = parse(body)?;
    for key in CONVERSE_ONLY {
        if present(&request, key).is_some() {
            return refuse(format!("'{key}' has no counterpart in chat"));
        }
    }
    let mut messages = Vec::new();
    let system = request.get("system").and_then(|s| s.as_array());
    let mut system_text = Vec::new();
    for (i, block) in system.into_iter().flatten().enumerate() {
        if let Some(text) = block.get_str("text") {
            system_text.push(text);
        } else if block.get("cachePoint").is_none() {
            return refuse(format!(
                "'system[{i}]' is a {} block, which has no counterpart in chat",
                block_kind(block)
            ));
        }
    }
    if !system_text.is_empty() {
        messages.push(json!({"role": "system", "content": system_text.join("\n")}));
    }
    let turns = request.get("messages").and_then(|m| m.as_array());
    for (i, turn) in turns.into_iter().flatten().enumerate() {
        let at = format!("messages[{i}]");
        let blocks = turn.get("content").and_then(|c| c.as_array());
        let blocks = blocks.map_or(&[][..], Vec::as_slice);
        match turn.get_str("role") {
            Some("user") => user_turn_to_chat(blocks, &at, &mut messages)?,
            Some("assistant") => messages.push(assistant_turn_to_chat(blocks, &at)?),
            other => {
                return refuse(format!(
                    "'{at}.role' must be user or assistant, not {other:?}"
                ))
            }
        }
    }
    let mut chat = json!({"model": model, "messages": messages, "stream": stream});
    if stream {
        // A Converse stream always ends with its usage (the `metadata` event).
        insert(&mut chat, "stream_options", json!({"include_usage": true}));
    }
    if let Some(config) = request.get("inferenceConfig") {
        for (from, to) in [
            ("maxTokens", "max_tokens"),
            ("temperature", "temperature"),
            ("topP", "top_p"),
            ("stopSequences", "stop"),
        ] {
            if let Some(value) = present(config, from) {
                insert(&mut chat, to, value.clone());
            }
        }
    }
    if let Some(fields) = present(&request, "additionalModelRequestFields") {
        additional_fields_to_chat(fields, &mut chat)?;
    }
    if let Some(tool_config) = request.get("toolConfig") {
        tool_config_to_chat(tool_config, &mut chat)?;
    }
    if let Some(output) = request.get("outputConfig") {
        output_config_to_chat(output, &mut chat)?;
    }
    Ok(chat.encode().into_bytes())
}

/// The one key of a union block (`text`, `image`, `toolUse`, ...).
fn block_kind(block: &OwnedValue) -> &str {
    block
        .as_object()
        .and_then(|o| o.keys().next())
        .map_or("empty", |k| k.as_str())
}

fn user_turn_to_chat(
    blocks: &[OwnedValue],
    at: &str,
    messages: &mut Vec<OwnedValue>,
) -> Result<()> {
    let mut parts = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content[{j}]");
        if let Some(text) = block.get_str("text") {
            parts.push(json!({"type": "text", "text": text}));
        } else if let Some(image) = block.get("image") {
            let url = image_to_data_url(image, &format!("{at}.image"))?;
            parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
        } else if let Some(result) = block.get("toolResult") {
            // Chat wants each result as its own message right after the assistant's calls.
            messages.push(json!({
                "role": "tool",
                "tool_call_id": result.get_str("toolUseId").unwrap_or_default(),
                "content": tool_result_text(result, &format!("{at}.toolResult"))?,
            }));
        } else if block.get("cachePoint").is_none() {
            return refuse(format!(
                "'{at}' is a {} block, which has no counterpart in chat",
                block_kind(block)
            ));
        }
    }
    if !parts.is_empty() {
        messages.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

/// `{"format": "png", "source": {"bytes": base64}}` as a `data:` URL.
fn image_to_data_url(image: &OwnedValue, at: &str) -> Result<String> {
    let source = image.get("source");
    let Some(bytes) = source.and_then(|s| s.get_str("bytes")) else {
        return refuse(format!(
            "'{at}.source' must hold inline bytes: chat has no counterpart for an S3 location"
        ));
    };
    let format = image.get_str("format").unwrap_or("png");
    Ok(format!("data:image/{format};base64,{bytes}"))
}

/// A tool result's content as chat's text: text blocks as they are, JSON blocks encoded.
fn tool_result_text(result: &OwnedValue, at: &str) -> Result<String> {
    let mut text = String::new();
    let content = result.get("content").and_then(|c| c.as_array());
    for (k, block) in content.into_iter().flatten().enumerate() {
        if let Some(part) = block.get_str("text") {
            text.push_str(part);
        } else if let Some(json) = block.get("json") {
            text.push_str(&json.encode());
        } else {
            return refuse(format!(
                "'{at}.content[{k}]' is a {} block; chat tool results hold text only",
                block_kind(block)
            ));
        }
    }
    Ok(text)
}

fn assistant_turn_to_chat(blocks: &[OwnedValue], at: &str) -> Result<OwnedValue> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        if let Some(part) = block.get_str("text") {
            text.push_str(part);
        } else if let Some(tool_use) = block.get("toolUse") {
            calls.push(tool_call_of(tool_use));
        } else if block.get("reasoningContent").is_none() && block.get("cachePoint").is_none() {
            // Earlier reasoning is dropped: chat has no way to send it back.
            return refuse(format!(
                "'{at}.content[{j}]' is a {} block, which has no counterpart in chat",
                block_kind(block)
            ));
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        insert(&mut message, "tool_calls", OwnedValue::from(calls));
    }
    Ok(message)
}

/// A `toolUse` block as a chat tool call (`input` JSON-encoded as `arguments`).
pub(super) fn tool_call_of(tool_use: &OwnedValue) -> OwnedValue {
    json!({
        "id": tool_use.get_str("toolUseId").unwrap_or_default(),
        "type": "function",
        "function": {
            "name": tool_use.get_str("name").unwrap_or_default(),
            "arguments": tool_use.get("input").map_or_else(|| "{}".to_string(), |i| i.encode()),
        },
    })
}

/// `additionalModelRequestFields` is passed to the model as it is; only `top_k`, which
/// chat upstreams take beside the standard fields, has a counterpart.
fn additional_fields_to_chat(fields: &OwnedValue, chat: &mut OwnedValue) -> Result<()> {
    let Some(fields) = fields.as_object() else {
        return refuse("'additionalModelRequestFields' must be an object");
    };
    for (key, value) in fields {
        match key.as_str() {
            "top_k" => insert(chat, "top_k", value.clone()),
            other => {
                return refuse(format!(
                    "'additionalModelRequestFields.{other}' has no counterpart in chat"
                ))
            }
        }
    }
    Ok(())
}

fn tool_config_to_chat(config: &OwnedValue, chat: &mut OwnedValue) -> Result<()> {
    let mut tools = Vec::new();
    let listed = config.get("tools").and_then(|t| t.as_array());
    for (i, tool) in listed.into_iter().flatten().enumerate() {
        let Some(spec) = tool.get("toolSpec") else {
            if tool.get("cachePoint").is_some() {
                continue;
            }
            return refuse(format!(
                "'toolConfig.tools[{i}]' is a {}, which has no counterpart in chat",
                block_kind(tool)
            ));
        };
        let schema = spec.get("inputSchema").and_then(|s| s.get("json"));
        let mut function = json!({
            "name": spec.get_str("name").unwrap_or_default(),
            "parameters": schema.cloned().unwrap_or_else(|| json!({"type": "object"})),
        });
        for key in ["description", "strict"] {
            if let Some(value) = present(spec, key) {
                insert(&mut function, key, value.clone());
            }
        }
        tools.push(json!({"type": "function", "function": function}));
    }
    if !tools.is_empty() {
        insert(chat, "tools", OwnedValue::from(tools));
    }
    let Some(choice) = config.get("toolChoice") else {
        return Ok(());
    };
    let choice = if choice.get("auto").is_some() {
        OwnedValue::from("auto")
    } else if choice.get("any").is_some() {
        OwnedValue::from("required")
    } else if let Some(tool) = choice.get("tool") {
        json!({"type": "function", "function": {"name": tool.get_str("name").unwrap_or_default()}})
    } else {
        return refuse("'toolConfig.toolChoice' must be one of auto, any, tool");
    };
    insert(chat, "tool_choice", choice);
    Ok(())
}

/// Structured output: `textFormat` (its schema a JSON string) as `response_format`.
fn output_config_to_chat(output: &OwnedValue, chat: &mut OwnedValue) -> Result<()> {
    if present(output, "effort").is_some() {
        return refuse("'outputConfig.effort' has no counterpart in chat");
    }
    let Some(format) = output.get("textFormat") else {
        return Ok(());
    };
    let definition = format.get("structure").and_then(|s| s.get("jsonSchema"));
    let (Some("json_schema"), Some(definition)) = (format.get_str("type"), definition) else {
        return refuse("'outputConfig.textFormat' must be a json_schema structure");
    };
    let schema = definition.get_str("schema").unwrap_or("{}");
    let Ok(schema) = simd_json::to_owned_value(&mut schema.as_bytes().to_vec()) else {
        return refuse("'outputConfig.textFormat.structure.jsonSchema.schema' is not valid JSON");
    };
    let mut json_schema = json!({
        "name": definition.get_str("name").unwrap_or("response"),
        "schema": schema,
    });
    if let Some(description) = present(definition, "description") {
        insert(&mut json_schema, "description", description.clone());
    }
    insert(
        chat,
        "response_format",
        json!({"type": "json_schema", "json_schema": json_schema}),
    );
    Ok(())
}
