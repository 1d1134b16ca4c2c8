//! The stream accumulator: text, reasoning, merged tool calls, usage, errors, and
//! malformed or truncated input.

use crate::row::ResponseSummary;

use super::support::{accumulate, accumulate_in_chunks};

fn delta(json: &str) -> String {
    format!("data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{json},\"finish_reason\":null}}]}}\n\n")
}

#[test]
fn content_is_concatenated_across_events_and_chunks() {
    let first = delta(r#"{"role":"assistant","content":""}"#);
    let second = delta(r#"{"content":"Hel"}"#);
    let third = delta(r#"{"content":"lo \"wörld\"\n"}"#);
    let (head, tail) = third.split_at(17);
    let last = r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
    let summary = accumulate(&[&first, &(second + head), tail, last, "\n\ndata: [DONE]\n\n"]);
    assert_eq!(summary.content.as_deref(), Some("Hello \"wörld\"\n"));
    assert_eq!(summary.finish_reason.as_deref(), Some("stop"));
    assert_eq!(summary.reasoning, None);
    assert_eq!(summary.tool_calls, None);
    assert!(!summary.malformed);
}

#[test]
fn reasoning_is_kept_apart_from_content() {
    let summary = accumulate(&[
        &delta(r#"{"reasoning_content":"Let me "}"#),
        &delta(r#"{"reasoning_content":"think."}"#),
        &delta(r#"{"content":"42"}"#),
    ]);
    assert_eq!(summary.reasoning.as_deref(), Some("Let me think."));
    assert_eq!(summary.content.as_deref(), Some("42"));
}

#[test]
fn two_parallel_tool_calls_are_merged_by_index() {
    let summary = accumulate(&[
        &delta(
            r#"{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}"#,
        ),
        &delta(
            r#"{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\""}}]}"#,
        ),
        &delta(r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}"#),
        &delta(
            r#"{"tool_calls":[{"index":1,"function":{"arguments":":\"UTC\"}"}},{"index":0,"function":{"arguments":"\"Paris\"}"}}]}"#,
        ),
        r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        "\n\n",
    ]);
    let expected = concat!(
        r#"[{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},"#,
        r#"{"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"UTC\"}"}}]"#
    );
    assert_eq!(summary.tool_calls.as_deref(), Some(expected));
    assert_eq!(summary.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(summary.content, None);
}

#[test]
fn usage_comes_from_the_usage_chunk() {
    let summary = accumulate(&[
        &delta(r#"{"content":"Hi"}"#),
        "data: {\"choices\":[],\"usage\":null}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2,\"total_tokens\":13}}\n\n",
        "data: [DONE]\n\n",
    ]);
    assert_eq!(
        (
            summary.prompt_tokens,
            summary.completion_tokens,
            summary.total_tokens
        ),
        (Some(11), Some(2), Some(13))
    );
    assert_eq!(summary.content.as_deref(), Some("Hi"));
}

#[test]
fn completions_text_is_accumulated() {
    let summary = accumulate(&[
        "data: {\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"Once \",\"finish_reason\":null}]}\n\n",
        "data: {\"choices\":[{\"index\":0,\"text\":\"upon\",\"finish_reason\":\"length\"}]}\n\n",
    ]);
    assert_eq!(summary.content.as_deref(), Some("Once upon"));
    assert_eq!(summary.finish_reason.as_deref(), Some("length"));
}

#[test]
fn only_choice_zero_is_kept() {
    let chunk = "data: {\"choices\":[{\"index\":1,\"delta\":{\"content\":\"B\"}},{\"index\":0,\"delta\":{\"content\":\"A\"}}]}\n\n";
    assert_eq!(accumulate(&[chunk]).content.as_deref(), Some("A"));
}

#[test]
fn a_malformed_event_is_skipped_and_flagged() {
    let summary = accumulate(&[
        &delta(r#"{"content":"one "}"#),
        "data: {\"choices\":[{\"delta\":{\"content\":\"lost\"\n\n",
        &delta(r#"{"content":"two"}"#),
    ]);
    assert_eq!(summary.content.as_deref(), Some("one two"));
    assert!(summary.malformed);
}

#[test]
fn a_truncated_stream_keeps_what_was_complete_and_is_flagged() {
    let summary = accumulate(&[
        &delta(r#"{"content":"kept"}"#),
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"cut",
    ]);
    assert_eq!(summary.content.as_deref(), Some("kept"));
    assert!(summary.malformed);
}

#[test]
fn an_in_band_error_event_is_recorded() {
    let error = r#"data: {"error":{"message":"All upstreams failed for model 'm'. Tried: [\"a/m\"]. Last error: stream idle timeout","type":"upstream_error","code":"stream_interrupted"}}"#;
    let summary = accumulate(&[&delta(r#"{"content":"partial"}"#), error, "\n\n"]);
    assert_eq!(
        summary.error.as_deref(),
        Some(
            "All upstreams failed for model 'm'. Tried: [\"a/m\"]. Last error: stream idle timeout"
        )
    );
    assert_eq!(summary.content.as_deref(), Some("partial"));
    assert!(!summary.malformed);
}

#[test]
fn an_empty_stream_gives_an_empty_summary() {
    assert_eq!(accumulate(&[]), ResponseSummary::default());
    assert_eq!(
        accumulate(&[": ping\n\n", "data: [DONE]\n\n"]),
        ResponseSummary::default()
    );
}

#[test]
fn done_and_blank_events_say_nothing_in_place_or_split() {
    let stream = [
        delta(r#"{"content":"Hi"}"#),
        "data:\n\ndata: \n\n".to_owned(),
        r#"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#.to_owned(),
        "\n\ndata: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let summary = accumulate_in_chunks(&stream, 1);
    assert_eq!(summary.content.as_deref(), Some("Hi"));
    assert_eq!(summary.completion_tokens, Some(1));
    assert!(!summary.malformed);
}

#[test]
fn a_chunk_reads_the_same_whole_and_byte_by_byte() {
    // A chunk that ends an event is first tried as one single-line event: not when it holds
    // two, a multi-line one, CRLF line ends, or a comment first.
    let event = delta(r#"{"content":"a"}"#);
    let chunks = [
        event.clone(),
        format!("{event}{event}"),
        event.replace("\n\n", "\ndata: {}\n\n"),
        event.replace("\n\n", "\r\n\r\n"),
        event.replace("data: {", "data: \n{"),
        format!(": ping\n\n{event}"),
    ];
    for chunk in &chunks {
        accumulate_in_chunks(chunk, 1);
    }
    assert_eq!(accumulate(&[&chunks[0]]).content.as_deref(), Some("a"));
    assert_eq!(accumulate(&[&chunks[1]]).content.as_deref(), Some("aa"));
    assert!(accumulate(&[&chunks[2]]).malformed);
    assert_eq!(accumulate(&[&chunks[3]]).content.as_deref(), Some("a"));
}
