//! Splitting a ConverseStream (AWS event-stream binary framing) back into its frames, as the
//! bytes arrive, and applying each: an `event` frame by its `:event-type` header, an
//! `exception` (or `error`) frame as the stream's error.

use super::converse::ConverseStream;
use gpt_api_common::json;

/// Frame layout: total length (u32), headers length (u32), prelude CRC (u32), headers,
/// payload, message CRC (u32); big-endian.
const PRELUDE: usize = 12;
const TRAILER: usize = 4;

/// Incremental splitter: `push` bytes, then take frames with `next_frame`.
#[derive(Debug, Default)]
pub(super) struct FrameSplitter {
    /// Bytes received and not yet handed out, from the start of a frame.
    pending: Vec<u8>,
    /// The frame handed out by the last `next_frame`.
    frame: Vec<u8>,
    /// A frame's length could not be right: what follows cannot be divided into frames.
    broken: bool,
}

impl FrameSplitter {
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// The next complete frame (mutable, so its payload can be parsed in place), or `None`
    /// until more bytes arrive.
    pub(super) fn next_frame(&mut self) -> Option<&mut [u8]> {
        let length = u32::from_be_bytes(self.pending.get(..4)?.try_into().ok()?) as usize;
        if length < PRELUDE + TRAILER {
            self.broken = true;
            return None;
        }
        if self.pending.len() < length {
            return None;
        }
        self.frame.clear();
        self.frame.extend(self.pending.drain(..length));
        Some(&mut self.frame)
    }

    /// At the end of the stream: true when a frame was left unfinished or the framing broke.
    pub(super) fn finish(&mut self) -> bool {
        self.broken || !self.pending.is_empty()
    }
}

/// Applies one whole frame to the stream; false when it is not a valid frame or its
/// payload is not JSON.
pub(super) fn apply_frame(frame: &mut [u8], converse: &mut ConverseStream) -> bool {
    let Some((headers, payload)) = split_frame(frame) else {
        return false;
    };
    let Some(headers) = Headers::read(headers) else {
        return false;
    };
    let payload = Some(payload).filter(|payload| !payload.trim_ascii().is_empty());
    if headers.message_type == "event" {
        let Some(payload) = payload else {
            return true;
        };
        return json::read(payload, |value| converse.apply(headers.event_type, &value)).is_ok();
    }
    // An exception's message is in its JSON payload; an `error` frame's, in a header.
    let kind = headers.exception_type;
    let Some(payload) = payload else {
        converse.exception(headers.error_message.unwrap_or(kind), None);
        return true;
    };
    json::read(payload, |value| converse.exception(kind, Some(&value))).is_ok()
}

/// The headers and the payload of a whole frame (whose length `next_frame` checked).
fn split_frame(frame: &mut [u8]) -> Option<(&[u8], &mut [u8])> {
    let headers_length = u32::from_be_bytes(frame.get(4..8)?.try_into().ok()?) as usize;
    let payload_start = PRELUDE.checked_add(headers_length)?;
    let payload_end = frame.len() - TRAILER;
    if payload_start > payload_end {
        return None;
    }
    let (head, rest) = frame.split_at_mut(payload_start);
    Some((&head[PRELUDE..], &mut rest[..payload_end - payload_start]))
}

/// The headers a Converse stream's frames are read by.
struct Headers<'a> {
    /// `event`, `exception` or `error`.
    message_type: &'a str,
    /// An event's name (`contentBlockDelta`...).
    event_type: &'a str,
    /// An exception's name (`throttlingException`...), or an error frame's code.
    exception_type: &'a str,
    /// An error frame's message.
    error_message: Option<&'a str>,
}

impl<'a> Headers<'a> {
    /// Each header: name length (u8), name, value type (u8), value. Strings (type 7) are
    /// what is read; other types are skipped by their size.
    fn read(mut bytes: &'a [u8]) -> Option<Self> {
        let mut headers = Headers {
            message_type: "event",
            event_type: "",
            exception_type: "",
            error_message: None,
        };
        while let Some((&name_length, rest)) = bytes.split_first() {
            let (name, rest) = rest.split_at_checked(name_length as usize)?;
            let (&kind, rest) = rest.split_first()?;
            let value_length = match kind {
                0 | 1 => 0,
                2 => 1,
                3 => 2,
                4 => 4,
                5 | 8 => 8,
                9 => 16,
                6 | 7 => {
                    let length = rest.get(..2)?;
                    2 + u16::from_be_bytes([length[0], length[1]]) as usize
                }
                _ => return None,
            };
            let (value, rest) = rest.split_at_checked(value_length)?;
            bytes = rest;
            if kind != 7 {
                continue;
            }
            let value = std::str::from_utf8(&value[2..]).ok()?;
            match name {
                b":message-type" => headers.message_type = value,
                b":event-type" => headers.event_type = value,
                b":exception-type" | b":error-code" => headers.exception_type = value,
                b":error-message" => headers.error_message = Some(value),
                _ => {}
            }
        }
        Some(headers)
    }
}
