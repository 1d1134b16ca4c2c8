//! Anthropic Messages answers (`/v1/messages`): whole bodies and recorded streams with text,
//! tool use, extended thinking, prompt caching, errors, and a stream cut mid-event.

use crate::response::summarize_body;
use crate::row::ResponseSummary;

use super::support::{accumulate, accumulate_in_chunks};

const MESSAGES: &str = "/v1/messages";
const TOOL_USE_STREAM: &str = include_str!("fixtures/anthropic_tool_use.sse");
const THINKING_STREAM: &str = include_str!("fixtures/anthropic_thinking.sse");

fn tokens(summary: &ResponseSummary) -> (Option<i64>, Option<i64>, Option<i64>) {
    (
        summary.prompt_tokens,
        summary.completion_tokens,
        summary.total_tokens,
    )
}

#[test]
fn a_text_and_tool_use_body_gives_every_column() {
    let body = br#"{"id":"msg_01Aq9w938a90dw8q","type":"message","role":"assistant","model":"claude-opus-4-6","content":[{"type":"text","text":"I'll check the current weather in San Francisco for you."},{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA","unit":"celsius"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":384,"output_tokens":92}}"#;
    let summary = summarize_body(MESSAGES, 200, body);
    assert_eq!(
        summary.content.as_deref(),
        Some("I'll check the current weather in San Francisco for you.")
    );
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(
            r#"[{"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"San Francisco, CA\",\"unit\":\"celsius\"}"}}]"#
        )
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(tokens(&summary), (Some(384), Some(92), Some(476)));
    assert_eq!((summary.reasoning, summary.error), (None, None));
    assert!(!summary.malformed);
}

#[test]
fn thinking_blocks_are_the_reasoning_and_cache_tokens_count_as_prompt() {
    let body = br#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"To approach this, let's think about what we know about prime numbers.","signature":"zbbJhbGciOiJFU8zI1NiIsImtakcjsu38219c0.eyJoYXNoIjoiYWJjMTIzIiwiaWF0IjoxNjE0NTM0NTY3fQ"},{"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"},{"type":"text","text":"Yes, there are infinitely many prime numbers."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":50,"cache_creation_input_tokens":1000,"cache_read_input_tokens":200,"output_tokens":75}}"#;
    let summary = summarize_body(MESSAGES, 200, body);
    assert_eq!(
        summary.reasoning.as_deref(),
        Some("To approach this, let's think about what we know about prime numbers.")
    );
    assert_eq!(
        summary.content.as_deref(),
        Some("Yes, there are infinitely many prime numbers.")
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(tokens(&summary), (Some(1250), Some(75), Some(1325)));
    assert_eq!(summary.tool_calls, None);
}

#[test]
fn a_tool_without_parameters_has_empty_object_arguments() {
    let body = br#"{"type":"message","role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_time","input":{}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":1}}"#;
    let expected =
        r#"[{"id":"toolu_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]"#;
    assert_eq!(
        summarize_body(MESSAGES, 200, body).tool_calls.as_deref(),
        Some(expected)
    );
    let stream = concat!(
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_time\",\"input\":{}}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    );
    assert_eq!(accumulate(&[stream]).tool_calls.as_deref(), Some(expected));
}

#[test]
fn an_error_body_gives_its_message() {
    let body = br#"{"type":"error","error":{"type":"not_found_error","message":"The requested resource could not be found."}}"#;
    let summary = summarize_body(MESSAGES, 404, body);
    assert_eq!(
        summary.error.as_deref(),
        Some("The requested resource could not be found.")
    );
    assert_eq!((summary.content, summary.finish_reason), (None, None));
    assert!(!summarize_body(MESSAGES, 529, b"overloaded").malformed);
    assert!(summarize_body(MESSAGES, 200, br#"{"type":"message","content":["#).malformed);
}

#[test]
fn a_tool_use_stream_gives_text_tool_call_and_usage_whatever_the_chunking() {
    for size in [1, 7, 64, 4096] {
        let summary = accumulate_in_chunks(TOOL_USE_STREAM, size);
        assert_eq!(
            summary.content.as_deref(),
            Some("Okay, let's check the weather for San Francisco, CA:")
        );
        assert_eq!(
            summary.tool_calls.as_deref(),
            Some(
                r#"[{"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"San Francisco, CA\", \"unit\": \"fahrenheit\"}"}}]"#
            )
        );
        assert_eq!(summary.finish_reason.as_deref(), Some("tool_use"));
        // message_start's output_tokens (2) is a placeholder; message_delta's is the count.
        assert_eq!(tokens(&summary), (Some(472), Some(89), Some(561)));
        assert_eq!((summary.reasoning, summary.error), (None, None));
        assert!(!summary.malformed);
    }
}

#[test]
fn a_thinking_stream_keeps_thinking_apart_from_text() {
    let summary = accumulate_in_chunks(THINKING_STREAM, 13);
    assert_eq!(
        summary.reasoning.as_deref(),
        Some("I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n1071 = 2 × 462 + 147\n462 = 3 × 147 + 21\n147 = 7 × 21 + 0")
    );
    assert_eq!(
        summary.content.as_deref(),
        Some("The greatest common divisor of 1071 and 462 is **21**.")
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("end_turn"));
    // Input 12 + cache reads 2048 from message_start; output from message_delta.
    assert_eq!(tokens(&summary), (Some(2060), Some(310), Some(2370)));
    assert_eq!(summary.tool_calls, None);
}

#[test]
fn a_message_delta_with_input_tokens_updates_the_prompt() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-haiku-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":30,\"output_tokens\":64}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let summary = accumulate(&[stream]);
    assert_eq!(tokens(&summary), (Some(40), Some(64), Some(104)));
    assert_eq!(summary.finish_reason.as_deref(), Some("max_tokens"));
}

#[test]
fn an_error_event_mid_stream_is_recorded_with_what_came_before() {
    let head = TOOL_USE_STREAM
        .split("event: content_block_stop")
        .next()
        .expect("fixture");
    let error = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let summary = accumulate(&[head, error]);
    assert_eq!(summary.error.as_deref(), Some("Overloaded"));
    assert_eq!(
        summary.content.as_deref(),
        Some("Okay, let's check the weather for San Francisco, CA:")
    );
    assert_eq!(summary.finish_reason, None);
    assert_eq!(tokens(&summary), (Some(472), Some(2), Some(474)));
    assert!(!summary.malformed);

    let alone = accumulate(&[error]);
    assert_eq!(alone.error.as_deref(), Some("Overloaded"));
}

#[test]
fn a_stream_cut_mid_event_keeps_what_was_complete_and_is_flagged() {
    let cut_at = TOOL_USE_STREAM.find("Francisc\"").expect("fixture");
    let summary = accumulate_in_chunks(&TOOL_USE_STREAM[..cut_at], 5);
    assert!(summary.malformed);
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(
            r#"[{"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"San"}}]"#
        )
    );
    assert_eq!(summary.finish_reason, None);
    assert_eq!(tokens(&summary), (Some(472), Some(2), Some(474)));
}
