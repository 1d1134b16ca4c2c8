//! AWS event-stream framing (`application/vnd.amazon.eventstream`, Bedrock's streams): one
//! binary frame per event, each checked by two CRC32s. Pure code over bytes; no I/O.
//!
//! Written by hand on `crc32fast` rather than with `aws-smithy-eventstream`: that crate needs
//! Rust 1.94 (we build on 1.85), pulls in `aws-smithy-types` with `time`, `http-body`,
//! `base64-simd` and eleven more crates, and parses every header into an allocated value
//! where a stream needs four strings borrowed from the frame.
//!
//! A frame: total length (u32 BE), headers length (u32 BE), the CRC32 of those eight bytes;
//! headers (name length u8, name, value type u8, value); payload; the CRC32 of everything
//! before it.

/// Prelude (two lengths and their CRC) and the trailing message CRC.
const PRELUDE: usize = 12;
const OVERHEAD: usize = PRELUDE + 4;
/// botocore's limits: a longer frame is a broken stream, not one to wait for.
const MAX_HEADERS: usize = 128 * 1024;
const MAX_PAYLOAD: usize = 24 * 1024 * 1024;

/// The header value type for a string.
const STRING: u8 = 7;

/// One frame's headers that matter to a stream reader, borrowed from the frame.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// `event`, `exception` or `error`.
    pub message_type: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub exception_type: Option<&'a str>,
    pub content_type: Option<&'a str>,
    /// `:message-type error` frames carry their error in headers, not in the payload.
    pub error_code: Option<&'a str>,
    pub error_message: Option<&'a str>,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes are not one whole frame of the length its prelude declares.
    Length {
        declared: usize,
        actual: usize,
    },
    PreludeChecksum,
    MessageChecksum,
    /// A header runs past the headers' end, or has an unknown value type.
    Header,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Length { declared, actual } => write!(
                f,
                "event-stream frame declares {declared} bytes, has {actual}"
            ),
            Self::PreludeChecksum => f.write_str("event-stream prelude checksum mismatch"),
            Self::MessageChecksum => f.write_str("event-stream message checksum mismatch"),
            Self::Header => f.write_str("malformed event-stream header"),
        }
    }
}

impl std::error::Error for FrameError {}

/// How many bytes at the start of `bytes` to hand to `read_frame`: the first frame's, once
/// all of it is there; only the prelude's when the prelude declares a length no frame may
/// have (so `read_frame` says why instead of the caller waiting forever). `None`: read more.
pub fn frame_len(bytes: &[u8]) -> Option<usize> {
    let (total, headers) = prelude(bytes)?;
    if !plausible(total, headers) {
        return Some(PRELUDE);
    }
    (bytes.len() >= total).then_some(total)
}

/// Reads one whole frame (exactly its bytes, as `frame_len` measured them), checking both CRCs.
pub fn read_frame(frame: &[u8]) -> Result<Frame<'_>, FrameError> {
    let declared = prelude(frame);
    let Some((total, headers_len)) =
        declared.filter(|&(total, headers)| plausible(total, headers) && frame.len() == total)
    else {
        return Err(FrameError::Length {
            declared: declared.map_or(0, |(total, _)| total),
            actual: frame.len(),
        });
    };
    if crc32fast::hash(&frame[..8]) != be_u32(&frame[8..PRELUDE]) {
        return Err(FrameError::PreludeChecksum);
    }
    if crc32fast::hash(&frame[..total - 4]) != be_u32(&frame[total - 4..]) {
        return Err(FrameError::MessageChecksum);
    }
    let mut parsed = Frame {
        payload: &frame[PRELUDE + headers_len..total - 4],
        ..Frame::default()
    };
    let mut headers = &frame[PRELUDE..PRELUDE + headers_len];
    while !headers.is_empty() {
        let (name, value, rest) = header(headers).ok_or(FrameError::Header)?;
        headers = rest;
        let Some(value) = value else { continue };
        let slot = match name {
            b":message-type" => &mut parsed.message_type,
            b":event-type" => &mut parsed.event_type,
            b":exception-type" => &mut parsed.exception_type,
            b":content-type" => &mut parsed.content_type,
            b":error-code" => &mut parsed.error_code,
            b":error-message" => &mut parsed.error_message,
            _ => continue,
        };
        *slot = Some(value);
    }
    Ok(parsed)
}

/// Appends one frame with string headers. Names and values longer than the format allows
/// (255 and 65,535 bytes) are cut; ours are short constants.
pub fn write_frame(out: &mut Vec<u8>, headers: &[(&str, &str)], payload: &[u8]) {
    let headers_len: usize = headers
        .iter()
        .map(|header| {
            let (name, value) = fit(header);
            1 + name.len() + 3 + value.len()
        })
        .sum();
    let total = OVERHEAD + headers_len + payload.len();
    let start = out.len();
    out.reserve(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(headers_len as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    for header in headers {
        let (name, value) = fit(header);
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.push(STRING);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&message_crc.to_be_bytes());
}

/// A header's name and value, cut to the lengths their length fields can say.
fn fit<'h>(&(name, value): &(&'h str, &'h str)) -> (&'h [u8], &'h [u8]) {
    let (name, value) = (name.as_bytes(), value.as_bytes());
    (
        &name[..name.len().min(u8::MAX as usize)],
        &value[..value.len().min(u16::MAX as usize)],
    )
}

/// The declared total and headers lengths, once the prelude is there.
fn prelude(bytes: &[u8]) -> Option<(usize, usize)> {
    let prelude = bytes.get(..PRELUDE)?;
    Some((
        be_u32(&prelude[..4]) as usize,
        be_u32(&prelude[4..8]) as usize,
    ))
}

fn plausible(total: usize, headers: usize) -> bool {
    headers <= MAX_HEADERS
        && total >= OVERHEAD + headers
        && total - OVERHEAD - headers <= MAX_PAYLOAD
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// One header: its name, its value when it is a UTF-8 string (other types are skipped), and
/// the headers after it.
fn header(bytes: &[u8]) -> Option<(&[u8], Option<&str>, &[u8])> {
    let (&name_len, rest) = bytes.split_first()?;
    let name = rest.get(..name_len as usize)?;
    let rest = &rest[name_len as usize..];
    let (&kind, rest) = rest.split_first()?;
    let fixed = match kind {
        0 | 1 => 0, // true, false: the type is the value
        2 => 1,
        3 => 2,
        4 => 4,
        5 | 8 => 8, // i64, timestamp
        9 => 16,    // uuid
        6 | STRING => {
            let len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
            let value = rest.get(2..2 + len)?;
            let text = (kind == STRING)
                .then(|| std::str::from_utf8(value).ok())
                .flatten();
            return Some((name, text, &rest[2 + len..]));
        }
        _ => return None,
    };
    Some((name, None, rest.get(fixed..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// botocore's `tests/unit/test_eventstream.py`: PAYLOAD_ONE_STR_HEADER.
    const ONE_STRING_HEADER: &[u8] = b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent-type\x07\x00\x10application/json{'foo':'bar'}\x8d\x9c\x08\xb1";

    /// botocore's ERROR_EVENT_MESSAGE.
    const ERROR_MESSAGE: &[u8] = b"\x00\x00\x00\x52\x00\x00\x00\x42\xbf\x23\x63\x7e\x0d:message-type\x07\x00\x05error\x0b:error-code\x07\x00\x04code\x0e:error-message\x07\x00\x07message\x6b\x6c\xea\x3d";

    /// botocore's ALL_HEADERS_TYPES: one header of each of the ten value types.
    const ALL_HEADER_TYPES: &[u8] = b"\x00\x00\x00\x62\x00\x00\x00\x52\x03\xb5\xcb\x9c\x010\x00\x011\x01\x012\x02\x02\x013\x03\x00\x03\x014\x04\x00\x00\x00\x04\x015\x05\x00\x00\x00\x00\x00\x00\x00\x05\x016\x06\x00\x05bytes\x017\x07\x00\x04utf8\x018\x08\x00\x00\x00\x00\x00\x00\x00\x08\x019\x090123456789abcdef\x63\x35\x36\x71";

    #[test]
    fn reads_botocores_frames() {
        assert_eq!(frame_len(ONE_STRING_HEADER), Some(0x3d));
        let frame = read_frame(ONE_STRING_HEADER).unwrap();
        assert_eq!(frame.payload, b"{'foo':'bar'}");
        // `content-type` without the colon is not the `:content-type` header.
        assert_eq!(frame.content_type, None);

        let error = read_frame(ERROR_MESSAGE).unwrap();
        assert_eq!(error.message_type, Some("error"));
        assert_eq!(error.error_code, Some("code"));
        assert_eq!(error.error_message, Some("message"));
        assert!(error.payload.is_empty());

        assert_eq!(read_frame(ALL_HEADER_TYPES).unwrap(), Frame::default());
    }

    #[test]
    fn writes_what_botocore_writes() {
        let mut out = b"before".to_vec();
        write_frame(
            &mut out,
            &[("content-type", "application/json")],
            b"{'foo':'bar'}",
        );
        assert_eq!(&out[6..], ONE_STRING_HEADER);
    }

    #[test]
    fn round_trips_a_bedrock_event() {
        let mut out = Vec::new();
        let headers = [
            (":event-type", "contentBlockDelta"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ];
        let payload = br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#;
        write_frame(&mut out, &headers, payload);
        write_frame(&mut out, &[(":message-type", "exception")], b"{}");
        let first = frame_len(&out).unwrap();
        let frame = read_frame(&out[..first]).unwrap();
        assert_eq!(frame.event_type, Some("contentBlockDelta"));
        assert_eq!(frame.content_type, Some("application/json"));
        assert_eq!(frame.message_type, Some("event"));
        assert_eq!(frame.payload, payload);
        let second = frame_len(&out[first..]).unwrap();
        assert_eq!(first + second, out.len());
        assert_eq!(
            read_frame(&out[first..]).unwrap().message_type,
            Some("exception")
        );
    }

    #[test]
    fn waits_for_a_whole_frame() {
        for cut in 0..ONE_STRING_HEADER.len() {
            assert_eq!(frame_len(&ONE_STRING_HEADER[..cut]), None, "cut at {cut}");
        }
    }

    #[test]
    fn refuses_corrupt_frames() {
        let mut flipped = ONE_STRING_HEADER.to_vec();
        flipped[30] ^= 1;
        assert_eq!(read_frame(&flipped), Err(FrameError::MessageChecksum));

        let mut longer = ONE_STRING_HEADER.to_vec();
        longer[3] += 1;
        assert_eq!(
            read_frame(&longer[..0x3d]),
            Err(FrameError::Length {
                declared: 0x3e,
                actual: 0x3d
            })
        );
        longer.push(0);
        assert_eq!(read_frame(&longer), Err(FrameError::PreludeChecksum));

        // A header whose value runs past the headers' end, with both CRCs right.
        let mut bad = Vec::new();
        write_frame(&mut bad, &[(":event-type", "x")], b"");
        bad[PRELUDE + 1 + 11 + 2] = 9;
        let crc = crc32fast::hash(&bad[..bad.len() - 4]).to_be_bytes();
        let at = bad.len() - 4;
        bad[at..].copy_from_slice(&crc);
        assert_eq!(read_frame(&bad), Err(FrameError::Header));
    }

    #[test]
    fn an_impossible_length_is_not_waited_for() {
        let mut huge = Vec::new();
        huge.extend_from_slice(&(u32::MAX).to_be_bytes());
        huge.extend_from_slice(&0u32.to_be_bytes());
        huge.extend_from_slice(&crc32fast::hash(&huge).to_be_bytes());
        assert_eq!(frame_len(&huge), Some(PRELUDE));
        assert!(matches!(
            read_frame(&huge[..PRELUDE]),
            Err(FrameError::Length { .. })
        ));
        let mut short = vec![0, 0, 0, 4, 0, 0, 0, 0];
        short.extend_from_slice(&crc32fast::hash(&short).to_be_bytes());
        assert_eq!(frame_len(&short), Some(PRELUDE));
    }
}
