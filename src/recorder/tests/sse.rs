//! The SSE splitter: events split across chunks, several per chunk, CRLF, comments,
//! multi-line data, `[DONE]`, and what is left at the end.

use crate::sse::SseSplitter;

/// Feeds the chunks in order and collects every event's data as text.
fn events(chunks: &[&str]) -> Vec<String> {
    let mut splitter = SseSplitter::default();
    let mut found = Vec::new();
    for chunk in chunks {
        splitter.push(chunk.as_bytes());
        while let Some(data) = splitter.next_event() {
            found.push(String::from_utf8(data.to_vec()).expect("utf-8"));
        }
    }
    found
}

#[test]
fn an_event_split_across_chunks_comes_out_once_complete() {
    let chunks = ["da", "ta: {\"a\"", ":1}\n", "\n"];
    assert_eq!(events(&chunks), [r#"{"a":1}"#]);
    assert!(events(&chunks[..3]).is_empty());
}

#[test]
fn several_events_in_one_chunk_come_out_in_order() {
    let chunk = "data: one\n\ndata: two\n\ndata: [DONE]\n\n";
    assert_eq!(events(&[chunk]), ["one", "two", "[DONE]"]);
}

#[test]
fn crlf_line_endings_are_the_same_as_lf() {
    let chunks = ["data: one\r\n\r\ndata: two\r", "\n\r", "\n"];
    assert_eq!(events(&chunks), ["one", "two"]);
}

#[test]
fn comments_and_other_fields_are_skipped() {
    let chunk = ": keep-alive\n\nevent: message\nid: 7\n: inside\ndata: x\nretry: 10\n\n";
    assert_eq!(events(&[chunk]), ["x"]);
}

#[test]
fn multi_line_data_is_joined_with_newlines() {
    assert_eq!(events(&["data: {\"a\":\ndata:1}\n\n"]), ["{\"a\":\n1}"]);
}

#[test]
fn the_space_after_the_colon_is_optional() {
    assert_eq!(events(&["data:x\n\ndata:  y\n\n"]), ["x", " y"]);
}

#[test]
fn finish_reports_an_unfinished_event() {
    let mut splitter = SseSplitter::default();
    splitter.push(b"data: done\n\ndata: {\"cut");
    assert!(splitter.next_event().is_some());
    assert!(splitter.next_event().is_none());
    assert!(splitter.finish());

    let mut splitter = SseSplitter::default();
    splitter.push(b"data: whole line but no blank line\n");
    assert!(splitter.next_event().is_none());
    assert!(splitter.finish());
}

#[test]
fn finish_accepts_a_clean_end_or_trailing_comments() {
    for tail in ["data: x\n\n", "data: x\n\n: bye\n", "data: x\r\n\r\n\r\n"] {
        let mut splitter = SseSplitter::default();
        splitter.push(tail.as_bytes());
        while splitter.next_event().is_some() {}
        assert!(!splitter.finish(), "{tail:?}");
    }
}

#[test]
fn a_whole_event_is_the_chunk_between_data_and_the_blank_line() {
    let splitter = SseSplitter::default();
    assert_eq!(splitter.whole_event(b"data: x\n\n"), Some(&b"x"[..]));
    assert_eq!(splitter.whole_event(b"data:x\n\n"), Some(&b"x"[..]));
    // What the caller's check must refuse: a line break in what is returned.
    assert_eq!(
        splitter.whole_event(b"data: x\n\ndata: y\n\n"),
        Some(&b"x\n\ndata: y"[..])
    );
    for chunk in ["data: x\n", ": x\n\n", "event: x\n\n", "data: x\r\n"] {
        assert_eq!(splitter.whole_event(chunk.as_bytes()), None, "{chunk:?}");
    }
    let mut pending = SseSplitter::default();
    pending.push(b"data: cut");
    assert_eq!(pending.whole_event(b"data: x\n\n"), None);
}
