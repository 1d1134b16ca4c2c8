//! Through the logging thread's public entry point (`start`): records of the Anthropic
//! Messages and Responses endpoints, whole and streamed, get their columns filled in
//! OpenAI's normalised shapes, next to a chat record read the chat way.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::start;
use gpt_api_common::record::{RecordEvent, RequestRecord};

use super::support::{record, settings, sqlite_rows, TempDir};

const TOOL_USE_STREAM: &str = include_str!("fixtures/anthropic_tool_use.sse");
const FUNCTION_CALL_STREAM: &str = include_str!("fixtures/responses_function_call.sse");

fn answered_on(id: &str, endpoint: &str, body: Option<&'static [u8]>) -> RequestRecord {
    let mut record = record(id);
    record.endpoint = endpoint.to_owned();
    record.stream = body.is_none();
    record.response_body = body.map(Bytes::from_static);
    record
}

/// A stream's chunks as the worker sends them: pieces of what the client got.
fn send_stream(sender: &gpt_api_common::record::RecordSender, stream: u64, text: &str) {
    for piece in text.as_bytes().chunks(200) {
        sender.send(RecordEvent::StreamChunk {
            stream,
            bytes: Bytes::copy_from_slice(piece),
        });
    }
}

#[test]
fn messages_and_responses_records_get_their_columns_filled() {
    let dir = TempDir::new("recorder-dialects");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");

    let message = br#"{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"Hello!"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":6}}"#;
    let messages_body = answered_on("a-messages-body", "/v1/messages", Some(message));
    sender.send(RecordEvent::Request(Box::new(messages_body)));
    // The same bytes on the chat endpoint are no chat answer: nothing to read from them.
    let chat_body = answered_on("d-chat-body", "/v1/chat/completions", Some(message));
    sender.send(RecordEvent::Request(Box::new(chat_body)));

    send_stream(&sender, 7, TOOL_USE_STREAM);
    send_stream(&sender, 8, FUNCTION_CALL_STREAM);
    let messages_stream = answered_on("b-messages-stream", "/v1/messages", None);
    sender.send(RecordEvent::StreamEnd {
        stream: 7,
        record: Box::new(messages_stream),
    });
    let responses_stream = answered_on("c-responses-stream", "/v1/responses", None);
    sender.send(RecordEvent::StreamEnd {
        stream: 8,
        record: Box::new(responses_stream),
    });
    drop(sender);
    recorder.shutdown(Instant::now() + Duration::from_secs(10));

    let rows = sqlite_rows(&url);
    let [body, stream, responses, chat] = &rows[..] else {
        panic!("4 rows expected, got {rows:#?}");
    };
    assert_eq!(body.endpoint, "/v1/messages");
    assert_eq!(
        (
            body.response_content.as_deref(),
            body.finish_reason.as_deref()
        ),
        (Some("Hello!"), Some("end_turn"))
    );
    assert_eq!(
        (
            body.prompt_tokens,
            body.completion_tokens,
            body.total_tokens
        ),
        (Some(12), Some(6), Some(18))
    );

    assert!(stream.stream && !stream.malformed);
    assert_eq!(
        stream.response_content.as_deref(),
        Some("Okay, let's check the weather for San Francisco, CA:")
    );
    assert_eq!(
        stream.tool_calls.as_deref(),
        Some(
            r#"[{"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"San Francisco, CA\", \"unit\": \"fahrenheit\"}"}}]"#
        )
    );
    assert_eq!(stream.finish_reason.as_deref(), Some("tool_use"));
    assert_eq!(
        (
            stream.prompt_tokens,
            stream.completion_tokens,
            stream.total_tokens
        ),
        (Some(472), Some(89), Some(561))
    );

    assert_eq!(responses.endpoint, "/v1/responses");
    assert_eq!(
        responses.tool_calls.as_deref(),
        Some(
            r#"[{"id":"call_Uh0yPGgSK4y1hoIJgKtBDhDo","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris, France\"}"}}]"#
        )
    );
    assert!(responses
        .reasoning_content
        .as_deref()
        .is_some_and(|reasoning| reasoning.starts_with("**Checking the weather**")));
    assert_eq!(responses.finish_reason.as_deref(), Some("completed"));
    assert_eq!(responses.total_tokens, Some(214));

    assert_eq!(
        (
            chat.response_content.as_deref(),
            chat.finish_reason.as_deref(),
            chat.tool_calls.as_deref()
        ),
        (None, None, None)
    );
}
