//! Cohere v2 chat answers (`/v2/chat`): whole bodies with text, a tool plan and tool calls,
//! error bodies, and recorded streams of text and of a tool call.

use crate::response::summarize_body;
use crate::row::ResponseSummary;

use super::support::{accumulate, accumulate_in_chunks};

const CHAT: &str = "/v2/chat";
const TOOL_CALL_STREAM: &str = include_str!("fixtures/cohere_tool_call.sse");

fn tokens(summary: &ResponseSummary) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        summary.prompt_tokens,
        summary.completion_tokens,
        summary.total_tokens,
    )
}

#[test]
fn a_text_body_gives_content_finish_reason_and_tokens() {
    let body = br#"{"id":"c14c80c3-18eb-4519-9460-6c92edd8cfb4","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"LLMs are neural networks "},{"type":"text","text":"trained on text."}]},"usage":{"billed_units":{"input_tokens":5,"output_tokens":418},"tokens":{"input_tokens":71,"output_tokens":418}}}"#;
    let summary = summarize_body(CHAT, 200, body);
    assert_eq!(
        summary.content.as_deref(),
        Some("LLMs are neural networks trained on text.")
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("COMPLETE"));
    // `tokens` (what the model read), not `billed_units`.
    assert_eq!(tokens(&summary), (Some(71), Some(418), Some(489)));
    assert_eq!(
        (summary.reasoning, summary.tool_calls, summary.error),
        (None, None, None)
    );
    assert!(!summary.malformed);
}

#[test]
fn a_tool_call_body_gives_the_plan_as_reasoning_and_the_calls() {
    let body = br#"{"id":"9f2a","finish_reason":"TOOL_CALL","message":{"role":"assistant","tool_plan":"I will look up the weather in Toronto.","tool_calls":[{"id":"get_weather_1byjy32y4hvq","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Toronto\"}"}}]},"usage":{"billed_units":{"input_tokens":37.0,"output_tokens":28.0}}}"#;
    let summary = summarize_body(CHAT, 200, body);
    assert_eq!(
        summary.reasoning.as_deref(),
        Some("I will look up the weather in Toronto.")
    );
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(
            r#"[{"id":"get_weather_1byjy32y4hvq","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Toronto\"}"}}]"#
        )
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("TOOL_CALL"));
    // Without `tokens`, the billed units (numbers that may be written as floats).
    assert_eq!(tokens(&summary), (Some(37), Some(28), Some(65)));
    assert_eq!(summary.content, None);
}

#[test]
fn an_error_body_gives_its_message() {
    let body = br#"{"id":"0b5d4e3a","message":"invalid request: message must be at least 1 token long or tool results must be specified."}"#;
    let summary = summarize_body(CHAT, 400, body);
    assert_eq!(
        summary.error.as_deref(),
        Some("invalid request: message must be at least 1 token long or tool results must be specified.")
    );
    assert_eq!((summary.content, summary.finish_reason), (None, None));
    assert!(summarize_body(CHAT, 200, br#"{"message":{"content":["#).malformed);
}

#[test]
fn a_tool_call_stream_gives_plan_call_and_usage_whatever_the_chunking() {
    for size in [1, 7, 64, 4096] {
        let summary = accumulate_in_chunks(TOOL_CALL_STREAM, size);
        assert_eq!(
            summary.reasoning.as_deref(),
            Some("I will search for the weather in Toronto.")
        );
        assert_eq!(
            summary.tool_calls.as_deref(),
            Some(
                r#"[{"id":"get_weather_nsz5zm3w56q3","type":"function","function":{"name":"get_weather","arguments":"{\n    \"location\": \"Toronto\"\n}"}}]"#
            )
        );
        assert_eq!(summary.finish_reason.as_deref(), Some("TOOL_CALL"));
        assert_eq!(tokens(&summary), (Some(1061), Some(62), Some(1123)));
        assert_eq!((summary.content, summary.error), (None, None));
        assert!(!summary.malformed);
    }
}

#[test]
fn a_text_stream_gives_text_thinking_and_the_finish_reason() {
    let stream = concat!(
        "event: message-start\ndata: {\"id\":\"a8fc\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}\n\n",
        "event: content-start\ndata: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"thinking\",\"thinking\":\"\"}}}}\n\n",
        "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"thinking\":\"Short answer.\"}}}}\n\n",
        "event: content-end\ndata: {\"type\":\"content-end\",\"index\":0}\n\n",
        "event: content-start\ndata: {\"type\":\"content-start\",\"index\":1,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}\n\n",
        "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":1,\"delta\":{\"message\":{\"content\":{\"text\":\"Coca\"}}}}\n\n",
        "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":1,\"delta\":{\"message\":{\"content\":{\"text\":\"-Cola\"}}}}\n\n",
        "event: content-end\ndata: {\"type\":\"content-end\",\"index\":1}\n\n",
        "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"MAX_TOKENS\",\"usage\":{\"billed_units\":{\"input_tokens\":9,\"output_tokens\":4},\"tokens\":{\"input_tokens\":75,\"output_tokens\":4}}}}\n\n",
    );
    let summary = accumulate_in_chunks(stream, 11);
    assert_eq!(summary.content.as_deref(), Some("Coca-Cola"));
    assert_eq!(summary.reasoning.as_deref(), Some("Short answer."));
    assert_eq!(summary.finish_reason.as_deref(), Some("MAX_TOKENS"));
    assert_eq!(tokens(&summary), (Some(75), Some(4), Some(79)));
}

#[test]
fn a_stream_cut_mid_call_keeps_its_arguments_so_far_and_is_flagged() {
    let cut_at = TOOL_CALL_STREAM.find("Toronto\"}").expect("fixture");
    let summary = accumulate(&[&TOOL_CALL_STREAM[..cut_at]]);
    assert!(summary.malformed);
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(
            r#"[{"id":"get_weather_nsz5zm3w56q3","type":"function","function":{"name":"get_weather","arguments":"{\n    \"location\": \""}}]"#
        )
    );
    assert_eq!((summary.finish_reason, summary.prompt_tokens), (None, None));
}

#[test]
fn an_error_ending_mid_stream_is_recorded_with_what_came_before() {
    let head = TOOL_CALL_STREAM
        .split("event: tool-call-start")
        .next()
        .expect("fixture");
    let error = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"All upstreams failed for model 'command-a'. Tried: [\\\"a/command-a\\\"]. Last error: stream idle timeout\"}}\n\n";
    let summary = accumulate(&[head, error]);
    assert_eq!(
        summary.error.as_deref(),
        Some("All upstreams failed for model 'command-a'. Tried: [\"a/command-a\"]. Last error: stream idle timeout")
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("ERROR"));
    assert_eq!(
        summary.reasoning.as_deref(),
        Some("I will search for the weather in Toronto.")
    );
    assert_eq!((summary.tool_calls, summary.prompt_tokens), (None, None));
    assert!(!summary.malformed);
    assert!(accumulate(&[error]).error.is_some());
}
