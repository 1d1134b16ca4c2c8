//! Non-streaming bodies: chat, reasoning, tool calls, completions, embeddings, errors.

use crate::response::summarize_body;

#[test]
fn a_chat_body_gives_usage_content_and_finish_reason() {
    let body = br#"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#;
    let summary = summarize_body(200, body);
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
    let summary = summarize_body(200, body);
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
    let summary = summarize_body(200, body);
    assert_eq!(summary.content.as_deref(), Some("Once upon"));
    assert_eq!(summary.finish_reason.as_deref(), Some("length"));
}

#[test]
fn embeddings_give_usage_only() {
    let body = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"usage":{"prompt_tokens":4,"total_tokens":4}}"#;
    let summary = summarize_body(200, body);
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
    let summary = summarize_body(400, body);
    assert_eq!(
        summary.error.as_deref(),
        Some("Invalid 'messages': empty array.")
    );
}

#[test]
fn a_body_that_is_not_json_is_malformed_only_on_success() {
    assert!(summarize_body(200, b"{\"choices\":[").malformed);
    assert!(!summarize_body(502, b"<html>Bad Gateway</html>").malformed);
    assert!(!summarize_body(200, b"").malformed);
}
