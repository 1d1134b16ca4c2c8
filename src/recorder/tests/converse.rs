//! Bedrock Converse answers (`/model/{modelId}/converse`, `/converse-stream`): whole bodies
//! with text, reasoning and tool use, error bodies, and ConverseStream's binary frames
//! (events, exceptions, a stream cut mid-frame).

use crate::response::summarize_body;
use crate::row::ResponseSummary;

use gpt_api_common::eventstream::write_frame;

use super::support::accumulate_bytes;

const CONVERSE: &str = "/model/anthropic.claude-3-haiku-20240307-v1:0/converse";

fn tokens(summary: &ResponseSummary) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        summary.prompt_tokens,
        summary.completion_tokens,
        summary.total_tokens,
    )
}

/// One event-stream frame with string headers, as Bedrock writes it.
pub(super) fn frame(headers: &[(&str, &str)], payload: &str) -> Vec<u8> {
    let mut frame = Vec::new();
    write_frame(&mut frame, headers, payload.as_bytes());
    frame
}

/// An `event` frame of ConverseStream.
pub(super) fn event(event_type: &str, payload: &str) -> Vec<u8> {
    let headers = [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ];
    frame(&headers, payload)
}

/// A recorded ConverseStream: text, then a tool use whose input comes in pieces.
pub(super) fn tool_use_stream() -> Vec<u8> {
    [
        event("messageStart", r#"{"p":"abcdefghijk","role":"assistant"}"#),
        event("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"text":"I'll look up "},"p":"abcd"}"#),
        event("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"text":"the weather."},"p":"abcdefghijklmnopq"}"#),
        event("contentBlockStop", r#"{"contentBlockIndex":0,"p":"abcdefghijklmnopqrstuvwxyzABCDEF"}"#),
        event("contentBlockStart", r#"{"contentBlockIndex":1,"p":"abc","start":{"toolUse":{"name":"get_weather","toolUseId":"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"}}}"#),
        event("contentBlockDelta", r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\": "}},"p":"abcdefgh"}"#),
        event("contentBlockDelta", r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"\"Seattle\"}"}},"p":"abcdefghijklmn"}"#),
        event("contentBlockStop", r#"{"contentBlockIndex":1,"p":"abcdefghijklmnopqrs"}"#),
        event("messageStop", r#"{"p":"abcdefghijklmnopqrstuvw","stopReason":"tool_use"}"#),
        event("metadata", r#"{"metrics":{"latencyMs":1023},"p":"abcdef","usage":{"inputTokens":412,"outputTokens":57,"totalTokens":469}}"#),
    ]
    .concat()
}

#[test]
fn a_text_reasoning_and_tool_use_body_gives_every_column() {
    let body = br#"{"output":{"message":{"role":"assistant","content":[{"reasoningContent":{"reasoningText":{"text":"The user asks about Seattle.","signature":"ErcBCkgIAhABGAIiQ"}}},{"text":"I'll check the weather in Seattle."},{"toolUse":{"toolUseId":"tooluse_2SZuXGhXQ9m3Cs","name":"get_weather","input":{"city":"Seattle","unit":"celsius"}}}]}},"stopReason":"tool_use","usage":{"inputTokens":300,"outputTokens":80,"totalTokens":1580,"cacheReadInputTokens":1000,"cacheWriteInputTokens":200},"metrics":{"latencyMs":1320}}"#;
    let summary = summarize_body(CONVERSE, 200, body);
    assert_eq!(
        summary.content.as_deref(),
        Some("I'll check the weather in Seattle.")
    );
    assert_eq!(
        summary.reasoning.as_deref(),
        Some("The user asks about Seattle.")
    );
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(
            r#"[{"id":"tooluse_2SZuXGhXQ9m3Cs","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Seattle\",\"unit\":\"celsius\"}"}}]"#
        )
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("tool_use"));
    // Cache reads and writes are prompt tokens Converse counts apart, as Anthropic does.
    assert_eq!(tokens(&summary), (Some(1500), Some(80), Some(1580)));
    assert_eq!(summary.cached_tokens, Some(1000));
    assert!(!summary.malformed);
}

#[test]
fn an_error_body_gives_its_message() {
    let body = br#"{"message":"The security token included in the request is invalid."}"#;
    let summary = summarize_body(CONVERSE, 403, body);
    assert_eq!(
        summary.error.as_deref(),
        Some("The security token included in the request is invalid.")
    );
    assert_eq!((summary.content, summary.finish_reason), (None, None));
    assert!(summarize_body(CONVERSE, 200, br#"{"output":{"#).malformed);
}

#[test]
fn a_tool_use_stream_gives_text_call_and_usage_whatever_the_chunking() {
    let stream = tool_use_stream();
    for size in [1, 7, 64, 4096] {
        let summary = accumulate_bytes(&stream, size);
        assert_eq!(
            summary.content.as_deref(),
            Some("I'll look up the weather.")
        );
        assert_eq!(
            summary.tool_calls.as_deref(),
            Some(
                r#"[{"id":"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Seattle\"}"}}]"#
            )
        );
        assert_eq!(summary.finish_reason.as_deref(), Some("tool_use"));
        assert_eq!(tokens(&summary), (Some(412), Some(57), Some(469)));
        assert_eq!((summary.reasoning, summary.error), (None, None));
        assert!(!summary.malformed);
    }
}

#[test]
fn reasoning_deltas_are_the_reasoning_and_a_tool_without_input_has_empty_arguments() {
    let stream = [
        event("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Time needs no input."}}}"#),
        event("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"ErcBCkgIAhAB"}}}"#),
        event("contentBlockStart", r#"{"contentBlockIndex":1,"start":{"toolUse":{"name":"get_time","toolUseId":"tooluse_1"}}}"#),
        event("contentBlockStop", r#"{"contentBlockIndex":1}"#),
        event("messageStop", r#"{"stopReason":"tool_use"}"#),
    ]
    .concat();
    let summary = accumulate_bytes(&stream, 5);
    assert_eq!(summary.reasoning.as_deref(), Some("Time needs no input."));
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(
            r#"[{"id":"tooluse_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]"#
        )
    );
    assert_eq!(summary.content, None);
}

#[test]
fn an_exception_frame_mid_stream_is_recorded_with_what_came_before() {
    let mut stream = tool_use_stream();
    stream.truncate(stream.len() - event("metadata", "{}").len() - 200);
    let head = accumulate_bytes(&stream, 4096);
    assert!(head.malformed, "cut mid-frame");

    let frames = tool_use_stream();
    let text_only = {
        let mut at = 0;
        for _ in 0..4 {
            at += u32::from_be_bytes(frames[at..at + 4].try_into().expect("4 bytes")) as usize;
        }
        &frames[..at]
    };
    let exception = frame(
        &[
            (":exception-type", "modelStreamErrorException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        r#"{"message":"Model stream error: the model stopped unexpectedly.","originalStatusCode":500}"#,
    );
    let summary = accumulate_bytes(&[text_only, &exception].concat(), 9);
    assert_eq!(
        summary.error.as_deref(),
        Some("Model stream error: the model stopped unexpectedly.")
    );
    assert_eq!(
        summary.content.as_deref(),
        Some("I'll look up the weather.")
    );
    assert_eq!((summary.finish_reason, summary.tool_calls), (None, None));
    assert!(!summary.malformed);

    // An exception without a message names its type; an `error` frame's message is a header.
    let bare = frame(
        &[
            (":message-type", "exception"),
            (":exception-type", "throttlingException"),
        ],
        "",
    );
    assert_eq!(
        accumulate_bytes(&bare, 64).error.as_deref(),
        Some("throttlingException")
    );
    let error = frame(
        &[
            (":message-type", "error"),
            (":error-code", "InternalFailure"),
            (":error-message", "internal failure"),
        ],
        "",
    );
    assert_eq!(
        accumulate_bytes(&error, 64).error.as_deref(),
        Some("internal failure")
    );
}

#[test]
fn a_frame_that_is_not_valid_is_skipped_and_flagged() {
    let stream = tool_use_stream();
    // A bit flipped in the first text delta's payload: its checksum fails.
    let flipped = stream
        .windows(4)
        .position(|window| window == b"I'll")
        .expect("fixture");
    let mut corrupt = stream.clone();
    corrupt[flipped] ^= 0x20;
    let summary = accumulate_bytes(&corrupt, 4096);
    assert!(summary.malformed);
    assert_eq!(summary.content.as_deref(), Some("the weather."));
    assert_eq!(summary.finish_reason.as_deref(), Some("tool_use"));
    // A length no frame may have: nothing after it can be framed.
    let mut broken = stream;
    broken[..4].copy_from_slice(&3u32.to_be_bytes());
    let summary = accumulate_bytes(&broken, 4096);
    assert!(summary.malformed);
    assert_eq!((summary.content, summary.finish_reason), (None, None));
    // An event whose payload is not JSON is skipped.
    let bad_json = [
        event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"#,
        ),
        event("messageStop", r#"{"stopReason":"end_turn"}"#),
    ]
    .concat();
    let summary = accumulate_bytes(&bad_json, 3);
    assert!(summary.malformed);
    assert_eq!(summary.finish_reason.as_deref(), Some("end_turn"));
}
