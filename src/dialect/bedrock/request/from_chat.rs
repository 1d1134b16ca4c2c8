//! Chat completions requests as Converse bodies (the model and streaming go in the URL).

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::{insert, parse, present, refuse, Result};
use crate::dialect::value::{self, chat_tool_calls, refuse_chat_only, refuse_several_choices};

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
    refuse_chat_only(&request, CHAT_ONLY, "on Bedrock upstreams")?;
    refuse_several_choices(&request, "on Bedrock upstreams")?;
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

/// A chat message's content as text, where Converse takes only text.
fn chat_text(content: Option<&OwnedValue>, at: &str) -> Result<String> {
    value::chat_text(content, at, "part, which Bedrock takes in user turns only")
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
pub(in crate::dialect::bedrock) fn push_tool_use_blocks(
    message: &OwnedValue,
    blocks: &mut Vec<OwnedValue>,
) {
    for call in chat_tool_calls(message) {
        blocks.push(json!({"toolUse": {
            "toolUseId": call.id.unwrap_or_default(),
            "name": call.name,
            "input": call.input().unwrap_or_else(|| json!({})),
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
