//! Chat completions requests as Gemini generateContent bodies.

use simd_json::prelude::*;
use simd_json::{json, OwnedValue};

use super::{insert, parse, refuse, Result};
use crate::dialect::value::{self, chat_tool_calls, refuse_chat_only};

/// The thought signature Google documents for function calls the Gemini model did not make
/// itself: Gemini 3 refuses a history whose function calls carry no signature.
const FOREIGN_SIGNATURE: &str = "skip_thought_signature_validator";

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
    refuse_chat_only(&request, CHAT_ONLY, "on Gemini upstreams")?;
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
            Some("user") => {
                let parts = user_parts(message.get("content"), &at)?;
                if !parts.is_empty() {
                    contents.push(json!({"role": "user", "parts": parts}));
                }
            }
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
                let response = tool_response(message.get("content"), &at)?;
                let part =
                    json!({"functionResponse": {"name": name.as_str(), "response": response}});
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
    let tools = request.get("tools").and_then(|t| t.as_array());
    if let Some(tools) = tools.filter(|t| !t.is_empty()) {
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

/// A chat message's content as text, where Gemini takes only text.
fn chat_text(content: Option<&OwnedValue>, at: &str) -> Result<String> {
    value::chat_text(content, at, "part where only text can go")
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
    for (k, call) in chat_tool_calls(message).enumerate() {
        names.push((
            call.id.unwrap_or_default().to_string(),
            call.name.to_string(),
        ));
        let args = call
            .input()
            .filter(|a| a.is_object())
            .unwrap_or_else(|| json!({}));
        let mut part = json!({"functionCall": {"name": call.name, "args": args}});
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
