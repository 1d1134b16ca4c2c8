//! Reading a ConverseStream (AWS event-stream binary frames, `gpt_api_common::eventstream`)
//! as its bytes arrive: an `event` frame is applied by its `:event-type` header, an
//! `exception` (or `error`) frame as the stream's error.

use super::converse::ConverseStream;
use gpt_api_common::eventstream::{frame_len, read_frame, FrameError};
use gpt_api_common::json;

/// Incremental reader: `push` bytes, then `apply_frames` to a stream.
#[derive(Debug, Default)]
pub(super) struct FrameReader {
    /// Bytes received and not yet read, from the start of a frame.
    pending: Vec<u8>,
    /// A frame's payload, copied so simd-json can parse it in place.
    payload: Vec<u8>,
    /// A frame declared a length no frame may have: where the next one starts is unknown.
    broken: bool,
}

impl FrameReader {
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if !self.broken {
            self.pending.extend_from_slice(bytes);
        }
    }

    /// Applies every whole frame received; false when one was not valid (a bad checksum,
    /// or a payload that is not JSON: that frame is skipped) or the framing broke.
    pub(super) fn apply_frames(&mut self, converse: &mut ConverseStream) -> bool {
        let mut valid = true;
        let mut read = 0;
        while let Some(length) = frame_len(&self.pending[read..]) {
            let frame = &self.pending[read..read + length];
            read += length;
            match read_frame(frame) {
                Ok(frame) => {
                    self.payload.clear();
                    self.payload.extend_from_slice(frame.payload);
                    valid &= apply_frame(&frame, &mut self.payload, converse);
                }
                Err(FrameError::Length { .. }) => {
                    self.broken = true;
                    self.pending.clear();
                    return false;
                }
                Err(_) => valid = false,
            }
        }
        self.pending.drain(..read);
        valid
    }

    /// At the end of the stream: true when a frame was left unfinished or the framing broke.
    pub(super) fn finish(&mut self) -> bool {
        self.broken || !self.pending.is_empty()
    }
}

/// Applies one frame, its payload copied to `payload`; false when the payload is not JSON.
fn apply_frame(
    frame: &gpt_api_common::eventstream::Frame<'_>,
    payload: &mut [u8],
    converse: &mut ConverseStream,
) -> bool {
    let payload = Some(payload).filter(|payload| !payload.trim_ascii().is_empty());
    // Frames without `:message-type` are events, as botocore reads them.
    if frame.message_type.unwrap_or("event") == "event" {
        let Some(payload) = payload else {
            return true;
        };
        let event_type = frame.event_type.unwrap_or_default();
        return json::read(payload, |value| converse.apply(event_type, &value)).is_ok();
    }
    // An exception's message is in its JSON payload; an `error` frame's, in its headers.
    let kind = frame
        .exception_type
        .or(frame.error_code)
        .unwrap_or_default();
    let Some(payload) = payload else {
        converse.exception(frame.error_message.unwrap_or(kind), None);
        return true;
    };
    json::read(payload, |value| converse.exception(kind, Some(&value))).is_ok()
}
