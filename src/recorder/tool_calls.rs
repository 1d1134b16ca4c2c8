//! Tool calls in OpenAI's merged shape (`[{"id","type":"function","function":{"name",
//! "arguments"}}]`), whichever dialect they came in: chat deltas merged by `index`, Anthropic
//! `tool_use` blocks by block index, Responses `function_call` items by output index, Gemini
//! `functionCall` parts in order, Converse `toolUse` blocks by block index, Cohere calls by
//! `index`.
//! The position a call had in its answer orders the array.

use serde::Serialize;

/// The calls of one answer, each assembled from its pieces.
#[derive(Debug, Default)]
pub(super) struct ToolCalls {
    calls: Vec<ToolCallParts>,
}

/// One call being assembled. `id`, `kind` and `name` come from the first piece that has
/// them (see `fill_once`); arguments are the dialect's to build.
#[derive(Debug, Default)]
pub(super) struct ToolCallParts {
    index: u64,
    pub id: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub arguments: String,
}

/// The merged call, shaped like an item of OpenAI's `message.tool_calls`.
#[derive(Serialize)]
struct ToolCall<'a> {
    id: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'a str,
    function: ToolFunction<'a>,
}

#[derive(Serialize)]
struct ToolFunction<'a> {
    name: Option<&'a str>,
    arguments: &'a str,
}

impl ToolCalls {
    /// The call at `index` in the answer, started empty the first time it is named.
    pub(super) fn at(&mut self, index: u64) -> &mut ToolCallParts {
        let slot = match self.calls.iter().position(|call| call.index == index) {
            Some(slot) => slot,
            None => {
                self.calls.push(ToolCallParts {
                    index,
                    ..ToolCallParts::default()
                });
                self.calls.len() - 1
            }
        };
        &mut self.calls[slot]
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut ToolCallParts> {
        self.calls.iter_mut()
    }

    /// The JSON array in answer order, or `None` when there was no call.
    pub(super) fn into_json(mut self) -> Option<String> {
        if self.calls.is_empty() {
            return None;
        }
        self.calls.sort_by_key(|call| call.index);
        let calls: Vec<ToolCall<'_>> = self.calls.iter().map(ToolCall::from).collect();
        simd_json::to_string(&calls).ok()
    }
}

impl<'a> From<&'a ToolCallParts> for ToolCall<'a> {
    fn from(parts: &'a ToolCallParts) -> Self {
        Self {
            id: parts.id.as_deref(),
            kind: parts.kind.as_deref().unwrap_or("function"),
            function: ToolFunction {
                name: parts.name.as_deref(),
                arguments: &parts.arguments,
            },
        }
    }
}

/// Sets `slot` from the first piece that has a non-empty value; later pieces repeat it or
/// leave it out.
pub(super) fn fill_once(slot: &mut Option<String>, value: Option<&str>) {
    if slot.is_none() {
        *slot = value.filter(|value| !value.is_empty()).map(str::to_owned);
    }
}
