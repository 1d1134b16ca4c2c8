//! The request body: read `model` and `stream`, then rewrite only what must change (the
//! model name, the usage option, a continuation message) by splicing bytes, so the rest of
//! the client's JSON reaches the upstream exactly as sent.

use std::borrow::Cow;
use std::ops::Range;

use bytes::Bytes;
use simd_json::prelude::*;
use simd_json::value::tape::Value;

use crate::dialect::Dialect;
use crate::error::AppError;
use crate::json;
use crate::json::{push_json_string, skip_string, skip_value, skip_ws};

/// What the gateway needs to know about a request body.
#[derive(Debug)]
pub struct RequestBody {
    pub raw: Bytes,
    pub model: String,
    pub stream: bool,
    /// The client asked for a usage chunk itself.
    pub client_wants_usage: bool,
    /// `n > 1` or `tools`: streams the gateway cannot continue seamlessly.
    pub multi_choice_or_tools: bool,
    /// Chat streams ask the upstream for a usage chunk (other dialects always send usage).
    asks_for_usage: bool,
    /// `max_completion_tokens` or `max_tokens`: the completion's cap, for a `tpm` estimate.
    pub max_tokens: Option<u64>,
    /// Responses API: the earlier response this one continues.
    pub previous_response_id: Option<String>,
    /// The dialect the body is written in (where its messages are, and their shape).
    dialect: Dialect,
    /// The body has a top-level `model` (Gemini and Converse bodies name none).
    names_model: bool,
    has_stream_options: bool,
}

#[derive(Debug, Default)]
struct TopLevelSpans {
    model: Option<Range<usize>>,
    stream_options: Option<Range<usize>>,
    messages: Option<Range<usize>>,
    /// Index of the closing `}` of the object.
    end: usize,
}

impl RequestBody {
    /// Validates the JSON and reads the fields the gateway routes by.
    #[cfg(test)]
    pub fn parse(raw: Bytes, dialect: Dialect) -> Result<Self, AppError> {
        Self::parse_routed(raw, dialect, None)
    }

    /// Validates the JSON and reads the fields the gateway routes by; for a dialect whose
    /// URL names the model and says whether the answer streams (Gemini, Converse),
    /// `routed` is that `(model, stream)`.
    pub fn parse_routed(
        raw: Bytes,
        dialect: Dialect,
        routed: Option<(&str, bool)>,
    ) -> Result<Self, AppError> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::EmptyBody);
        }
        let read = json::read_copy(&raw, |value| {
            let top = match TopLevel::read(value) {
                Ok(top) => top,
                Err(key) => return Err(AppError::InvalidJson(format!("duplicate key '{key}'"))),
            };
            let config = top.generation_config.or(top.inference_config);
            let config = config.as_ref();
            let n = top
                .n
                .and_then(|n| n.as_u64())
                .or_else(|| config.and_then(|c| c.get_u64("candidateCount")))
                .unwrap_or(1);
            let has_tools = [top.tools, top.tool_config]
                .iter()
                .flatten()
                .any(|tools| tools.as_array().is_none_or(|tools| !tools.is_empty()));
            let (model, stream) = match routed {
                Some((model, stream)) => (model.to_string(), stream),
                None => (
                    top.model
                        .as_ref()
                        .and_then(|model| model.as_str())
                        .ok_or(AppError::MissingModel)?
                        .to_string(),
                    top.stream
                        .and_then(|stream| stream.as_bool())
                        .unwrap_or(false),
                ),
            };
            let number = |field: Option<Value<'_, '_>>| field.and_then(|field| field.as_u64());
            Ok(Self {
                raw: Bytes::new(),
                model,
                stream,
                client_wants_usage: top
                    .stream_options
                    .and_then(|options| options.get_bool("include_usage"))
                    .unwrap_or(false),
                multi_choice_or_tools: n > 1 || has_tools,
                asks_for_usage: dialect == Dialect::Chat,
                max_tokens: number(top.max_completion_tokens)
                    .or_else(|| number(top.max_tokens))
                    .or_else(|| number(top.max_output_tokens))
                    .or_else(|| config.and_then(|c| c.get_u64("maxOutputTokens")))
                    .or_else(|| config.and_then(|c| c.get_u64("maxTokens"))),
                previous_response_id: top
                    .previous_response_id
                    .as_ref()
                    .and_then(|id| id.as_str())
                    .map(str::to_string),
                dialect,
                names_model: top.model.is_some(),
                has_stream_options: top.stream_options.is_some(),
            })
        });
        let mut body =
            read.map_err(|e| AppError::InvalidJson(json::describe_error(&raw, &e)))??;
        body.raw = raw;
        Ok(body)
    }

    /// The body for one upstream: `model` renamed and, for streams, usage requested.
    pub fn for_upstream(&self, upstream_model: &str) -> Bytes {
        // Gemini and Converse bodies name no model: it goes in the URL.
        let rename = self.model != upstream_model && self.names_model;
        let ask_usage = self.stream && self.asks_for_usage && !self.client_wants_usage;
        if !rename && !ask_usage {
            return self.raw.clone();
        }
        // The fields' spans are looked for only when one is edited: most bodies go out as sent,
        // and a stream's usage request usually goes in front of the closing brace.
        let spans = (rename || self.has_stream_options).then(|| scan_top_level(&self.raw));
        let mut edits = Vec::new();
        if rename {
            let mut quoted = String::new();
            push_json_string(&mut quoted, upstream_model);
            let span = spans.as_ref().and_then(|spans| spans.model.clone());
            edits.push(Edit::replace(span, quoted));
        }
        if ask_usage {
            let options = spans
                .as_ref()
                .and_then(|spans| spans.stream_options.clone());
            edits.push(match options {
                Some(span) => {
                    let options = with_include_usage(&self.raw[span.clone()]);
                    Edit::replace(Some(span), options)
                }
                None => Edit::insert(
                    closing_brace(&self.raw),
                    ",\"stream_options\":{\"include_usage\":true}".into(),
                ),
            });
        }
        apply(&self.raw, edits)
    }

    /// The body for a prefill continuation: the delivered text appended as a final
    /// assistant message, plus the target's extra fields.
    pub fn for_prefill(
        &self,
        upstream_model: &str,
        delivered: &str,
        extra_fields: &[(String, String)],
    ) -> Option<Bytes> {
        let base = self.for_upstream(upstream_model);
        let spans = scan_top_level(&base);
        let messages = spans.messages?;
        let inside_end = messages.end - 1;
        let empty = base[messages.start + 1..inside_end]
            .iter()
            .all(u8::is_ascii_whitespace);
        let mut message = String::from(if empty { "" } else { "," });
        push_assistant_message(&mut message, self.dialect, delivered);
        let mut extra = String::new();
        for (key, value) in extra_fields {
            extra.push(',');
            push_json_string(&mut extra, key);
            extra.push(':');
            extra.push_str(value);
        }
        Some(apply(
            &base,
            vec![
                Edit::insert(inside_end, message),
                Edit::insert(spans.end, extra),
            ],
        ))
    }
}

/// A final assistant turn holding `text`, in `dialect`'s message shape.
fn push_assistant_message(out: &mut String, dialect: Dialect, text: &str) {
    match dialect {
        Dialect::Gemini => out.push_str(r#"{"role":"model","parts":[{"text":"#),
        Dialect::Converse => out.push_str(r#"{"role":"assistant","content":[{"text":"#),
        _ => out.push_str(r#"{"role":"assistant","content":"#),
    }
    push_json_string(out, text);
    match dialect {
        Dialect::Gemini | Dialect::Converse => out.push_str("}]}"),
        _ => out.push('}'),
    }
}

struct Edit {
    range: Range<usize>,
    text: String,
}

impl Edit {
    fn replace(range: Option<Range<usize>>, text: String) -> Self {
        Self {
            range: range.expect("span of a field that parsed"),
            text,
        }
    }

    fn insert(at: usize, text: String) -> Self {
        Self {
            range: at..at,
            text,
        }
    }
}

fn apply(raw: &Bytes, mut edits: Vec<Edit>) -> Bytes {
    if edits.is_empty() {
        return raw.clone();
    }
    edits.sort_by_key(|edit| edit.range.start);
    let mut out = Vec::with_capacity(raw.len() + edits.iter().map(|e| e.text.len()).sum::<usize>());
    let mut at = 0;
    for edit in edits {
        out.extend_from_slice(&raw[at..edit.range.start]);
        out.extend_from_slice(edit.text.as_bytes());
        at = edit.range.end;
    }
    out.extend_from_slice(&raw[at..]);
    Bytes::from(out)
}

/// `stream_options` with `include_usage` set to true, keeping its other fields.
fn with_include_usage(object: &[u8]) -> String {
    let mut scratch = object.to_vec();
    match simd_json::to_owned_value(&mut scratch) {
        Ok(simd_json::OwnedValue::Object(mut fields)) => {
            fields.insert("include_usage".into(), simd_json::OwnedValue::from(true));
            simd_json::OwnedValue::Object(fields).encode()
        }
        _ => "{\"include_usage\":true}".into(),
    }
}

/// The top-level fields a body is routed by, found in one pass over the object (a lookup per
/// key walked the fields once for each of a dozen keys).
#[derive(Default)]
struct TopLevel<'tape, 'input> {
    model: Option<Value<'tape, 'input>>,
    stream: Option<Value<'tape, 'input>>,
    stream_options: Option<Value<'tape, 'input>>,
    n: Option<Value<'tape, 'input>>,
    tools: Option<Value<'tape, 'input>>,
    tool_config: Option<Value<'tape, 'input>>,
    generation_config: Option<Value<'tape, 'input>>,
    inference_config: Option<Value<'tape, 'input>>,
    max_completion_tokens: Option<Value<'tape, 'input>>,
    max_tokens: Option<Value<'tape, 'input>>,
    max_output_tokens: Option<Value<'tape, 'input>>,
    previous_response_id: Option<Value<'tape, 'input>>,
    /// Read only to refuse a repeat: a continuation appends to them.
    messages: Option<Value<'tape, 'input>>,
}

impl<'tape, 'input> TopLevel<'tape, 'input> {
    /// The fields, or the name of one that repeats: a repeated `model` (or any field read
    /// here) is refused, since the gateway and the upstream could read different values
    /// (keys compare unescaped: `"mod\u0065l"` is `model`).
    fn read(value: Value<'tape, 'input>) -> Result<Self, &'input str> {
        let mut top = Self::default();
        let Some(fields) = value.as_object() else {
            return Ok(top);
        };
        for (key, field) in &fields {
            let slot = match key {
                "model" => &mut top.model,
                "stream" => &mut top.stream,
                "stream_options" => &mut top.stream_options,
                "n" => &mut top.n,
                "tools" => &mut top.tools,
                "toolConfig" => &mut top.tool_config,
                "generationConfig" => &mut top.generation_config,
                "inferenceConfig" => &mut top.inference_config,
                "max_completion_tokens" => &mut top.max_completion_tokens,
                "max_tokens" => &mut top.max_tokens,
                "max_output_tokens" => &mut top.max_output_tokens,
                "previous_response_id" => &mut top.previous_response_id,
                // Gemini's turns are its `contents`.
                "messages" | "contents" => &mut top.messages,
                _ => continue,
            };
            if slot.replace(field).is_some() {
                return Err(key);
            }
        }
        Ok(top)
    }
}

/// The byte spans of the top-level fields the gateway edits, in a body that parsed as a JSON
/// object in which none of them repeats.
fn scan_top_level(raw: &[u8]) -> TopLevelSpans {
    let mut spans = TopLevelSpans::default();
    let mut at = skip_ws(raw, 0) + 1; // past '{'
    loop {
        at = skip_ws(raw, at);
        match raw.get(at) {
            Some(b'}') | None => {
                spans.end = at;
                return spans;
            }
            Some(b',') => at = skip_ws(raw, at + 1),
            _ => {}
        }
        let key_start = at;
        at = skip_string(raw, at);
        let key = &raw[key_start..at];
        at = skip_ws(raw, at) + 1; // past ':'
        let value_start = skip_ws(raw, at);
        at = skip_value(raw, value_start);
        let slot = match unescaped_key(key).as_deref() {
            Some(b"model") => &mut spans.model,
            Some(b"stream_options") => &mut spans.stream_options,
            Some(b"messages" | b"contents") => &mut spans.messages,
            _ => continue,
        };
        *slot = Some(value_start..at);
    }
}

/// A quoted key's bytes without the quotes, its escapes undone (rare, so that path decodes).
fn unescaped_key(quoted: &[u8]) -> Option<Cow<'_, [u8]>> {
    let inner = quoted.get(1..quoted.len().checked_sub(1)?)?;
    if !inner.contains(&b'\\') {
        return Some(Cow::Borrowed(inner));
    }
    let key = json::read_copy(quoted, |key| {
        key.as_str().map(|key| key.as_bytes().to_vec())
    });
    Some(Cow::Owned(key.ok()??))
}

/// The index of a JSON object's closing brace: its last byte but whitespace.
fn closing_brace(raw: &[u8]) -> usize {
    raw.iter()
        .rposition(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(raw.len())
}

#[cfg(test)]
mod tests;
