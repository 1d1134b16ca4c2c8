//! Chunked request bodies (RFC 9112 §7.1), decoded from the bytes read so far: chunk
//! extensions are checked against the grammar and ignored (§7.1.1), trailer fields are
//! checked and dropped (§7.1.2). Everything else is strict (hex sizes, CRLF line ends, no
//! whitespace where the grammar has none) and bounded: the body by `max_body_bytes`, a size
//! line and the trailer section by the constants below.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::AppError;

/// The longest chunk-size line, extensions included (nginx refuses much less; 4 KiB leaves
/// room for any extension a client has a reason to send).
const MAX_SIZE_LINE: usize = 4096;
/// The longest trailer section.
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// A chunked body being decoded, bounded by `max` bytes of data.
pub struct ChunkedBody {
    state: State,
    body: BytesMut,
    max: usize,
    trailer_bytes: usize,
}

#[derive(Clone, Copy)]
enum State {
    SizeLine,
    Data { remaining: usize },
    DataEnd,
    Trailer,
}

fn invalid(detail: &str) -> AppError {
    AppError::BadRequest(format!("invalid chunked body: {detail}"))
}

impl ChunkedBody {
    pub fn new(max: usize) -> Self {
        Self {
            state: State::SizeLine,
            body: BytesMut::new(),
            max,
            trailer_bytes: 0,
        }
    }

    /// Consumes what `buffer` holds; the whole body once its last chunk and trailer arrived.
    pub fn decode(&mut self, buffer: &mut BytesMut) -> Result<Option<Bytes>, AppError> {
        loop {
            match self.state {
                State::SizeLine => {
                    let Some(len) = line_length(buffer, MAX_SIZE_LINE)? else {
                        return Ok(None);
                    };
                    let size = self.chunk_size(&buffer[..len])?;
                    buffer.advance(len + 2);
                    self.state = if size == 0 {
                        State::Trailer
                    } else {
                        self.body.reserve(size);
                        State::Data { remaining: size }
                    };
                }
                State::Data { remaining } => {
                    if buffer.is_empty() {
                        return Ok(None);
                    }
                    let taken = remaining.min(buffer.len());
                    self.body.extend_from_slice(&buffer[..taken]);
                    buffer.advance(taken);
                    self.state = match remaining - taken {
                        0 => State::DataEnd,
                        remaining => State::Data { remaining },
                    };
                }
                State::DataEnd => {
                    let end = &buffer[..buffer.len().min(2)];
                    if !b"\r\n".starts_with(end) {
                        return Err(invalid("chunk data longer than its size"));
                    }
                    if end.len() < 2 {
                        return Ok(None);
                    }
                    buffer.advance(2);
                    self.state = State::SizeLine;
                }
                State::Trailer => {
                    let room = MAX_TRAILER_BYTES - self.trailer_bytes;
                    let Some(len) = line_length(buffer, room)? else {
                        return Ok(None);
                    };
                    if len > 0 && !is_field_line(&buffer[..len]) {
                        return Err(invalid("malformed trailer field"));
                    }
                    buffer.advance(len + 2);
                    self.trailer_bytes += len + 2;
                    if len == 0 {
                        return Ok(Some(std::mem::take(&mut self.body).freeze()));
                    }
                }
            }
        }
    }

    /// `chunk-size [ chunk-ext ]`: the size in hex, refused as too large before its data is
    /// read when it would take the body past the limit.
    fn chunk_size(&self, line: &[u8]) -> Result<usize, AppError> {
        let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 {
            return Err(invalid("chunk size is not hexadecimal"));
        }
        if !is_extension_list(&line[digits..]) {
            return Err(invalid("malformed chunk extension"));
        }
        let too_large = AppError::BodyTooLarge { limit: self.max };
        let mut size: usize = 0;
        for &digit in &line[..digits] {
            let value = (digit as char).to_digit(16).unwrap_or_default() as usize;
            size = size
                .checked_mul(16)
                .and_then(|size| size.checked_add(value))
                .ok_or_else(|| too_large.clone())?;
        }
        if size > self.max - self.body.len() {
            return Err(too_large);
        }
        Ok(size)
    }
}

/// The length of the line at the front of `buffer` without its CRLF; `None` until the line
/// is complete. A bare LF, or no line end within `max` bytes, is refused.
fn line_length(buffer: &[u8], max: usize) -> Result<Option<usize>, AppError> {
    let window = &buffer[..buffer.len().min(max + 2)];
    match memchr::memchr(b'\n', window) {
        Some(at) if at > 0 && window[at - 1] == b'\r' => Ok(Some(at - 1)),
        Some(_) => Err(invalid("bare LF")),
        None if window.len() == max + 2 => Err(invalid("line too long")),
        None => Ok(None),
    }
}

/// `*( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`, names and values being
/// tokens or (values only) quoted strings.
fn is_extension_list(mut rest: &[u8]) -> bool {
    while !rest.is_empty() {
        let Some((b';', after)) = skip_whitespace(rest).split_first() else {
            return false;
        };
        rest = skip_whitespace(after);
        let name = token_length(rest);
        if name == 0 {
            return false;
        }
        rest = &rest[name..];
        if let Some((b'=', after)) = skip_whitespace(rest).split_first() {
            rest = skip_whitespace(after);
            let value = match rest.first() {
                Some(b'"') => quoted_string_length(rest),
                _ => token_length(rest),
            };
            if value == 0 {
                return false;
            }
            rest = &rest[value..];
        }
    }
    true
}

/// `field-name ":" OWS field-value OWS`, without obsolete line folding.
fn is_field_line(line: &[u8]) -> bool {
    let name = token_length(line);
    name > 0 && line.get(name) == Some(&b':') && line[name + 1..].iter().all(|&b| is_field_byte(b))
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let spaces = bytes
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &bytes[spaces..]
}

fn token_length(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|&&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        .count()
}

/// HTAB, SP, visible ASCII and obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80
}

/// The length of the quoted string at the front of `bytes`, quotes included; 0 if there is
/// none (unterminated, or a byte a quoted string cannot hold).
fn quoted_string_length(bytes: &[u8]) -> usize {
    let mut at = 1;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'"' => return at + 1,
            b'\\' if bytes.get(at + 1).is_some_and(|&b| is_field_byte(b)) => at += 2,
            b'\\' => return 0,
            b if is_field_byte(b) => at += 1,
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests;
