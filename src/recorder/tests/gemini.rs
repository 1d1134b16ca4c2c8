//! Gemini answers (`/v1beta/models/{model}:generateContent`, `:streamGenerateContent`):
//! whole bodies with text, thoughts and function calls, error bodies, and one recorded
//! stream both as SSE (`alt=sse`) and as the JSON array Gemini streams without it.

use crate::response::summarize_body;
use crate::row::ResponseSummary;

use super::support::{accumulate, accumulate_in_chunks};

const GENERATE: &str = "/v1beta/models/gemini-2.5-flash:generateContent";
const SSE_STREAM: &str = include_str!("fixtures/gemini_function_call.sse");
const ARRAY_STREAM: &str = include_str!("fixtures/gemini_function_call.json");

fn tokens(summary: &ResponseSummary) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        summary.prompt_tokens,
        summary.completion_tokens,
        summary.total_tokens,
    )
}

const CALL: &str = r#"[{"id":null,"type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"}}]"#;

#[test]
fn a_body_with_thoughts_text_and_function_calls_gives_every_column() {
    let body = br#"{"candidates":[{"content":{"parts":[{"text":"Checking both cities.","thought":true},{"text":"Let me look."},{"functionCall":{"id":"fc_1","name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"get_time"}}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":40,"totalTokenCount":200,"thoughtsTokenCount":30,"toolUsePromptTokenCount":10,"cachedContentTokenCount":64},"modelVersion":"gemini-2.5-pro"}"#;
    let summary = summarize_body(GENERATE, 200, body);
    assert_eq!(summary.content.as_deref(), Some("Let me look."));
    assert_eq!(summary.reasoning.as_deref(), Some("Checking both cities."));
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(concat!(
            r#"[{"id":"fc_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},"#,
            r#"{"id":null,"type":"function","function":{"name":"get_time","arguments":"{}"}}]"#
        ))
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("STOP"));
    // Tool results' tokens are prompt; thinking tokens are completion (billed as output).
    assert_eq!(tokens(&summary), (Some(130), Some(70), Some(200)));
    assert_eq!(summary.cached_tokens, Some(64));
    assert_eq!(summary.error, None);
    assert!(!summary.malformed);
}

#[test]
fn a_blocked_prompt_gives_its_block_reason() {
    let body = br#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}"#;
    let summary = summarize_body(GENERATE, 200, body);
    assert_eq!(summary.finish_reason.as_deref(), Some("PROHIBITED_CONTENT"));
    assert_eq!(tokens(&summary), (Some(9), None, Some(9)));
    assert_eq!(summary.content, None);
}

#[test]
fn an_error_body_gives_its_message() {
    let body = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#;
    let summary = summarize_body(GENERATE, 400, body);
    assert_eq!(
        summary.error.as_deref(),
        Some("API key not valid. Please pass a valid API key.")
    );
    assert_eq!((summary.content, summary.finish_reason), (None, None));
    let streamed = "/v1beta/models/gemini-2.5-flash:streamGenerateContent";
    assert!(summarize_body(streamed, 200, br#"{"candidates":["#).malformed);
}

/// What both framings of the recorded stream must give.
fn assert_recorded_stream(summary: &ResponseSummary) {
    assert_eq!(
        summary.content.as_deref(),
        Some("Let me check the weather in Paris for you.")
    );
    assert_eq!(
        summary.reasoning.as_deref(),
        Some("**Looking up the weather**\n\nThe user wants Paris weather.")
    );
    assert_eq!(summary.tool_calls.as_deref(), Some(CALL));
    assert_eq!(summary.finish_reason.as_deref(), Some("STOP"));
    // The last chunk's cumulative counts: 30 candidates + 50 thoughts.
    assert_eq!(tokens(summary), (Some(61), Some(80), Some(141)));
    assert_eq!(summary.error, None);
    assert!(!summary.malformed);
}

#[test]
fn an_sse_stream_gives_text_thoughts_call_and_usage_whatever_the_chunking() {
    for size in [1, 7, 64, 4096] {
        assert_recorded_stream(&accumulate_in_chunks(SSE_STREAM, size));
    }
}

#[test]
fn a_json_array_stream_reads_as_its_sse_form() {
    for size in [1, 7, 64, 4096] {
        assert_recorded_stream(&accumulate_in_chunks(ARRAY_STREAM, size));
    }
    assert_eq!(accumulate(&[ARRAY_STREAM]), accumulate(&[SSE_STREAM]));
}

#[test]
fn a_cut_json_array_stream_keeps_the_whole_entries_and_is_flagged() {
    let cut_at = ARRAY_STREAM.find("for you.").expect("fixture");
    let summary = accumulate_in_chunks(&ARRAY_STREAM[..cut_at], 5);
    assert!(summary.malformed);
    assert_eq!(
        summary.content.as_deref(),
        Some("Let me check the weather in Paris ")
    );
    assert_eq!(tokens(&summary), (Some(61), Some(57), Some(118)));
    assert_eq!((summary.finish_reason, summary.tool_calls), (None, None));
    // All entries but an unclosed array: also flagged.
    assert!(accumulate(&[ARRAY_STREAM.trim_end_matches(']')]).malformed);
}

#[test]
fn an_error_entry_mid_stream_is_recorded_with_what_came_before() {
    let first = SSE_STREAM.split("\r\n\r\n").next().expect("fixture");
    let error = r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;
    for stream in [
        format!("{first}\r\n\r\ndata: {error}\r\n\r\n"),
        format!("[{},\r\n{error}]", &first["data: ".len()..]),
    ] {
        let summary = accumulate(&[&stream]);
        assert_eq!(
            summary.error.as_deref(),
            Some("The model is overloaded. Please try again later.")
        );
        assert!(summary.reasoning.is_some());
        assert_eq!(summary.finish_reason, None);
        assert!(!summary.malformed);
    }
}

#[test]
fn strings_with_brackets_commas_and_escapes_do_not_split_an_entry() {
    let entry =
        r#"{"candidates":[{"content":{"parts":[{"text":"a ] b, c } \"d\" \\"}]},"index":0}]}"#;
    let summary = accumulate_in_chunks(&format!("[{entry}\n,\n{entry}]"), 3);
    assert_eq!(
        summary.content.as_deref(),
        Some("a ] b, c } \"d\" \\a ] b, c } \"d\" \\")
    );
    assert!(!summary.malformed);
}

#[test]
fn an_empty_array_stream_is_an_empty_answer_not_a_malformed_one() {
    assert_eq!(accumulate(&["[", "]"]), ResponseSummary::default());
    assert_eq!(accumulate(&["\r\n[]\r\n"]), ResponseSummary::default());
}
