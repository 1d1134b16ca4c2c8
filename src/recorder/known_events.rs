//! What a chat stream's last scanned events looked like, so that the next ones are not
//! scanned whole: a stream's events repeat their bytes around what changes. Its opening
//! members (`id`, `created`, `model`, `object`...) are not scanned again; and a text event
//! (a piece of `content`, `reasoning` or `text` and nothing else) whose bytes before and
//! after the text are the last text event's is read without a scan at all. Used by
//! `chat_scan` and the chat stream only.

use super::chat_scan::{ChatFields, ChoiceFields};

/// A chat stream's last scanned events (see the module notes).
#[derive(Debug, Default)]
pub(super) struct KnownEvents {
    /// The opening members, then (for a text event) the rest of that event without its
    /// text: what came before the text, then what came after it.
    bytes: Vec<u8>,
    /// Where the opening members end: the first member the scan reads starts there.
    members: usize,
    /// Which field the text event's text was, and where it was cut out of `bytes`.
    text: Option<(TextField, usize)>,
}

/// The field of a choice that a text event fills.
#[derive(Debug, Clone, Copy)]
enum TextField {
    Text,
    Content,
    Reasoning,
}

impl KnownEvents {
    /// A text event read without a scan: the last text event's bytes around a new text, which
    /// must be what the scan takes as the body of a string (no quote, backslash or control
    /// byte; UTF-8). Any document so made scans as that event did, with this text.
    pub(super) fn text_event<'d>(&self, document: &'d [u8]) -> Option<ChoiceFields<'d>> {
        let (field, cut) = self.text?;
        let (before, after) = self.bytes.split_at(cut);
        let end = document.len().checked_sub(after.len())?;
        if end < before.len() || !document.starts_with(before) || !document.ends_with(after) {
            return None;
        }
        let text = &document[before.len()..end];
        let mut unusual = 0_u8;
        for &byte in text {
            unusual |= u8::from(byte < 0x20) | u8::from(byte == b'\\') | u8::from(byte == b'"');
        }
        if unusual != 0 {
            return None;
        }
        Some(field.choice(std::str::from_utf8(text).ok()?))
    }

    /// Where the scan of `document` may start: after the opening members, if it opens with
    /// them (checked JSON once, they are the same JSON again).
    pub(super) fn resume_in(&self, document: &[u8]) -> usize {
        let members = &self.bytes[..self.members];
        let repeated = !members.is_empty() && document.len() > members.len();
        if repeated && document.starts_with(members) {
            members.len()
        } else {
            0
        }
    }

    /// What the scan read in `document`, whose members from `members` on it read.
    pub(super) fn remember(&mut self, document: &[u8], members: usize, fields: &ChatFields<'_>) {
        if let Some((field, text)) = fields
            .zero
            .as_ref()
            .and_then(|zero| text_only(zero, fields))
        {
            let start = text.as_ptr().addr() - document.as_ptr().addr();
            let end = start + text.len();
            self.bytes.clear();
            self.bytes.extend_from_slice(&document[..start]);
            self.bytes.extend_from_slice(&document[end..]);
            self.members = members;
            self.text = Some((field, start));
        } else if self.bytes[..self.members] != document[..members] {
            // Another event: a text event known before stays known if the opening members
            // are the same.
            self.bytes.clear();
            self.bytes.extend_from_slice(&document[..members]);
            self.members = members;
            self.text = None;
        }
    }
}

/// The one text the event gives, if it gives nothing else.
fn text_only<'d>(
    choice: &ChoiceFields<'d>,
    fields: &ChatFields<'d>,
) -> Option<(TextField, &'d str)> {
    if fields.usage.is_some() || choice.finish_reason.is_some() {
        return None;
    }
    match (choice.text, choice.content, choice.reasoning) {
        (Some(text), None, None) => Some((TextField::Text, text)),
        (None, Some(text), None) => Some((TextField::Content, text)),
        (None, None, Some(text)) => Some((TextField::Reasoning, text)),
        _ => None,
    }
}

impl TextField {
    fn choice(self, text: &str) -> ChoiceFields<'_> {
        let mut choice = ChoiceFields::default();
        let slot = match self {
            Self::Text => &mut choice.text,
            Self::Content => &mut choice.content,
            Self::Reasoning => &mut choice.reasoning,
        };
        *slot = Some(text);
        choice
    }
}
