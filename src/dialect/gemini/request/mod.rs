//! Requests between Gemini generateContent and chat completions. Gemini's REST API reads
//! proto JSON, so a field may come in camelCase or snake_case (the Python SDK sends nested
//! objects such as function declarations in snake_case); both are read, camelCase is written.
//! What has no counterpart is refused naming the field; hints that do not change the
//! answer (safety settings, thinking budgets) are dropped, and the README lists both.

use simd_json::prelude::*;
use simd_json::OwnedValue;

use super::super::value::{insert, parse, refuse, Result};

mod chat_to_gemini;
mod gemini_to_chat;

pub use chat_to_gemini::from_chat;
pub use gemini_to_chat::to_chat;

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
