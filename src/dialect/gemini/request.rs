//! Requests between Gemini generateContent and chat completions. Gemini's REST API reads
//! proto JSON, so a field may come in camelCase or snake_case (the Python SDK sends nested
//! objects such as function declarations in snake_case); both are read, camelCase is written.
//! What has no counterpart is refused naming the field; hints that do not change the
//! answer (safety settings, thinking budgets) are dropped, and the README lists both.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::super::Untranslatable;

type Result<T> = std::result::Result<T, Untranslatable>;

/// The thought signature Google documents for function calls the Gemini model did not make
/// itself: Gemini 3 refuses a history whose function calls carry no signature.
const FOREIGN_SIGNATURE: &str = "skip_thought_signature_validator";

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

/// `inlineData` as `inline_data`.
fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `inline_data` as `inlineData`.
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                upper = false;
                out.push(c.to_ascii_uppercase());
            }
            c => out.push(c),
        }
    }
    out
}

/// A field by its camelCase name, or by its snake_case one.
fn field<'v>(value: &'v OwnedValue, name: &str) -> Option<&'v OwnedValue> {
    value
        .get(name)
        .or_else(|| value.get(snake(name).as_str()))
        .filter(|v| !v.is_null())
}

fn field_str<'v>(value: &'v OwnedValue, name: &str) -> Option<&'v str> {
    field(value, name).and_then(|v| v.as_str())
}

fn array_of<'v>(value: &'v OwnedValue, name: &str) -> &'v [OwnedValue] {
    field(value, name)
        .and_then(|v| v.as_array())
        .map_or(&[], Vec::as_slice)
}

// === Gemini to chat ===

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
/// model turn's calls get stable ids from their position (`call_{content}_{part}`), and the function responses of
/// the next turn take them by id, else by name in order.
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
        } else {
            return refuse(format!(
                "'{at}' is a {} part, which chat cannot take",
                part_kind(part)
            ));
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

/// The name of a part's kind, for refusals.
fn part_kind(part: &OwnedValue) -> String {
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
    kind.map_or_else(|| "empty".to_string(), |k| camel(k))
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
            tool_calls.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}));
        } else if let Some(part_text) = field_str(part, "text") {
            // The model's earlier thoughts: chat has no way to send them back.
            if field(part, "thought").and_then(|t| t.as_bool()) != Some(true) {
                text.push_str(part_text);
            }
        } else {
            return refuse(format!(
                "'{at}' is a {} part, which chat cannot take in a model turn",
                part_kind(part)
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

// === chat to Gemini ===

/// Chat fields with no Gemini counterpart that would change the answer.
const CHAT_ONLY: &[&str] = &[
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "audio",
    "prediction",
    "web_search_options",
    "functions",
    "function_call",
];

/// A chat completions request as a Gemini generateContent body (the model and streaming
/// go in the URL).
pub fn from_chat(body: &[u8]) -> Result<Vec<u8>> {
    let request = parse(body)?;
    for key in CHAT_ONLY {
        if request
            .get(*key)
            .is_some_and(|v| !v.is_null() && v.as_bool() != Some(false))
        {
            return refuse(format!("'{key}' has no counterpart on Gemini upstreams"));
        }
    }
    let modalities = request.get("modalities").and_then(|m| m.as_array());
    if modalities.is_some_and(|m| m.iter().any(|m| m.as_str() != Some("text"))) {
        return refuse("'modalities' other than text have no counterpart on Gemini upstreams");
    }
    let mut system = Vec::new();
    let mut contents: Vec<OwnedValue> = Vec::new();
    // The function name of each tool call id, which Gemini's function responses need.
    let mut names: Vec<(String, String)> = Vec::new();
    let messages = request.get("messages").and_then(|m| m.as_array());
    for (i, message) in messages.into_iter().flatten().enumerate() {
        let at = format!("messages[{i}]");
        match message.get_str("role") {
            Some("system" | "developer") => {
                system.push(json!({"text": chat_text(message.get("content"), &at)?}));
            }
            Some("user") => contents
                .push(json!({"role": "user", "parts": user_parts(message.get("content"), &at)?})),
            Some("assistant") => {
                // Gemini refuses an empty text part; a turn with nothing to say is left out.
                if let Some(content) = model_content(message, &at, &mut names)? {
                    contents.push(content);
                }
            }
            Some("tool") => {
                let id = message.get_str("tool_call_id").unwrap_or_default();
                let Some((_, name)) = names.iter().find(|(call, _)| call == id) else {
                    return refuse(format!(
                        "'{at}.tool_call_id' '{id}' names no tool call of an earlier assistant message"
                    ));
                };
                let part = json!({"functionResponse": {"name": name.as_str(), "response": tool_response(message.get("content"), &at)?}});
                // Gemini wants the answers to one turn's calls together in one turn.
                match contents.last_mut() {
                    Some(last) if is_function_responses(last) => {
                        if let Some(parts) = last.get_mut("parts").and_then(|p| p.as_array_mut()) {
                            parts.push(part);
                        }
                    }
                    _ => contents.push(json!({"role": "user", "parts": [part]})),
                }
            }
            other => {
                return refuse(format!(
                    "'{at}.role' {other:?} has no counterpart on Gemini upstreams"
                ))
            }
        }
    }
    let mut out = json!({"contents": contents});
    if !system.is_empty() {
        insert(&mut out, "systemInstruction", json!({"parts": system}));
    }
    let config = config_from_chat(&request)?;
    if config.as_object().is_some_and(|c| !c.is_empty()) {
        insert(&mut out, "generationConfig", config);
    }
    if let Some(tools) = request.get("tools").and_then(|t| t.as_array()) {
        let declarations: Result<Vec<_>> = tools.iter().map(declaration_from_chat).collect();
        insert(
            &mut out,
            "tools",
            json!([{"functionDeclarations": declarations?}]),
        );
    }
    if let Some(choice) = request.get("tool_choice").filter(|c| !c.is_null()) {
        insert(
            &mut out,
            "toolConfig",
            json!({"functionCallingConfig": tool_choice_from_chat(choice)?}),
        );
    }
    Ok(out.encode().into_bytes())
}

fn is_function_responses(content: &OwnedValue) -> bool {
    let parts = content.get("parts").and_then(|p| p.as_array());
    parts.is_some_and(|p| p.iter().all(|p| p.get("functionResponse").is_some()))
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
                    "'{at}.content[{j}]' is a {} part where only text can go",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(text)
}

/// A tool result as the JSON object Gemini's `functionResponse.response` must be: the
/// content itself when it is one, else `{"result": content}` (what Google's SDK sends).
fn tool_response(content: Option<&OwnedValue>, at: &str) -> Result<OwnedValue> {
    let text = chat_text(content, at)?;
    match simd_json::to_owned_value(&mut text.clone().into_bytes()) {
        Ok(object) if object.is_object() => Ok(object),
        _ => Ok(json!({"result": text})),
    }
}

fn user_parts(content: Option<&OwnedValue>, at: &str) -> Result<Vec<OwnedValue>> {
    if let Some(text) = content.and_then(|c| c.as_str()) {
        return Ok(vec![json!({"text": text})]);
    }
    let mut parts = Vec::new();
    for (j, part) in content
        .and_then(|c| c.as_array())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{at}.content[{j}]");
        match part.get_str("type") {
            Some("text") => parts.push(json!({"text": part.get_str("text").unwrap_or_default()})),
            Some("image_url") => {
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get_str("url"))
                    .unwrap_or_default();
                parts.push(media_part(url, image_type(url), &at)?);
            }
            Some("input_audio") => {
                let audio = part.get("input_audio");
                let format = audio.and_then(|a| a.get_str("format")).unwrap_or("wav");
                let data = audio.and_then(|a| a.get_str("data")).unwrap_or_default();
                parts.push(
                    json!({"inlineData": {"mimeType": format!("audio/{format}"), "data": data}}),
                );
            }
            Some("file") => {
                let Some(url) = part.get("file").and_then(|f| f.get_str("file_data")) else {
                    return refuse(format!(
                        "'{at}.file.file_id' has no counterpart on Gemini upstreams"
                    ));
                };
                parts.push(media_part(url, None, &at)?);
            }
            other => {
                return refuse(format!(
                    "'{at}' is a {} part, which Gemini upstreams cannot take",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(parts)
}

/// A data URL as inline bytes, an http URL as a file by URI.
fn media_part(url: &str, mime_type: Option<&str>, at: &str) -> Result<OwnedValue> {
    if let Some((mime, data)) = url
        .strip_prefix("data:")
        .and_then(|r| r.split_once(";base64,"))
    {
        return Ok(json!({"inlineData": {"mimeType": mime, "data": data}}));
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return refuse(format!("'{at}' must be a data URL or an http(s) URL"));
    }
    let mut file = json!({"fileUri": url});
    if let Some(mime) = mime_type {
        insert(&mut file, "mimeType", OwnedValue::from(mime));
    }
    Ok(json!({"fileData": file}))
}

/// An image URL's type from its extension, which Gemini wants with a file URI.
fn image_type(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or_default();
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => return None,
    })
}

fn model_content(
    message: &OwnedValue,
    at: &str,
    names: &mut Vec<(String, String)>,
) -> Result<Option<OwnedValue>> {
    let mut parts = Vec::new();
    let text = chat_text(message.get("content"), at)?;
    if !text.is_empty() {
        parts.push(json!({"text": text}));
    }
    let calls = message.get("tool_calls").and_then(|c| c.as_array());
    for (k, call) in calls.into_iter().flatten().enumerate() {
        let function = call.get("function");
        let name = function.and_then(|f| f.get_str("name")).unwrap_or_default();
        names.push((
            call.get_str("id").unwrap_or_default().to_string(),
            name.to_string(),
        ));
        let arguments = function
            .and_then(|f| f.get_str("arguments"))
            .unwrap_or("{}");
        let args = simd_json::to_owned_value(&mut arguments.as_bytes().to_vec())
            .ok()
            .filter(|a| a.is_object())
            .unwrap_or_else(|| json!({}));
        let mut part = json!({"functionCall": {"name": name, "args": args}});
        // Gemini checks the signature on the first call of a turn only.
        if k == 0 {
            insert(
                &mut part,
                "thoughtSignature",
                OwnedValue::from(FOREIGN_SIGNATURE),
            );
        }
        parts.push(part);
    }
    Ok((!parts.is_empty()).then(|| json!({"role": "model", "parts": parts})))
}

fn config_from_chat(request: &OwnedValue) -> Result<OwnedValue> {
    let mut config = OwnedValue::object();
    for (chat, gemini) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(value) = request.get(chat).filter(|v| !v.is_null()) {
            insert(&mut config, gemini, value.clone());
        }
    }
    let max_tokens = request
        .get("max_completion_tokens")
        .filter(|v| !v.is_null())
        .or_else(|| request.get("max_tokens"))
        .and_then(|v| v.as_u64());
    if let Some(max_tokens) = max_tokens {
        insert(&mut config, "maxOutputTokens", OwnedValue::from(max_tokens));
    }
    match request.get("stop") {
        Some(stop) if stop.is_str() => insert(
            &mut config,
            "stopSequences",
            OwnedValue::from(vec![stop.clone()]),
        ),
        Some(stop) if stop.is_array() => insert(&mut config, "stopSequences", stop.clone()),
        _ => {}
    }
    if let Some(n) = request.get_u64("n").filter(|&n| n > 1) {
        // The stream decoder reads candidate 0 only.
        if request.get_bool("stream") == Some(true) {
            return refuse("'n' greater than 1 has no counterpart in a Gemini stream");
        }
        insert(&mut config, "candidateCount", OwnedValue::from(n));
    }
    let format = request.get("response_format");
    match format.and_then(|f| f.get_str("type")) {
        None | Some("text") => {}
        Some("json_object") => insert(
            &mut config,
            "responseMimeType",
            OwnedValue::from("application/json"),
        ),
        Some("json_schema") => {
            let schema = format
                .and_then(|f| f.get("json_schema"))
                .and_then(|s| s.get("schema"))
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            insert(
                &mut config,
                "responseMimeType",
                OwnedValue::from("application/json"),
            );
            insert(&mut config, "responseJsonSchema", schema);
        }
        Some(other) => {
            return refuse(format!(
                "'response_format' {other} has no counterpart on Gemini upstreams"
            ))
        }
    }
    Ok(config)
}

/// A chat function tool as a Gemini declaration; its JSON Schema goes in as is.
fn declaration_from_chat(tool: &OwnedValue) -> Result<OwnedValue> {
    let Some(function) = tool
        .get("function")
        .filter(|_| tool.get_str("type") == Some("function"))
    else {
        return refuse("only function tools can be sent to Gemini upstreams");
    };
    let mut declaration = json!({"name": function.get_str("name").unwrap_or_default()});
    if let Some(description) = function.get("description").filter(|d| !d.is_null()) {
        insert(&mut declaration, "description", description.clone());
    }
    if let Some(parameters) = function.get("parameters").filter(|p| !p.is_null()) {
        insert(&mut declaration, "parametersJsonSchema", parameters.clone());
    }
    Ok(declaration)
}

fn tool_choice_from_chat(choice: &OwnedValue) -> Result<OwnedValue> {
    Ok(match choice.as_str() {
        Some("auto") => json!({"mode": "AUTO"}),
        Some("required") => json!({"mode": "ANY"}),
        Some("none") => json!({"mode": "NONE"}),
        Some(other) => {
            return refuse(format!(
                "'tool_choice' {other} is not one of auto, required, none"
            ))
        }
        None => match choice.get("function").and_then(|f| f.get_str("name")) {
            Some(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            None => {
                return refuse(format!(
                    "'tool_choice' of type {} has no counterpart on Gemini upstreams",
                    choice.get_str("type").unwrap_or("unknown")
                ))
            }
        },
    })
}
