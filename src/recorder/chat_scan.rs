//! What a chat/completions choice says (`ChoiceFields`, read from simd-json's tape or by the
//! scan) and how it adds to a summary; and the scan: chat JSON (a stream's events, a whole
//! answer) read in one forward pass instead of by simd-json, for what nearly every chat
//! event is: a piece of text, a finish reason, usage. Parsing a stream's 21 events with
//! simd-json was most of the logging thread's time per stream.
//! The scan reads only documents without a backslash or a control byte, where every `"`
//! opens or closes a string and a string's bytes are its text, and only what it fully
//! understands: tool calls, errors, numbers it cannot read exactly, a key given twice, the
//! keys that name another dialect, or anything that is not JSON give `None`, and the caller
//! parses the document with simd-json instead. What it reads, it has checked is JSON, so a
//! row is the same whichever reader read it (`tests/chat_scan.rs` runs both on every event).

use simd_json::prelude::*;
use simd_json::value::tape::Value;

use super::known_events::KnownEvents;
use super::response::{append, reasoning_text, UsageFields};
use super::row::ResponseSummary;

/// Documents nested deeper than this are left to simd-json.
const MAX_DEPTH: usize = 32;

/// Which object of a choice holds the answer: a streamed chunk's `delta`, a body's `message`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Message {
    Delta,
    Whole,
}

impl Message {
    fn key(self) -> &'static str {
        match self {
            Self::Delta => "delta",
            Self::Whole => "message",
        }
    }
}

/// What a chat document says, as the readers of `stream` and `response` use it.
#[derive(Debug, Default)]
pub(super) struct ChatFields<'a> {
    /// `usage`, when it is an object.
    pub usage: Option<UsageFields>,
    /// The choice at position 0 (a whole answer's).
    pub first: Option<ChoiceFields<'a>>,
    /// The choice whose `index` (or position, without one) is 0 (a stream's).
    pub zero: Option<ChoiceFields<'a>>,
}

/// One choice's text fields; its `delta` or `message` had no tool calls.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct ChoiceFields<'a> {
    pub finish_reason: Option<&'a str>,
    /// Completions' `text`.
    pub text: Option<&'a str>,
    /// The `delta`'s or `message`'s `content`.
    pub content: Option<&'a str>,
    /// Its `reasoning_content`, else its `reasoning`.
    pub reasoning: Option<&'a str>,
}

impl ChatFields<'_> {
    /// A streamed event, added to what the stream's earlier events said.
    pub(super) fn add_to(&self, summary: &mut ResponseSummary) {
        if let Some(usage) = &self.usage {
            usage.record(summary);
        }
        if let Some(choice) = &self.zero {
            choice.add_to(summary);
        }
    }

    /// A whole answer (a new summary).
    pub(super) fn answer_into(&self, summary: &mut ResponseSummary) {
        if let Some(usage) = &self.usage {
            usage.record(summary);
        }
        if let Some(choice) = &self.first {
            choice.answer_into(summary);
        }
    }
}

impl<'a> ChoiceFields<'a> {
    /// The same fields from simd-json's tape: a choice and its `delta` or `message`.
    pub(super) fn from_tape(choice: &'a Value<'_, '_>, message: Option<&'a Value<'_, '_>>) -> Self {
        Self {
            finish_reason: choice.get_str("finish_reason"),
            text: choice.get_str("text"),
            content: message.and_then(|message| message.get_str("content")),
            reasoning: message.and_then(reasoning_text),
        }
    }

    /// A streamed piece: text is appended, the finish reason replaced.
    pub(super) fn add_to(&self, summary: &mut ResponseSummary) {
        if let Some(reason) = self.finish_reason {
            summary.finish_reason = Some(reason.to_owned());
        }
        for text in [self.text, self.content].into_iter().flatten() {
            append(&mut summary.content, text);
        }
        if let Some(text) = self.reasoning {
            append(&mut summary.reasoning, text);
        }
    }

    /// A whole answer's choice: the message's content, else completions' text.
    pub(super) fn answer_into(&self, summary: &mut ResponseSummary) {
        summary.finish_reason = self.finish_reason.map(str::to_owned);
        summary.content = self.content.or(self.text).map(str::to_owned);
        summary.reasoning = self.reasoning.map(str::to_owned);
    }
}

/// The document's fields, or `None` when simd-json must read it (see the module notes).
/// `known`: what a stream's last events looked like (see `KnownEvents`).
pub(super) fn scan<'d>(
    document: &'d [u8],
    message: Message,
    known: Option<&mut KnownEvents>,
) -> Option<ChatFields<'d>> {
    // One pass the compiler vectorizes: a backslash or control byte, and any byte past ASCII.
    let (mut unusual, mut all) = (0_u8, 0_u8);
    for &byte in document {
        unusual |= u8::from(byte < 0x20) | u8::from(byte == b'\\');
        all |= byte;
    }
    if unusual != 0 || (all >= 0x80 && std::str::from_utf8(document).is_err()) {
        return None;
    }
    let mut known = known;
    let resume_at = known.as_ref().map_or(0, |known| known.resume_in(document));
    let mut scanner = Scanner {
        bytes: document,
        at: 0,
        key_start: 0,
        skipped: known.as_deref_mut().map(KnownEvents::skipped_strings),
        text_read: false,
    };
    let (fields, prefix_end) = scanner.chat(message, resume_at)?;
    scanner.spaces();
    if scanner.at != document.len() {
        return None;
    }
    if let (Some(known), Some(end)) = (known, prefix_end) {
        known.remember(document, end, &fields);
    }
    Some(fields)
}

/// Keys of one object already read, so that a repeated one sends the document to simd-json.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn first(&mut self, bit: u32) -> Option<()> {
        let seen = self.0 & bit != 0;
        self.0 |= bit;
        (!seen).then_some(())
    }
}

/// A position in a document of valid UTF-8 without backslashes or control bytes (so `' '` is
/// the only whitespace there can be between tokens).
struct Scanner<'a, 'k> {
    bytes: &'a [u8],
    at: usize,
    /// Where the key of the object member being read starts.
    key_start: usize,
    /// Where the bodies of the strings passed over after the first text are, for a stream's
    /// `KnownEvents` (which keeps the bytes before an event's text whole).
    skipped: Option<&'k mut Vec<(usize, usize)>>,
    text_read: bool,
}

// === impl Scanner: chat ===

impl<'a> Scanner<'a, '_> {
    /// The fields, and where the first member the scan reads starts (what may be skipped in
    /// the stream's next event). With `resume_at`, the members from there on (what comes
    /// before is a known prefix).
    fn chat(
        &mut self,
        message: Message,
        resume_at: usize,
    ) -> Option<(ChatFields<'a>, Option<usize>)> {
        let mut fields = ChatFields::default();
        let mut seen = Seen::default();
        let mut prefix_end = None;
        let mut member = |scanner: &mut Self, key: &'a [u8]| {
            let read = matches!(key, b"usage" | b"choices" | b"error");
            if read && prefix_end.is_none() {
                prefix_end = Some(scanner.key_start);
            }
            scanner.chat_member(message, key, &mut seen, &mut fields)
        };
        if resume_at > 0 {
            self.at = resume_at;
            self.members(&mut member)?;
        } else {
            self.object(&mut member)?;
        }
        Some((fields, prefix_end))
    }

    fn chat_member(
        &mut self,
        message: Message,
        key: &'a [u8],
        seen: &mut Seen,
        fields: &mut ChatFields<'a>,
    ) -> Option<()> {
        let scanner = self;
        match key {
            b"usage" => {
                seen.first(1)?;
                fields.usage = scanner.usage()?;
                Some(())
            }
            b"choices" => {
                seen.first(2)?;
                scanner.choices(message, fields)
            }
            // In-band errors are rare: simd-json reads them.
            b"error" => {
                seen.first(4)?;
                scanner.null().then_some(())
            }
            // Keys that make `Dialect::of_event` name another dialect.
            b"type" | b"candidates" | b"usageMetadata" | b"promptFeedback" => None,
            _ => scanner.skip(1),
        }
    }

    fn choices(&mut self, message: Message, fields: &mut ChatFields<'a>) -> Option<()> {
        if self.null() {
            return Some(());
        }
        self.array(|scanner, position| {
            let (index, choice) = scanner.choice(message)?;
            if position == 0 {
                fields.first = Some(choice);
            }
            if index.unwrap_or(position as u64) == 0 {
                // Two choices 0 (a broken upstream) are left to simd-json.
                if fields.zero.replace(choice).is_some() {
                    return None;
                }
            }
            Some(())
        })
    }

    /// A choice's `index` (if given) and text fields.
    fn choice(&mut self, message: Message) -> Option<(Option<u64>, ChoiceFields<'a>)> {
        let mut index = None;
        let mut choice = ChoiceFields::default();
        let mut seen = Seen::default();
        let message_key = message.key().as_bytes();
        self.object(|scanner, key| {
            match key {
                b"index" => {
                    seen.first(1)?;
                    index = scanner.count_or_null()?.map(|index| index as u64);
                }
                b"finish_reason" => {
                    seen.first(2)?;
                    choice.finish_reason = scanner.text_or_null()?;
                }
                b"text" => {
                    seen.first(4)?;
                    choice.text = scanner.text_or_null()?;
                }
                _ if key == message_key => {
                    seen.first(8)?;
                    if !scanner.null() {
                        scanner.message(&mut choice)?;
                    }
                }
                _ => scanner.skip(2)?,
            }
            Some(())
        })?;
        Some((index, choice))
    }

    /// A `delta` or `message` object without tool calls.
    fn message(&mut self, choice: &mut ChoiceFields<'a>) -> Option<()> {
        let mut reasoning_content = None;
        let mut reasoning = None;
        let mut seen = Seen::default();
        self.object(|scanner, key| {
            match key {
                b"content" => {
                    seen.first(1)?;
                    choice.content = scanner.text_or_null()?;
                }
                b"reasoning_content" => {
                    seen.first(2)?;
                    reasoning_content = scanner.text_or_null()?;
                }
                b"reasoning" => {
                    seen.first(4)?;
                    reasoning = scanner.text_or_null()?;
                }
                // None, or an empty list: anything else is merged by simd-json's reader.
                b"tool_calls" => {
                    seen.first(8)?;
                    if !scanner.null() {
                        scanner.array(|_, _| None)?;
                    }
                }
                _ => scanner.skip(3)?,
            }
            Some(())
        })?;
        choice.reasoning = reasoning_content.or(reasoning);
        Some(())
    }

    /// `null` (`None`), or a `usage` object of whole numbers.
    fn usage(&mut self) -> Option<Option<UsageFields>> {
        if self.null() {
            return Some(None);
        }
        let mut usage = UsageFields::default();
        let mut seen = Seen::default();
        self.object(|scanner, key| {
            let (bit, slot) = match key {
                b"prompt_tokens" => (1, &mut usage.prompt_tokens),
                b"completion_tokens" => (2, &mut usage.completion_tokens),
                b"total_tokens" => (4, &mut usage.total_tokens),
                b"input_tokens" => (8, &mut usage.input_tokens),
                b"output_tokens" => (16, &mut usage.output_tokens),
                b"cache_creation_input_tokens" => (32, &mut usage.cache_creation_input_tokens),
                b"cache_read_input_tokens" => (64, &mut usage.cache_read_input_tokens),
                b"prompt_tokens_details" => {
                    seen.first(128)?;
                    usage.prompt_cached_tokens = scanner.cached_tokens()?;
                    return Some(());
                }
                b"input_tokens_details" => {
                    seen.first(256)?;
                    usage.input_cached_tokens = scanner.cached_tokens()?;
                    return Some(());
                }
                _ => return scanner.skip(2),
            };
            seen.first(bit)?;
            *slot = scanner.count_or_null()?;
            Some(())
        })?;
        Some(Some(usage))
    }

    /// A `*_tokens_details` object's `cached_tokens` (`null` has none).
    fn cached_tokens(&mut self) -> Option<Option<i64>> {
        if self.null() {
            return Some(None);
        }
        let mut cached = None;
        let mut seen = Seen::default();
        self.object(|scanner, key| {
            if key != b"cached_tokens" {
                return scanner.skip(3);
            }
            seen.first(1)?;
            cached = scanner.count_or_null()?;
            Some(())
        })?;
        Some(cached)
    }
}

// === impl Scanner: JSON ===

impl<'a> Scanner<'a, '_> {
    fn spaces(&mut self) {
        while self.bytes.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }

    /// Takes `byte` (after spaces) if it is next.
    fn take(&mut self, byte: u8) -> bool {
        self.spaces();
        let next = self.bytes.get(self.at) == Some(&byte);
        self.at += usize::from(next);
        next
    }

    /// Takes `word` (after spaces) if it is next; what follows is checked by the caller.
    fn take_word(&mut self, word: &[u8]) -> bool {
        self.spaces();
        let next = self.bytes[self.at..].starts_with(word);
        if next {
            self.at += word.len();
        }
        next
    }

    fn null(&mut self) -> bool {
        self.take_word(b"null")
    }

    /// A string's bytes, which are its text, as there is no backslash.
    fn string(&mut self) -> Option<&'a [u8]> {
        if !self.take(b'"') {
            return None;
        }
        let start = self.at;
        let length = memchr::memchr(b'"', &self.bytes[start..])?;
        self.at = start + length + 1;
        Some(&self.bytes[start..start + length])
    }

    fn text_or_null(&mut self) -> Option<Option<&'a str>> {
        if self.null() {
            return Some(None);
        }
        // Always valid: `scan` checked the whole document.
        let text = std::str::from_utf8(self.string()?).ok()?;
        self.text_read = true;
        Some(Some(text))
    }

    /// `null`, or a whole number of up to 18 digits without a sign (which simd-json reads as
    /// the same integer); any other number is left to simd-json.
    fn count_or_null(&mut self) -> Option<Option<i64>> {
        if self.null() {
            return Some(None);
        }
        self.spaces();
        let start = self.at;
        let digits = self.digits(start);
        let number = &self.bytes[start..start + digits];
        if digits == 0 || digits > 18 || (digits > 1 && number[0] == b'0') {
            return None;
        }
        self.at += digits;
        if matches!(self.bytes.get(self.at), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = number
            .iter()
            .fold(0, |value, digit| value * 10 + i64::from(digit - b'0'));
        Some(Some(value))
    }

    fn digits(&self, from: usize) -> usize {
        let rest = &self.bytes[from..];
        rest.iter().take_while(|byte| byte.is_ascii_digit()).count()
    }

    /// `{"key": value, ...}`, each value read by `value`, which is given the key.
    fn object(&mut self, value: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        if !self.take(b'{') {
            return None;
        }
        if self.take(b'}') {
            return Some(());
        }
        self.members(value)
    }

    /// An object's members from its first key on (its `{` taken), and its `}`.
    fn members(&mut self, mut value: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        loop {
            self.spaces();
            self.key_start = self.at;
            let key = self.string()?;
            if !self.take(b':') {
                return None;
            }
            value(self, key)?;
            if !self.take(b',') {
                return self.take(b'}').then_some(());
            }
        }
    }

    /// `[item, ...]`, each read by `item`, which is given its position.
    fn array(&mut self, mut item: impl FnMut(&mut Self, usize) -> Option<()>) -> Option<()> {
        if !self.take(b'[') {
            return None;
        }
        if self.take(b']') {
            return Some(());
        }
        let mut position = 0;
        loop {
            item(self, position)?;
            if !self.take(b',') {
                return self.take(b']').then_some(());
            }
            position += 1;
        }
    }

    /// Any value, checked and passed over.
    fn skip(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.spaces();
        match self.bytes.get(self.at)? {
            b'"' => {
                let body = self.at + 1;
                self.string()?;
                if let (true, Some(skipped)) = (self.text_read, &mut self.skipped) {
                    skipped.push((body, self.at - 1));
                }
                Some(())
            }
            b'{' => self.object(|scanner, _| scanner.skip(depth + 1)),
            b'[' => self.array(|scanner, _| scanner.skip(depth + 1)),
            b't' => self.take_word(b"true").then_some(()),
            b'f' => self.take_word(b"false").then_some(()),
            b'n' => self.null().then_some(()),
            _ => self.number(),
        }
    }

    /// A JSON number with at most 18 digits before and after the point and an exponent of
    /// at most two digits, well inside what simd-json reads; longer ones are left to it.
    fn number(&mut self) -> Option<()> {
        let bytes = self.bytes;
        let mut at = self.at + usize::from(bytes.get(self.at) == Some(&b'-'));
        let whole = self.digits(at);
        if whole == 0 || whole > 18 || (whole > 1 && bytes[at] == b'0') {
            return None;
        }
        at += whole;
        if bytes.get(at) == Some(&b'.') {
            let fraction = self.digits(at + 1);
            if fraction == 0 || fraction > 18 {
                return None;
            }
            at += 1 + fraction;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            at += usize::from(matches!(bytes.get(at), Some(b'+' | b'-')));
            let exponent = self.digits(at);
            if exponent == 0 || exponent > 2 {
                return None;
            }
            at += exponent;
        }
        self.at = at;
        Some(())
    }
}
