//! What the dialects' unit tests share: JSON read back, and SSE streams cut into payloads,
//! decoded into pieces and encoded again through any dialect.

use simd_json::OwnedValue;

use super::{Decoder, Dialect, Encoder, Framing, Piece};

pub(super) fn value(bytes: &[u8]) -> OwnedValue {
    simd_json::to_owned_value(&mut bytes.to_vec())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)))
}

/// The `data:` payloads of SSE events separated by blank lines (`\n\n` or `\r\n\r\n`), a
/// payload of several `data:` lines joined.
pub(super) fn payloads(stream: &str) -> Vec<String> {
    stream
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(|event| {
            event
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect::<String>()
        })
        .filter(|payload| !payload.is_empty())
        .collect()
}

/// The pieces of an SSE stream in `dialect`.
pub(super) fn decode(dialect: Dialect, stream: &str) -> Vec<Piece> {
    let mut decoder = Decoder::new(dialect);
    let mut pieces = Vec::new();
    for payload in payloads(stream) {
        decoder.decode(payload.as_bytes(), &mut pieces);
    }
    pieces
}

/// `pieces` as an SSE stream in `dialect` (chat's with its usage chunk).
pub(super) fn encode<'p>(dialect: Dialect, pieces: impl IntoIterator<Item = &'p Piece>) -> String {
    let mut encoder = Encoder::new(dialect, false, Framing::Sse);
    let mut out = Vec::new();
    for piece in pieces {
        encoder.encode(piece, &mut out);
    }
    String::from_utf8(out).expect("UTF-8")
}
