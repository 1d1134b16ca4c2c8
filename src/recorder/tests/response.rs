//! Non-streaming bodies: chat, reasoning, tool calls, completions, embeddings, errors.

use crate::response::summarize_body;

const CHAT: &str = "/v1/chat/completions";

#[test]
fn a_chat_body_gives_usage_content_and_finish_reason() {
    let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#;
    let summary = summarize_body(CHAT, 200, body);
    assert_eq!(summary.content.as_deref(), Some("Hi there"));
    assert_eq!(summary.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        (
            summary.prompt_tokens,
            summary.completion_tokens,
            summary.total_tokens
        ),
        (Some(9), Some(3), Some(12))
    );
    assert_eq!(
        (summary.tool_calls, summary.reasoning, summary.error),
        (None, None, None)
    );
    assert!(!summary.malformed);
}

#[test]
fn tool_calls_and_reasoning_are_taken_from_the_message() {
    let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"hmm","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}]}"#;
    let summary = summarize_body(CHAT, 200, body);
    assert_eq!(summary.content, None);
    assert_eq!(summary.reasoning.as_deref(), Some("hmm"));
    assert_eq!(
        summary.tool_calls.as_deref(),
        Some(
            r#"[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]"#
        )
    );
}

#[test]
fn completions_text_is_the_content() {
    let body = br#"{"object":"text_completion","choices":[{"index":0,"text":"Once upon","finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
    let summary = summarize_body(CHAT, 200, body);
    assert_eq!(summary.content.as_deref(), Some("Once upon"));
    assert_eq!(summary.finish_reason.as_deref(), Some("length"));
}

#[test]
fn embeddings_give_usage_only() {
    let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"usage":{"prompt_tokens":4,"total_tokens":4}}"#;
    let summary = summarize_body(CHAT, 200, body);
    assert_eq!(
        (
            summary.prompt_tokens,
            summary.completion_tokens,
            summary.total_tokens
        ),
        (Some(4), None, Some(4))
    );
    assert_eq!((summary.content, summary.finish_reason), (None, None));
}

#[test]
fn an_error_body_gives_its_message() {
    let body = br#"{"error":{"message":"Invalid 'messages': empty array.","type":"invalid_request_error","code":null}}"#;
    let summary = summarize_body(CHAT, 400, body);
    assert_eq!(
        summary.error.as_deref(),
        Some("Invalid 'messages': empty array.")
    );
}

#[test]
fn a_body_that_is_not_json_is_malformed_only_on_success() {
    assert!(summarize_body(CHAT, 200, b"{\"choices\":[").malformed);
    assert!(!summarize_body(CHAT, 502, b"<html>Bad Gateway</html>").malformed);
    assert!(!summarize_body(CHAT, 200, b"").malformed);
}

#[test]
fn usage_in_input_and_output_names_is_read_and_summed() {
    let body = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"input_tokens":7,"output_tokens":5}}"#;
    let summary = summarize_body(CHAT, 200, body);
    assert_eq!(
        (
            summary.prompt_tokens,
            summary.completion_tokens,
            summary.total_tokens
        ),
        (Some(7), Some(5), Some(12))
    );
    let without_total = br#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
    assert_eq!(
        summarize_body(CHAT, 200, without_total).total_tokens,
        Some(7)
    );
}

#[test]
fn a_null_error_is_no_error() {
    let body = br#"{"choices":[{"index":0,"message":{"content":"fine"}}],"error":null}"#;
    let summary = summarize_body(CHAT, 200, body);
    assert_eq!(summary.error, None);
    assert_eq!(summary.content.as_deref(), Some("fine"));
}
