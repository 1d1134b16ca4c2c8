//! OpenAI Responses API answers (`/v1/responses`): whole Response objects and recorded
//! streams with text, reasoning summaries, function calls, incomplete and failed responses,
//! error events, and a stream cut mid-event.

use crate::response::summarize_body;
use crate::row::ResponseSummary;

use super::support::{accumulate, accumulate_in_chunks};

const RESPONSES: &str = "/v1/responses";
const TEXT_STREAM: &str = include_str!("fixtures/responses_text.sse");
const FUNCTION_CALL_STREAM: &str = include_str!("fixtures/responses_function_call.sse");
const FUNCTION_CALL_BODY: &str = include_str!("fixtures/responses_function_call.json");
const WEATHER_CALL: &str = r#"[{"id":"call_Uh0yPGgSK4y1hoIJgKtBDhDo","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris, France\"}"}}]"#;
const SUMMARY: &str = "**Checking the weather**\n\nThe user wants the current weather in Paris.\n\n**Calling the tool**\n\nI'll call get_weather with Paris, France.";

fn tokens(summary: &ResponseSummary) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        summary.prompt_tokens,
        summary.completion_tokens,
        summary.total_tokens,
    )
}

#[test]
fn a_text_response_body_gives_content_status_and_usage() {
    let body = br#"{"id":"resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b","object":"response","created_at":1741476542,"status":"completed","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-4.1-2025-04-14","output":[{"type":"message","id":"msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b","status":"completed","role":"assistant","content":[{"type":"output_text","text":"In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool that reflected the stars.","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":36,"input_tokens_details":{"cached_tokens":0},"output_tokens":87,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":123},"user":null,"metadata":{}}"#;
    let summary = summarize_body(RESPONSES, 200, body);
    assert_eq!(
        summary.content.as_deref(),
        Some("In a peaceful grove beneath a silver moon, a unicorn named Lumina discovered a hidden pool that reflected the stars.")
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("completed"));
    assert_eq!(tokens(&summary), (Some(36), Some(87), Some(123)));
    assert_eq!(
        (summary.reasoning, summary.tool_calls, summary.error),
        (None, None, None)
    );
    assert!(!summary.malformed);
}

#[test]
fn a_reasoning_and_function_call_body_gives_summaries_and_the_call() {
    let summary = summarize_body(RESPONSES, 200, FUNCTION_CALL_BODY.as_bytes());
    assert_eq!(summary.reasoning.as_deref(), Some(SUMMARY));
    assert_eq!(summary.tool_calls.as_deref(), Some(WEATHER_CALL));
    assert_eq!(summary.content, None);
    assert_eq!(summary.finish_reason.as_deref(), Some("completed"));
    assert_eq!(tokens(&summary), (Some(64), Some(150), Some(214)));
}

#[test]
fn an_incomplete_response_finishes_with_its_reason() {
    let body = br#"{"id":"resp_1","object":"response","status":"incomplete","error":null,"incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","id":"msg_1","status":"incomplete","role":"assistant","content":[{"type":"output_text","text":"Once upon a","annotations":[]}]}],"usage":{"input_tokens":9,"output_tokens":16,"total_tokens":25}}"#;
    let summary = summarize_body(RESPONSES, 200, body);
    assert_eq!(summary.finish_reason.as_deref(), Some("max_output_tokens"));
    assert_eq!(summary.content.as_deref(), Some("Once upon a"));
    assert_eq!(summary.error, None);
}

#[test]
fn error_bodies_give_their_message() {
    let failed = br#"{"id":"resp_2","object":"response","status":"failed","error":{"code":"server_error","message":"The model failed to generate a response."},"incomplete_details":null,"output":[],"usage":null}"#;
    let summary = summarize_body(RESPONSES, 200, failed);
    assert_eq!(
        summary.error.as_deref(),
        Some("The model failed to generate a response.")
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("failed"));
    assert_eq!(tokens(&summary), (None, None, None));

    let refused = br#"{"error":{"message":"Previous response with id 'resp_x' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}"#;
    let summary = summarize_body(RESPONSES, 400, refused);
    assert_eq!(
        summary.error.as_deref(),
        Some("Previous response with id 'resp_x' not found.")
    );
    assert_eq!(summary.finish_reason, None);
}

#[test]
fn a_text_stream_gives_content_status_and_usage_whatever_the_chunking() {
    for size in [1, 9, 100, 8192] {
        let summary = accumulate_in_chunks(TEXT_STREAM, size);
        assert_eq!(
            summary.content.as_deref(),
            Some("Hi there! How can I assist you today?")
        );
        assert_eq!(summary.finish_reason.as_deref(), Some("completed"));
        assert_eq!(tokens(&summary), (Some(37), Some(11), Some(48)));
        assert_eq!(
            (summary.reasoning, summary.tool_calls, summary.error),
            (None, None, None)
        );
        assert!(!summary.malformed);
    }
}

#[test]
fn a_function_call_stream_reads_as_its_whole_response_does() {
    let summary = accumulate_in_chunks(FUNCTION_CALL_STREAM, 31);
    assert_eq!(summary.tool_calls.as_deref(), Some(WEATHER_CALL));
    assert_eq!(summary.reasoning.as_deref(), Some(SUMMARY));
    assert_eq!(
        summary,
        summarize_body(RESPONSES, 200, FUNCTION_CALL_BODY.as_bytes())
    );
}

#[test]
fn arguments_without_deltas_come_from_the_finished_item() {
    let stream = concat!(
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"get_time\",\"arguments\":\"\",\"status\":\"in_progress\"}}\n\n",
        "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"get_time\",\"arguments\":\"{\\\"tz\\\":\\\"UTC\\\"}\",\"status\":\"completed\"}}\n\n",
    );
    assert_eq!(
        accumulate(&[stream]).tool_calls.as_deref(),
        Some(
            r#"[{"id":"call_1","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"UTC\"}"}}]"#
        )
    );
}

#[test]
fn an_incomplete_stream_finishes_with_its_reason() {
    let incomplete = TEXT_STREAM
        .replace("response.completed", "response.incomplete")
        .replace(
            r#""status":"completed","error":null,"incomplete_details":null"#,
            r#""status":"incomplete","error":null,"incomplete_details":{"reason":"max_output_tokens"}"#,
        );
    let summary = accumulate(&[&incomplete]);
    assert_eq!(summary.finish_reason.as_deref(), Some("max_output_tokens"));
    assert_eq!(tokens(&summary), (Some(37), Some(11), Some(48)));
}

#[test]
fn error_events_are_recorded_with_what_came_before() {
    let head = TEXT_STREAM
        .split("event: response.output_text.done")
        .next()
        .expect("fixture");
    let error = "event: error\ndata: {\"type\":\"error\",\"code\":\"stream_interrupted\",\"message\":\"All upstreams failed for model 'm'. Tried: [\\\"a/m\\\"]\",\"param\":null,\"sequence_number\":14}\n\n";
    let summary = accumulate(&[head, error]);
    assert_eq!(
        summary.error.as_deref(),
        Some("All upstreams failed for model 'm'. Tried: [\"a/m\"]")
    );
    assert_eq!(
        summary.content.as_deref(),
        Some("Hi there! How can I assist you today?")
    );
    assert_eq!(summary.finish_reason, None);
    assert!(!summary.malformed);

    let failed = "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":3,\"response\":{\"id\":\"resp_123\",\"object\":\"response\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"The model failed to generate a response.\"},\"incomplete_details\":null,\"output\":[],\"usage\":null}}\n\n";
    let summary = accumulate(&[head, failed]);
    assert_eq!(
        summary.error.as_deref(),
        Some("The model failed to generate a response.")
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("failed"));
    // A stream whose first event is the error: known as a Responses stream all the same.
    assert!(accumulate(&[error])
        .error
        .is_some_and(|e| e.starts_with("All upstreams")));
}

#[test]
fn a_stream_cut_mid_event_keeps_what_was_complete_and_is_flagged() {
    let cut_at = FUNCTION_CALL_STREAM.find("Paris\"").expect("fixture");
    let summary = accumulate_in_chunks(&FUNCTION_CALL_STREAM[..cut_at], 3);
    assert!(summary.malformed);
    assert_eq!(summary.reasoning.as_deref(), Some(SUMMARY));
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(
            r#"[{"id":"call_Uh0yPGgSK4y1hoIJgKtBDhDo","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\""}}]"#
        )
    );
    assert_eq!((summary.finish_reason, summary.total_tokens), (None, None));
}
