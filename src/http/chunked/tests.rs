use super::*;

/// Decodes `input` fed one byte at a time, as the slowest client would send it.
fn decode_bytewise(input: &[u8], max: usize) -> Result<Option<Bytes>, AppError> {
    let mut body = ChunkedBody::new(max);
    let mut buffer = BytesMut::new();
    for &byte in input {
        buffer.extend_from_slice(&[byte]);
        if let Some(done) = body.decode(&mut buffer)? {
            return Ok(Some(done));
        }
    }
    Ok(None)
}

fn decode_whole(input: &[u8], max: usize) -> Result<Option<Bytes>, AppError> {
    ChunkedBody::new(max).decode(&mut BytesMut::from(input))
}

fn is_bad_request(result: Result<Option<Bytes>, AppError>) -> bool {
    matches!(result, Err(AppError::BadRequest(_)))
}

#[test]
fn chunks_decode_across_reads_and_what_follows_stays_in_the_buffer() {
    let input = b"5\r\nhello\r\n2\r\n!!\r\n0\r\n\r\n";
    assert_eq!(
        decode_bytewise(input, 16).unwrap().as_deref(),
        Some(&b"hello!!"[..])
    );
    let mut buffer = BytesMut::from(&b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1"[..]);
    let body = ChunkedBody::new(16).decode(&mut buffer).unwrap();
    assert_eq!(body.as_deref(), Some(&b"hello"[..]));
    assert_eq!(&buffer[..], b"GET / HTTP/1.1");
}

#[test]
fn extensions_and_trailers_are_read_and_ignored() {
    for input in [
        &b"5;foo=bar\r\nhello\r\n0\r\n\r\n"[..],
        b"5;foo\r\nhello\r\n0;last\r\n\r\n",
        b"5 ; a = b ;c=\"quoted; \\\"value\\\"\"\r\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\nChecksum: abc\r\nX-Empty:\r\n\r\n",
        b"0005;ext=1\r\nhello\r\n000\r\n\r\n",
    ] {
        for decoded in [decode_whole(input, 16), decode_bytewise(input, 16)] {
            assert_eq!(
                decoded.unwrap().as_deref(),
                Some(&b"hello"[..]),
                "{input:?}"
            );
        }
    }
}

#[test]
fn malformed_framing_is_refused() {
    for input in [
        &b"x\r\nhello\r\n0\r\n\r\n"[..],
        b"\r\nhello\r\n0\r\n\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"5;\r\nhello\r\n0\r\n\r\n",
        b"5;=x\r\nhello\r\n0\r\n\r\n",
        b"5;a=\r\nhello\r\n0\r\n\r\n",
        b"5;a=\"open\r\nhello\r\n0\r\n\r\n",
        b"5;a b\r\nhello\r\n0\r\n\r\n",
        b"5;a\x00\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhelloX\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\r\n\n",
        b"5\r\nhello\r\n0\r\nno colon\r\n\r\n",
        b"5\r\nhello\r\n0\r\nA: b\r\n folded\r\n\r\n",
        b"5\r\nhello\r\n0\r\n: no name\r\n\r\n",
    ] {
        assert!(is_bad_request(decode_whole(input, 16)), "{input:?}");
        assert!(is_bad_request(decode_bytewise(input, 16)), "{input:?}");
    }
}

#[test]
fn size_lines_and_trailers_are_bounded() {
    let mut long_extension = b"5;x=".to_vec();
    long_extension.extend_from_slice(&[b'a'; MAX_SIZE_LINE]);
    assert!(is_bad_request(decode_bytewise(&long_extension, 16)));
    let mut long_trailer = b"0\r\n".to_vec();
    for _ in 0..=MAX_TRAILER_BYTES / 8 {
        long_trailer.extend_from_slice(b"A: bcd\r\n");
    }
    assert!(is_bad_request(decode_whole(&long_trailer, 16)));
}

#[test]
fn a_chunk_past_the_limit_is_refused_before_its_data() {
    let too_large = Err(AppError::BodyTooLarge { limit: 4 });
    assert_eq!(decode_whole(b"5\r\n", 4), too_large);
    assert_eq!(decode_whole(b"3\r\nabc\r\n2\r\n", 4), too_large);
    assert_eq!(decode_whole(b"ffffffffffffffffffff\r\n", 4), too_large);
    assert_eq!(
        decode_whole(b"4\r\nabcd\r\n0\r\n\r\n", 4)
            .unwrap()
            .as_deref(),
        Some(&b"abcd"[..])
    );
}
