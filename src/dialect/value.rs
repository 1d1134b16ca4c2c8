//! The JSON helpers every dialect's translation uses: parsing, building and reading values,
//! refusing what has no counterpart, and the chat shapes all of them read (message content,
//! choice 0, error bodies). Each dialect's own field names stay in its module.

use simd_json::prelude::*;
use simd_json::OwnedValue;

use super::Untranslatable;

pub(super) type Result<T> = std::result::Result<T, Untranslatable>;

pub(super) fn refuse<T>(message: impl Into<String>) -> Result<T> {
    Err(Untranslatable(message.into()))
}

/// A request body, refused when it is not JSON.
pub(super) fn parse(body: &[u8]) -> Result<OwnedValue> {
    simd_json::to_owned_value(&mut body.to_vec())
        .map_err(|e| Untranslatable(format!("the body is not valid JSON: {e}")))
}

pub(super) fn object(fields: Vec<(&str, OwnedValue)>) -> OwnedValue {
    let mut value = OwnedValue::object();
    for (key, field) in fields {
        insert(&mut value, key, field);
    }
    value
}

pub(super) fn insert(value: &mut OwnedValue, key: &str, field: OwnedValue) {
    if let Some(object) = value.as_object_mut() {
        object.insert(key.into(), field);
    }
}

/// A field that is there and not null.
pub(super) fn present<'v>(value: &'v OwnedValue, key: &str) -> Option<&'v OwnedValue> {
    value.get(key).filter(|v| !v.is_null())
}

/// Whether a field's value asks for something: null, false, 0 and empty ask for nothing
/// (some clients send every default).
pub(super) fn asks_something(value: &OwnedValue) -> bool {
    !(value.is_null()
        || value.as_bool() == Some(false)
        || value.cast_f64() == Some(0.0)
        || value.as_array().is_some_and(|a| a.is_empty())
        || value.as_str().is_some_and(str::is_empty))
}

/// Refuses the first of `fields` (chat fields the target has no counterpart for) that asks
/// for something; `target` ends the message ("on Bedrock upstreams").
pub(super) fn refuse_chat_only(request: &OwnedValue, fields: &[&str], target: &str) -> Result<()> {
    match fields
        .iter()
        .find(|key| request.get(**key).is_some_and(asks_something))
    {
        Some(key) => refuse(format!("'{key}' has no counterpart {target}")),
        None => Ok(()),
    }
}

/// A chat message's content as text: a string, or its text parts joined (absent or null:
/// empty). Another part is refused; `why` follows its type in the message ("part where only
/// text can go").
pub(super) fn chat_text(content: Option<&OwnedValue>, at: &str, why: &str) -> Result<String> {
    joined_parts(content, at, &["text"], why)
}

/// `chat_text` that also reads an assistant's `refusal` parts as text.
pub(super) fn chat_text_or_refusal(
    content: Option<&OwnedValue>,
    at: &str,
    why: &str,
) -> Result<String> {
    joined_parts(content, at, &["text", "refusal"], why)
}

/// The parts of `kinds` joined: each holds its text under its own type's name.
fn joined_parts(
    content: Option<&OwnedValue>,
    at: &str,
    kinds: &[&str],
    why: &str,
) -> Result<String> {
    let Some(content) = content else {
        return Ok(String::new());
    };
    if let Some(text) = content.as_str() {
        return Ok(text.to_string());
    }
    let mut text = String::new();
    for (j, part) in content.as_array().into_iter().flatten().enumerate() {
        match part.get_str("type") {
            Some(kind) if kinds.contains(&kind) => {
                text.push_str(part.get_str(kind).unwrap_or_default())
            }
            other => {
                return refuse(format!(
                    "'{at}.content[{j}]' is a {} {why}",
                    other.unwrap_or("typeless")
                ))
            }
        }
    }
    Ok(text)
}
