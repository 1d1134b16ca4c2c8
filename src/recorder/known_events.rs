//! What a chat stream's last scanned events looked like, so that the next ones are not
//! scanned whole: a stream's events repeat their bytes around what changes. Its opening
//! members (`id`, `created`, `model`, `object`...) are not scanned again; and a text event
//! (a piece of `content`, `reasoning` or `text` and nothing else) whose bytes are the last
//! text event's but for the text and, after it, strings the scan passes over (OpenAI's
//! `obfuscation`, a logprob's token) is read without a scan at all. Used by `chat_scan` and
//! the chat stream only.

use super::chat_scan::{ChatFields, ChoiceFields};

/// A chat stream's last scanned events (see the module notes).
#[derive(Debug, Default)]
pub(super) struct KnownEvents {
    /// The opening members, then (for a text event) the rest of that event without its
    /// text and without the bodies of the strings after it that the scan passed over.
    bytes: Vec<u8>,
    /// Where the opening members end: the first member the scan reads starts there.
    members: usize,
    /// Which field the text event's text was, and where it was cut out of `bytes`.
    text: Option<(TextField, usize)>,
    /// Where, after the text, passed-over strings' bodies were cut out of `bytes`.
    holes: Vec<usize>,
    /// The bodies of the strings the last scan passed over (kept for its allocation).
    skipped: Vec<(usize, usize)>,
}

/// The field of a choice that a text event fills.
#[derive(Debug, Clone, Copy)]
enum TextField {
    Text,
    Content,
    Reasoning,
}

impl KnownEvents {
    /// A text event read without a scan: the last text event's bytes with a new text and new
    /// bodies of the strings after it that the scan passed over, each what the scan takes as
    /// a string's body (no quote, backslash or control byte; UTF-8). Any document so made
    /// scans as that event did, with this text.
    pub(super) fn text_event<'d>(&self, document: &'d [u8]) -> Option<ChoiceFields<'d>> {
        let (field, cut) = self.text?;
        let tail = &self.bytes[self.holes.last().map_or(cut, |&hole| hole)..];
        let end = document.len().checked_sub(tail.len())?;
        if end < cut || !document.starts_with(&self.bytes[..cut]) || !document.ends_with(tail) {
            return None;
        }
        // What lies between: the text, then each changing string after the bytes before it.
        let middle = &document[..end];
        let (text, mut at) = string_body(middle, cut)?;
        let text = std::str::from_utf8(text).ok()?;
        let mut piece = cut;
        for &hole in &self.holes {
            at = after_piece(middle, at, &self.bytes[piece..hole])?;
            let (body, body_end) = string_body(middle, at)?;
            if !body.is_ascii() {
                std::str::from_utf8(body).ok()?;
            }
            (at, piece) = (body_end, hole);
        }
        (at == end).then(|| field.choice(text))
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

    /// Where the scan notes the bodies of the strings it passes over, emptied.
    pub(super) fn skipped_strings(&mut self) -> &mut Vec<(usize, usize)> {
        self.skipped.clear();
        &mut self.skipped
    }

    /// What the scan read in `document`, whose members from `members` on it read.
    pub(super) fn remember(&mut self, document: &[u8], members: usize, fields: &ChatFields<'_>) {
        if let Some((field, text)) = fields
            .zero
            .as_ref()
            .and_then(|zero| text_only(zero, fields))
        {
            let start = text.as_ptr().addr() - document.as_ptr().addr();
            self.bytes.clear();
            self.bytes.extend_from_slice(&document[..start]);
            self.holes.clear();
            let text_end = start + text.len();
            let mut from = text_end;
            for &(body, end) in self.skipped.iter().filter(|(body, _)| *body > text_end) {
                self.bytes.extend_from_slice(&document[from..body]);
                self.holes.push(self.bytes.len());
                from = end;
            }
            self.bytes.extend_from_slice(&document[from..]);
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

/// The body of the string at `at` (after its opening quote), up to its closing quote or the
/// end of `middle`, and where it ends, if the scan would take it: no backslash or control byte.
fn string_body(middle: &[u8], at: usize) -> Option<(&[u8], usize)> {
    // One pass, byte by byte: these strings are a few bytes long, shorter than what pays for
    // memchr's setup.
    let rest = middle.get(at..)?;
    for (length, &byte) in rest.iter().enumerate() {
        match byte {
            b'"' => return Some((&rest[..length], at + length)),
            b'\\' | 0..0x20 => return None,
            _ => {}
        }
    }
    Some((rest, middle.len()))
}

/// Where `piece` ends if `middle` has it at `at`.
fn after_piece(middle: &[u8], at: usize, piece: &[u8]) -> Option<usize> {
    let next = middle.get(at..)?.starts_with(piece);
    next.then_some(at + piece.len())
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
