//! The background stream processor: one `StreamAccumulator` per stream rebuilds what a
//! non-streaming response would have said from the bytes the client received (SSE events,
//! Gemini's JSON array, or Converse's binary frames), in the stream's dialect (`dialect`),
//! and here the OpenAI chat/completions one: choice 0's text
//! and reasoning, its tool calls merged by index, finish reason, usage. Rows keep choice 0
//! only (as for non-streaming bodies); with `n > 1` the other choices' text is not logged,
//! their tokens are in `usage`. Chat events are scanned (`chat_scan`), or read without a scan
//! when they repeat the last text event's bytes around a new text (`known_events`); those the
//! scan leaves, and every other dialect's, are parsed with simd-json.

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::anthropic::MessagesStream;
use super::chat_scan::{self, ChoiceFields, Message};
use super::cohere::CohereStream;
use super::converse::ConverseStream;
use super::dialect::Dialect;
use super::event_stream::FrameReader;
use super::gemini::GeminiStream;
use super::json_array::ArraySplitter;
use super::known_events::KnownEvents;
use super::response::{error_message, read_usage};
use super::responses::ResponsesStream;
use super::row::ResponseSummary;
use super::sse::SseSplitter;
use super::tool_calls::{fill_once, ToolCalls};
use gpt_api_common::json;

#[derive(Debug, Default)]
pub(super) struct StreamAccumulator {
    framing: Framing,
    events: DialectStream,
    /// An event's data was not JSON, or a frame was not valid.
    malformed: bool,
}

/// How the stream's bytes divide into events, known from its first byte that is not
/// whitespace: `[` opens Gemini's JSON array; a control byte is the high byte of the
/// length of Converse's first binary frame (under 16 MiB, so 0); anything else is SSE.
#[derive(Debug, Default)]
enum Framing {
    #[default]
    NoByte,
    Sse(SseSplitter),
    JsonArray(ArraySplitter),
    EventStream(FrameReader),
}

/// What the stream's events said so far, read in the dialect of its first event.
#[derive(Debug, Default)]
enum DialectStream {
    #[default]
    NoEvent,
    Chat(ChatStream),
    Messages(MessagesStream),
    Responses(ResponsesStream),
    Gemini(GeminiStream),
    Converse(ConverseStream),
    Cohere(CohereStream),
}

#[derive(Debug, Default)]
pub(super) struct ChatStream {
    summary: ResponseSummary,
    tool_calls: ToolCalls,
    known: KnownEvents,
}

impl StreamAccumulator {
    /// Takes the next chunk as written to the client and applies every event it completes.
    pub(super) fn feed(&mut self, bytes: &[u8]) {
        if let Framing::NoByte = self.framing {
            let Some(first) = bytes.iter().find(|byte| !byte.is_ascii_whitespace()) else {
                return;
            };
            self.framing = match first {
                b'[' => Framing::JsonArray(ArraySplitter::default()),
                0..=0x1f => {
                    self.events = DialectStream::Converse(ConverseStream::default());
                    Framing::EventStream(FrameReader::default())
                }
                _ => Framing::Sse(SseSplitter::default()),
            };
        }
        let events = &mut self.events;
        match &mut self.framing {
            Framing::NoByte => {}
            Framing::Sse(splitter) => {
                // A chunk that is one event the scan reads (the common case) is taken without
                // looking for its line's end: the scan reads no line break.
                if splitter
                    .whole_event(bytes)
                    .is_some_and(|data| events.scan(data))
                {
                    return;
                }
                // Chat events the scan reads (and `[DONE]`) are taken in place; the rest goes
                // the long way.
                let mut rest = bytes;
                while let Some((data, length)) = splitter.leading_event(rest) {
                    if !(says_nothing(data) || events.scan(data)) {
                        break;
                    }
                    rest = &rest[length..];
                }
                // A chunk of whole events, all taken in place (the common case): nothing to
                // split, nothing pending.
                if rest.is_empty() {
                    return;
                }
                splitter.push(rest);
                while let Some(data) = splitter.next_event() {
                    if says_nothing(data) || events.scan(data) {
                        continue;
                    }
                    if json::read(data, |event| events.apply(&event)).is_err() {
                        self.malformed = true;
                    }
                }
            }
            Framing::JsonArray(splitter) => {
                splitter.push(bytes);
                while let Some(entry) = splitter.next_entry() {
                    if json::read(entry, |event| events.apply(&event)).is_err() {
                        self.malformed = true;
                    }
                }
            }
            Framing::EventStream(splitter) => {
                splitter.push(bytes);
                if let DialectStream::Converse(converse) = events {
                    self.malformed |= !splitter.apply_frames(converse);
                }
            }
        }
    }

    /// The stream is over: an unfinished last event flags the record as malformed.
    pub(super) fn finish(mut self) -> ResponseSummary {
        let truncated = match &mut self.framing {
            Framing::NoByte => false,
            Framing::Sse(splitter) => splitter.finish(),
            Framing::JsonArray(splitter) => splitter.finish(),
            Framing::EventStream(splitter) => splitter.finish(),
        };
        let mut summary = match self.events {
            DialectStream::NoEvent => ResponseSummary::default(),
            DialectStream::Chat(chat) => chat.finish(),
            DialectStream::Messages(messages) => messages.finish(),
            DialectStream::Responses(responses) => responses.finish(),
            DialectStream::Gemini(gemini) => gemini.finish(),
            DialectStream::Converse(converse) => converse.finish(),
            DialectStream::Cohere(cohere) => cohere.finish(),
        };
        summary.malformed |= self.malformed || truncated;
        summary
    }
}

/// An SSE event with nothing to read: blank data, or the end marker of OpenAI's streams.
fn says_nothing(data: &[u8]) -> bool {
    data == b"[DONE]" || data.trim_ascii().is_empty()
}

impl DialectStream {
    /// A chat stream's event (or a stream's first), read by the scan if it can
    /// (`chat_scan`); false when simd-json must parse it.
    fn scan(&mut self, data: &[u8]) -> bool {
        match self {
            Self::Chat(chat) => chat.scan(data),
            // The scan reads no event that `Dialect::of_event` would give another dialect.
            Self::NoEvent => {
                let mut chat = ChatStream::default();
                let scanned = chat.scan(data);
                if scanned {
                    *self = Self::Chat(chat);
                }
                scanned
            }
            _ => false,
        }
    }

    /// The stream's next JSON event (Converse's frames are applied by `FrameReader`).
    fn apply(&mut self, event: &Value<'_, '_>) {
        if let Self::NoEvent = self {
            *self = match Dialect::of_event(event) {
                Dialect::Chat => Self::Chat(ChatStream::default()),
                Dialect::Messages => Self::Messages(MessagesStream::default()),
                Dialect::Responses => Self::Responses(ResponsesStream::default()),
                Dialect::Gemini => Self::Gemini(GeminiStream::default()),
                Dialect::Cohere => Self::Cohere(CohereStream::default()),
                // Not a JSON event's dialect: Converse streams binary frames.
                Dialect::Converse => Self::Converse(ConverseStream::default()),
            };
        }
        match self {
            Self::NoEvent | Self::Converse(_) => {}
            Self::Chat(chat) => chat.apply(event),
            Self::Messages(messages) => messages.apply(event),
            Self::Responses(responses) => responses.apply(event),
            Self::Gemini(gemini) => gemini.apply(event),
            Self::Cohere(cohere) => cohere.apply(event),
        }
    }
}

// === impl ChatStream ===

impl ChatStream {
    pub(super) fn apply(&mut self, event: &Value<'_, '_>) {
        read_usage(event, &mut self.summary);
        if self.summary.error.is_none() {
            self.summary.error = error_message(event);
        }
        let Some(choices) = event.get("choices").and_then(|c| c.as_array()) else {
            return;
        };
        for (position, choice) in choices.iter().enumerate() {
            if choice.get_u64("index").unwrap_or(position as u64) == 0 {
                self.apply_choice(&choice);
            }
        }
    }

    /// An event read by the scan; false (nothing read) when simd-json must parse it.
    pub(super) fn scan(&mut self, data: &[u8]) -> bool {
        if let Some(choice) = self.known.text_event(data) {
            choice.add_to(&mut self.summary);
            return true;
        }
        let scanned = chat_scan::scan(data, Message::Delta, Some(&mut self.known));
        let Some(fields) = scanned else {
            return false;
        };
        fields.add_to(&mut self.summary);
        true
    }

    fn apply_choice(&mut self, choice: &Value<'_, '_>) {
        let delta = choice.get("delta");
        ChoiceFields::from_tape(choice, delta.as_ref()).add_to(&mut self.summary);
        let Some(delta) = delta else {
            return;
        };
        let Some(pieces) = delta.get("tool_calls").and_then(|p| p.as_array()) else {
            return;
        };
        for (position, piece) in pieces.iter().enumerate() {
            self.merge_tool_call(position as u64, &piece);
        }
    }

    /// `id`, `type` and `function.name` come from the first piece that has them;
    /// `function.arguments` are concatenated in order; other indexes are other calls.
    fn merge_tool_call(&mut self, position: u64, piece: &Value<'_, '_>) {
        let call = self
            .tool_calls
            .at(piece.get_u64("index").unwrap_or(position));
        fill_once(&mut call.id, piece.get_str("id"));
        fill_once(&mut call.kind, piece.get_str("type"));
        let Some(function) = piece.get("function") else {
            return;
        };
        fill_once(&mut call.name, function.get_str("name"));
        if let Some(arguments) = function.get_str("arguments") {
            call.arguments.push_str(arguments);
        }
    }

    pub(super) fn finish(self) -> ResponseSummary {
        let mut summary = self.summary;
        summary.tool_calls = self.tool_calls.into_json();
        summary
    }
}
