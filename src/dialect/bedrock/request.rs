//! Requests between Bedrock Converse and chat completions. Converse carries the model and
//! whether to stream in the URL (`/model/{id}/converse[-stream]`), so they come as arguments
//! and never appear in a Converse body. What has no counterpart on the other side is refused
//! with the field's name (`Untranslatable`); hints that do not change the answer
//! (`cachePoint`, `performanceConfig`, `requestMetadata`, ...) are dropped, and the README's
//! translation table lists both.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::Untranslatable;

type Result<T> = std::result::Result<T, Untranslatable>;

fn refuse<T>(message: impl Into<String>) -> Result<T> {
    Err(Untranslatable(message.into()))
}

fn parse(body: &[u8]) -> Result<OwnedValue> {
    simd_json::to_owned_value(&mut body.to_vec())
        .map_err(|e| Untranslatable(format!("the body is not valid JSON: {e}")))
}

fn insert(value: &mut OwnedValue, key: &str, field: OwnedValue) {
    if let Some(object) = value.as_object_mut() {
        object.insert(key.into(), field);
    }
}

/// A field that is there and not null.
fn present<'v>(value: &'v OwnedValue, key: &str) -> Option<&'v OwnedValue> {
    value.get(key).filter(|v| !v.is_null())
}

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

// === chat to Converse ===

/// Chat fields with no Converse counterpart that would change the answer (when set to
/// anything but null, false or 0).
const CHAT_ONLY: &[&str] = &[
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "prediction",
    "modalities",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "reasoning_effort",
    "web_search_options",
];

/// A chat completions request as a Converse body (the model and streaming go in the URL).
pub fn from_chat(body: &[u8]) -> Result<Vec<u8>> {
    let request = parse(body)?;
    for key in CHAT_ONLY {
        let set = present(&request, key)
            .is_some_and(|v| v.as_bool() != Some(false) && v.cast_f64() != Some(0.0));
        if set {
            return refuse(format!("'{key}' has no counterpart on Bedrock upstreams"));
        }
    }
    if request.get_u64("n").is_some_and(|n| n > 1) {
        return refuse("'n' greater than 1 has no counterpart on Bedrock upstreams");
    }
    let mut system = Vec::new();
    let mut turns: Vec<(&str, Vec<OwnedValue>)> = Vec::new();
    let messages = request.get("messages").and_then(|m| m.as_array());
    for (i, message) in messages.into_iter().flatten().enumerate() {
        let at = format!("messages[{i}]");
        let (role, blocks) = match message.get_str("role") {
            Some("system" | "developer") => {
                let text = chat_text(message.get("content"), &at)?;
                if !text.is_empty() {
                    system.push(json!({"text": text}));
                }
                continue;
            }
            Some("user") => ("user", user_blocks(message.get("content"), &at)?),
            Some("assistant") => ("assistant", assistant_blocks(message, &at)?),
            Some("tool") => (
                "user",
                vec![json!({"toolResult": {
                    "toolUseId": message.get_str("tool_call_id").unwrap_or_default(),
                    "content": [{"text": chat_text(message.get("content"), &at)?}],
                }})],
            ),
            other => {
                return refuse(format!(
                    "'{at}.role' {other:?} has no counterpart on Bedrock upstreams"
                ))
            }
        };
        // Converse wants the roles to alternate: consecutive turns of one role are merged.
        match turns.last_mut() {
            Some((last, merged)) if *last == role => merged.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<OwnedValue> = turns
        .into_iter()
        .map(|(role, blocks)| json!({"role": role, "content": blocks}))
        .collect();
    let mut out = json!({"messages": messages});
    if !system.is_empty() {
        insert(&mut out, "system", OwnedValue::from(system));
    }
    let inference = inference_config(&request);
    if inference.as_object().is_some_and(|o| !o.is_empty()) {
        insert(&mut out, "inferenceConfig", inference);
    }
    if let Some(top_k) = present(&request, "top_k") {
        insert(
            &mut out,
            "additionalModelRequestFields",
            json!({"top_k": top_k.clone()}),
        );
    }
    if let Some(config) = tool_config(&request)? {
        insert(&mut out, "toolConfig", config);
    }
    if let Some(format) = present(&request, "response_format") {
        if let Some(output) = output_config(format)? {
            insert(&mut out, "outputConfig", output);
        }
    }
    Ok(out.encode().into_bytes())
}

fn inference_config(request: &OwnedValue) -> OwnedValue {
    let mut config = OwnedValue::object();
    let max_tokens =
        present(request, "max_completion_tokens").or_else(|| present(request, "max_tokens"));
    if let Some(max_tokens) = max_tokens {
        insert(&mut config, "maxTokens", max_tokens.clone());
    }
    for (from, to) in [("temperature", "temperature"), ("top_p", "topP")] {
        if let Some(value) = present(request, from) {
            insert(&mut config, to, value.clone());
        }
    }
    match present(request, "stop") {
        Some(stop) if stop.is_str() => {
            insert(
                &mut config,
                "stopSequences",
                OwnedValue::from(vec![stop.clone()]),
            );
        }
        Some(stop) if stop.is_array() => insert(&mut config, "stopSequences", stop.clone()),
        _ => {}
    }
    config
}

/// A chat message's content as text: a string, or its text parts joined.
fn chat_text(content: Option<&OwnedValue>, at: &str) -> Result<String> {
    let Some(content) = content.filter(|c| !c.is_null()) else {
        return Ok(String::new());
    };
    if let Some(text) = content.as_str() {
        return Ok(text.to_string());
    }
    let mut text = String::new();
    for (j, part) in content.as_array().into_iter().flatten().enumerate() {
        match part.get_str("type") {
            Some("text") => text.push_str(part.get_str("text").unwrap_or_default()),
            other => {
                return refuse(format!(
                    "'{at}.content[{j}]' is a {} part, which Bedrock takes in user turns only",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(text)
}

fn user_blocks(content: Option<&OwnedValue>, at: &str) -> Result<Vec<OwnedValue>> {
    if let Some(text) = content.and_then(|c| c.as_str()) {
        return Ok(vec![json!({"text": text})]);
    }
    let mut blocks = Vec::new();
    let parts = content.and_then(|c| c.as_array());
    for (j, part) in parts.into_iter().flatten().enumerate() {
        let at = format!("{at}.content[{j}]");
        match part.get_str("type") {
            Some("text") => blocks.push(json!({"text": part.get_str("text").unwrap_or_default()})),
            Some("image_url") => {
                let url = part.get("image_url").and_then(|i| i.get_str("url"));
                blocks.push(image_block(url.unwrap_or_default(), &at)?);
            }
            other => {
                return refuse(format!(
                    "'{at}' is a {} part, which Bedrock upstreams cannot take",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(blocks)
}

/// A `data:` URL as an inline image block; Converse has no form for a web URL.
fn image_block(url: &str, at: &str) -> Result<OwnedValue> {
    let inline = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"));
    let Some((media_type, data)) = inline else {
        return refuse(format!(
            "'{at}.image_url' must be a base64 data: URL: Bedrock upstreams take inline images only"
        ));
    };
    let format = match media_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => {
            return refuse(format!(
                "'{at}.image_url' is {media_type}; Bedrock takes png, jpeg, gif and webp"
            ))
        }
    };
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

fn assistant_blocks(message: &OwnedValue, at: &str) -> Result<Vec<OwnedValue>> {
    let mut blocks = Vec::new();
    let text = chat_text(message.get("content"), at)?;
    if !text.is_empty() {
        blocks.push(json!({"text": text}));
    }
    push_tool_use_blocks(message, &mut blocks);
    Ok(blocks)
}

/// A chat message's `tool_calls` as `toolUse` blocks (arguments parsed back into `input`).
pub(super) fn push_tool_use_blocks(message: &OwnedValue, blocks: &mut Vec<OwnedValue>) {
    let calls = message.get("tool_calls").and_then(|c| c.as_array());
    for call in calls.into_iter().flatten() {
        let function = call.get("function");
        let arguments = function
            .and_then(|f| f.get_str("arguments"))
            .unwrap_or("{}");
        let input = simd_json::to_owned_value(&mut arguments.as_bytes().to_vec())
            .unwrap_or_else(|_| json!({}));
        blocks.push(json!({"toolUse": {
            "toolUseId": call.get_str("id").unwrap_or_default(),
            "name": function.and_then(|f| f.get_str("name")).unwrap_or_default(),
            "input": input,
        }}));
    }
}

fn tool_config(request: &OwnedValue) -> Result<Option<OwnedValue>> {
    let Some(tools) = request.get("tools").and_then(|t| t.as_array()) else {
        return Ok(None);
    };
    let mut specs = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let Some(function) = tool
            .get("function")
            .filter(|_| tool.get_str("type") == Some("function"))
        else {
            return refuse(format!(
                "'tools[{i}]' is not a function tool; Bedrock upstreams take function tools only"
            ));
        };
        let schema = function.get("parameters").cloned();
        let mut spec = json!({
            "name": function.get_str("name").unwrap_or_default(),
            "inputSchema": {"json": schema.unwrap_or_else(|| json!({"type": "object", "properties": {}}))},
        });
        for key in ["description", "strict"] {
            if let Some(value) = present(function, key) {
                insert(&mut spec, key, value.clone());
            }
        }
        specs.push(json!({"toolSpec": spec}));
    }
    if specs.is_empty() {
        return Ok(None);
    }
    let mut config = json!({"tools": specs});
    let choice = match present(request, "tool_choice") {
        None => None,
        Some(choice) => match choice.as_str() {
            Some("auto") => Some(json!({"auto": {}})),
            Some("required") => Some(json!({"any": {}})),
            Some("none") => {
                return refuse("'tool_choice' none has no counterpart on Bedrock upstreams")
            }
            Some(other) => {
                return refuse(format!(
                    "'tool_choice' {other} is not one of auto, required, none"
                ))
            }
            None => {
                let name = choice.get("function").and_then(|f| f.get_str("name"));
                Some(json!({"tool": {"name": name.unwrap_or_default()}}))
            }
        },
    };
    if let Some(choice) = choice {
        insert(&mut config, "toolChoice", choice);
    }
    Ok(Some(config))
}

/// `response_format` json_schema as `outputConfig.textFormat` (whose schema is a string).
fn output_config(format: &OwnedValue) -> Result<Option<OwnedValue>> {
    match format.get_str("type") {
        None | Some("text") => Ok(None),
        Some("json_schema") => {
            let definition = format.get("json_schema");
            let schema = definition.and_then(|d| d.get("schema"));
            let mut json_schema = json!({
                "schema": schema.map_or_else(|| "{}".to_string(), |s| s.encode()),
            });
            for key in ["name", "description"] {
                if let Some(value) = definition.and_then(|d| present(d, key)) {
                    insert(&mut json_schema, key, value.clone());
                }
            }
            Ok(Some(json!({"textFormat": {
                "type": "json_schema",
                "structure": {"jsonSchema": json_schema},
            }})))
        }
        Some(other) => refuse(format!(
            "'response_format' {other} has no counterpart on Bedrock upstreams"
        )),
    }
}
