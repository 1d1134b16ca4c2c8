//! Gemini generateContent requests as chat completions requests.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::{array_of, camel, field, field_str, insert, parse, refuse, snake, Result};

/// A Gemini generateContent request as a chat completions request for `model`.
pub fn to_chat(body: &[u8], model: &str, stream: bool) -> Result<Vec<u8>> {
    let request = parse(body)?;
    let Some(fields) = request.as_object() else {
        return refuse("the body must be a JSON object");
    };
    for key in fields.keys() {
        match snake(key).as_str() {
            "contents" | "system_instruction" | "generation_config" | "tools" | "tool_config"
            | "model" => {}
            // Google's own filters and routing: the chat upstream applies its own policy.
            "safety_settings" | "service_tier" | "labels" => {}
            _ => return refuse(format!("'{key}' has no counterpart in chat")),
        }
    }
    let mut messages = Vec::new();
    if let Some(system) = field(&request, "systemInstruction") {
        let text = match system.as_str() {
            Some(text) => text.to_string(),
            None => text_parts(array_of(system, "parts"), "systemInstruction")?,
        };
        messages.push(json!({"role": "system", "content": text}));
    }
    let mut calls = CallIds::default();
    for (i, content) in array_of(&request, "contents").iter().enumerate() {
        let at = format!("contents[{i}]");
        match content.get_str("role").unwrap_or("user") {
            // Older clients answer function calls in a turn of role `function`.
            "user" | "function" => user_to_chat(content, &at, &mut calls, &mut messages)?,
            "model" => messages.push(model_to_chat(content, i, &mut calls)?),
            other => return refuse(format!("'{at}.role' must be user or model, not '{other}'")),
        }
    }
    let mut chat = json!({"model": model, "messages": messages, "stream": stream});
    if let Some(config) = field(&request, "generationConfig") {
        config_to_chat(config, stream, &mut chat)?;
    }
    let mut tools = Vec::new();
    for (i, tool) in array_of(&request, "tools").iter().enumerate() {
        tools_to_chat(tool, &format!("tools[{i}]"), &mut tools)?;
    }
    let calling = field(&request, "toolConfig").and_then(|c| field(c, "functionCallingConfig"));
    if let Some(calling) = calling {
        tool_choice_to_chat(calling, &mut tools, &mut chat)?;
    }
    if !tools.is_empty() {
        insert(&mut chat, "tools", OwnedValue::from(tools));
    }
    Ok(chat.encode().into_bytes())
}

/// Text parts joined: the only content a system instruction has in chat.
fn text_parts(parts: &[OwnedValue], at: &str) -> Result<String> {
    let mut text = String::new();
    for (j, part) in parts.iter().enumerate() {
        match field_str(part, "text") {
            Some(part) => text.push_str(part),
            None => return refuse(format!("'{at}.parts[{j}]' must be a text part")),
        }
    }
    Ok(text)
}

/// Chat ids for Gemini function calls, which have none unless the client kept ours: each
/// model turn's calls get stable ids from their position (`call_{content}_{part}`), and
/// the function responses of the next turn take them by id, else by name in order.
#[derive(Default)]
struct CallIds {
    /// The calls of the last model turn not answered yet: (id, name).
    open: Vec<(String, String)>,
}

impl CallIds {
    fn call(&mut self, id: String, name: &str) {
        self.open.push((id, name.to_string()));
    }

    fn answer(&mut self, id: Option<&str>, name: &str, at: &str) -> Result<String> {
        let position = match id {
            Some(id) => self.open.iter().position(|(open, _)| open == id),
            None => self.open.iter().position(|(_, open)| open == name),
        };
        match (position, id) {
            (Some(position), _) => Ok(self.open.remove(position).0),
            (None, Some(id)) => Ok(id.to_string()),
            (None, None) => refuse(format!(
                "'{at}.functionResponse' answers no functionCall named '{name}' in the model turn before it"
            )),
        }
    }
}

fn user_to_chat(
    content: &OwnedValue,
    at: &str,
    calls: &mut CallIds,
    messages: &mut Vec<OwnedValue>,
) -> Result<()> {
    let mut parts = Vec::new();
    for (j, part) in array_of(content, "parts").iter().enumerate() {
        let at = format!("{at}.parts[{j}]");
        if let Some(text) = field_str(part, "text") {
            parts.push(json!({"type": "text", "text": text}));
        } else if let Some(data) = field(part, "inlineData") {
            parts.push(inline_to_chat(data, &at)?);
        } else if let Some(file) = field(part, "fileData") {
            parts.push(file_to_chat(file, &at)?);
        } else if let Some(response) = field(part, "functionResponse") {
            // Chat wants each result as its own message right after the assistant's calls.
            if !array_of(response, "parts").is_empty() {
                return refuse(format!(
                    "'{at}.functionResponse.parts' has no counterpart in chat"
                ));
            }
            let name = field_str(response, "name").unwrap_or_default();
            let id = calls.answer(field_str(response, "id"), name, &at)?;
            let output =
                field(response, "response").map_or_else(|| "{}".to_string(), |r| r.encode());
            messages.push(json!({"role": "tool", "tool_call_id": id, "content": output}));
        } else if let Some(kind) = part_kind(part) {
            return refuse(format!("'{at}' is a {kind} part, which chat cannot take"));
        }
    }
    match parts.as_slice() {
        [] => {}
        [only] if only.get_str("type") == Some("text") => messages
            .push(json!({"role": "user", "content": only.get_str("text").unwrap_or_default()})),
        _ => messages.push(json!({"role": "user", "content": parts})),
    }
    Ok(())
}

/// The name of a part's kind, for refusals; `None` for a part that only qualifies others
/// (a thought signature alone, which Gemini streams sometimes end with).
fn part_kind(part: &OwnedValue) -> Option<String> {
    let kind = part.as_object().and_then(|fields| {
        fields.keys().find(|k| {
            // Fields that qualify a part rather than make it one.
            !matches!(
                snake(k).as_str(),
                "thought"
                    | "thought_signature"
                    | "video_metadata"
                    | "part_metadata"
                    | "media_resolution"
            )
        })
    });
    kind.map(|k| camel(k))
}

/// Inline bytes as chat's part for their kind: an image, wav/mp3 audio, or a file.
fn inline_to_chat(data: &OwnedValue, at: &str) -> Result<OwnedValue> {
    let mime = field_str(data, "mimeType").unwrap_or_default();
    let bytes = field_str(data, "data").unwrap_or_default();
    let url = format!("data:{mime};base64,{bytes}");
    Ok(match mime {
        _ if mime.starts_with("image/") => json!({"type": "image_url", "image_url": {"url": url}}),
        "audio/wav" | "audio/x-wav" => {
            json!({"type": "input_audio", "input_audio": {"data": bytes, "format": "wav"}})
        }
        "audio/mp3" | "audio/mpeg" => {
            json!({"type": "input_audio", "input_audio": {"data": bytes, "format": "mp3"}})
        }
        "application/pdf" | "text/plain" => {
            let name = field_str(data, "displayName").map_or_else(
                || format!("file.{}", mime.rsplit('/').next().unwrap_or("bin")),
                str::to_string,
            );
            json!({"type": "file", "file": {"filename": name, "file_data": url}})
        }
        _ => {
            return refuse(format!(
                "'{at}.inlineData' of type '{mime}' has no counterpart in chat"
            ))
        }
    })
}

/// A file by URI: chat takes an image URL a model server can fetch; Gemini's own file
/// store and Cloud Storage are readable only by Gemini.
fn file_to_chat(file: &OwnedValue, at: &str) -> Result<OwnedValue> {
    let uri = field_str(file, "fileUri").unwrap_or_default();
    let image = field_str(file, "mimeType").is_none_or(|m| m.starts_with("image/"));
    let public = uri.starts_with("https://") || uri.starts_with("http://");
    if !image || !public || uri.contains("generativelanguage.googleapis.com") {
        return refuse(format!(
            "'{at}.fileData' ({uri}) has no counterpart in chat: only public image URLs do"
        ));
    }
    Ok(json!({"type": "image_url", "image_url": {"url": uri}}))
}

fn model_to_chat(content: &OwnedValue, i: usize, calls: &mut CallIds) -> Result<OwnedValue> {
    calls.open.clear();
    let at = format!("contents[{i}]");
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for (j, part) in array_of(content, "parts").iter().enumerate() {
        let at = format!("{at}.parts[{j}]");
        if let Some(call) = field(part, "functionCall") {
            let name = field_str(call, "name").unwrap_or_default();
            let id = field_str(call, "id").map_or_else(|| format!("call_{i}_{j}"), str::to_string);
            calls.call(id.clone(), name);
            let arguments = field(call, "args").map_or_else(|| "{}".to_string(), |a| a.encode());
            let function = json!({"name": name, "arguments": arguments});
            tool_calls.push(json!({"id": id, "type": "function", "function": function}));
        } else if let Some(part_text) = field_str(part, "text") {
            // The model's earlier thoughts: chat has no way to send them back.
            if field(part, "thought").and_then(|t| t.as_bool()) != Some(true) {
                text.push_str(part_text);
            }
        } else if let Some(kind) = part_kind(part) {
            return refuse(format!(
                "'{at}' is a {kind} part, which chat cannot take in a model turn"
            ));
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !tool_calls.is_empty() {
        if text.is_empty() {
            insert(&mut message, "content", OwnedValue::null());
        }
        insert(&mut message, "tool_calls", OwnedValue::from(tool_calls));
    }
    Ok(message)
}

fn config_to_chat(config: &OwnedValue, stream: bool, chat: &mut OwnedValue) -> Result<()> {
    let Some(fields) = config.as_object() else {
        return refuse("'generationConfig' must be an object");
    };
    let mut json_schema = None;
    let mut json_mime = false;
    for (key, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
        let at = format!("generationConfig.{}", camel(key));
        match snake(key).as_str() {
            "temperature" => insert(chat, "temperature", value.clone()),
            "top_p" => insert(chat, "top_p", value.clone()),
            "top_k" => insert(chat, "top_k", value.clone()),
            "max_output_tokens" => insert(chat, "max_tokens", value.clone()),
            "stop_sequences" => insert(chat, "stop", value.clone()),
            "seed" => insert(chat, "seed", value.clone()),
            "presence_penalty" => insert(chat, "presence_penalty", value.clone()),
            "frequency_penalty" => insert(chat, "frequency_penalty", value.clone()),
            "candidate_count" => match value.as_u64() {
                Some(0 | 1) => {}
                // A stream carries one candidate; whole answers carry them all as choices.
                Some(n) if !stream => insert(chat, "n", OwnedValue::from(n)),
                _ => {
                    return refuse(format!(
                        "'{at}' greater than 1 has no counterpart in a chat stream"
                    ))
                }
            },
            "response_mime_type" => match value.as_str() {
                Some("text/plain") => {}
                Some("application/json") => json_mime = true,
                _ => return refuse(format!("'{at}' {value} has no counterpart in chat")),
            },
            "response_json_schema" => json_schema = Some(value.clone()),
            "response_schema" => json_schema = Some(schema_to_json(value)),
            "response_modalities" => {
                let text_only = value.as_array().is_some_and(|m| {
                    m.iter()
                        .all(|m| m.as_str().is_some_and(|m| m.eq_ignore_ascii_case("text")))
                });
                if !text_only {
                    return refuse(format!("'{at}' other than TEXT has no counterpart in chat"));
                }
            }
            // How long the model thinks and how finely it sees media: the answer's
            // substance does not depend on them.
            "thinking_config" | "media_resolution" | "enable_enhanced_civic_answers" => {}
            "response_logprobs" if value.as_bool() == Some(false) => {}
            _ => return refuse(format!("'{at}' has no counterpart in chat")),
        }
    }
    match json_schema {
        Some(schema) => insert(
            chat,
            "response_format",
            json!({"type": "json_schema", "json_schema": {"name": "response", "schema": schema}}),
        ),
        None if json_mime => insert(chat, "response_format", json!({"type": "json_object"})),
        None => {}
    }
    Ok(())
}

fn tools_to_chat(tool: &OwnedValue, at: &str, tools: &mut Vec<OwnedValue>) -> Result<()> {
    let Some(fields) = tool.as_object() else {
        return refuse(format!("'{at}' must be an object"));
    };
    for (key, value) in fields {
        if snake(key) != "function_declarations" {
            return refuse(format!(
                "'{at}.{}' is a Gemini server tool with no counterpart in chat",
                camel(key)
            ));
        }
        for declaration in value.as_array().into_iter().flatten() {
            let parameters = match field(declaration, "parametersJsonSchema") {
                Some(schema) => schema.clone(),
                None => field(declaration, "parameters").map_or_else(
                    || json!({"type": "object", "properties": {}}),
                    schema_to_json,
                ),
            };
            let mut function = json!({
                "name": field_str(declaration, "name").unwrap_or_default(),
                "parameters": parameters,
            });
            if let Some(description) = field(declaration, "description") {
                insert(&mut function, "description", description.clone());
            }
            tools.push(json!({"type": "function", "function": function}));
        }
    }
    Ok(())
}

/// Gemini's OpenAPI-style `Schema` as JSON Schema: lower-case types, `nullable` as a
/// `null` type, proto int64 bounds (sent as strings) as numbers, Gemini's key order
/// hint dropped.
fn schema_to_json(schema: &OwnedValue) -> OwnedValue {
    let Some(fields) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = OwnedValue::object();
    let mut nullable = false;
    for (key, value) in fields {
        let key = camel(key);
        let converted = match key.as_str() {
            "type" => match value.as_str().map(str::to_ascii_lowercase) {
                Some(kind) if kind == "type_unspecified" => continue,
                Some(kind) => OwnedValue::from(kind),
                None => value.clone(),
            },
            "nullable" => {
                nullable = value.as_bool() == Some(true);
                continue;
            }
            "propertyOrdering" => continue,
            "properties" => {
                let mut properties = OwnedValue::object();
                for (name, property) in value.as_object().into_iter().flatten() {
                    insert(&mut properties, name, schema_to_json(property));
                }
                properties
            }
            "items" => schema_to_json(value),
            "anyOf" => OwnedValue::from(
                value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(schema_to_json)
                    .collect::<Vec<_>>(),
            ),
            "maxItems" | "minItems" | "maxLength" | "minLength" | "maxProperties"
            | "minProperties" => match value.as_str().and_then(|n| n.parse::<u64>().ok()) {
                Some(n) => OwnedValue::from(n),
                None => value.clone(),
            },
            _ => value.clone(),
        };
        insert(&mut out, &key, converted);
    }
    if nullable {
        if let Some(kind) = out.get("type").cloned().filter(|k| k.is_str()) {
            insert(
                &mut out,
                "type",
                OwnedValue::from(vec![kind, OwnedValue::from("null")]),
            );
        }
    }
    out
}

/// `functionCallingConfig` as chat's `tool_choice`. Several allowed names have no chat
/// form but one: offering the model only those tools.
fn tool_choice_to_chat(
    calling: &OwnedValue,
    tools: &mut Vec<OwnedValue>,
    chat: &mut OwnedValue,
) -> Result<()> {
    let allowed: Vec<&str> = array_of(calling, "allowedFunctionNames")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    if !allowed.is_empty() {
        tools.retain(|tool| {
            let name = tool.get("function").and_then(|f| f.get_str("name"));
            name.is_some_and(|name| allowed.contains(&name))
        });
    }
    let choice = match field_str(calling, "mode").unwrap_or("MODE_UNSPECIFIED") {
        "ANY" => match allowed.as_slice() {
            [name] => json!({"type": "function", "function": {"name": name}}),
            _ => OwnedValue::from("required"),
        },
        "NONE" => OwnedValue::from("none"),
        // VALIDATED lets the model answer in text too; chat's `auto` does the same.
        "AUTO" | "VALIDATED" => OwnedValue::from("auto"),
        "MODE_UNSPECIFIED" => return Ok(()),
        other => {
            return refuse(format!(
                "'toolConfig.functionCallingConfig.mode' {other} is not one of AUTO, ANY, NONE, VALIDATED"
            ))
        }
    };
    insert(chat, "tool_choice", choice);
    Ok(())
}
