//! Through the logging thread's public entry point (`start`): records of the Anthropic
//! Messages, Responses, Gemini, Converse and Cohere endpoints, whole and streamed, get their
//! columns filled in OpenAI's normalised shapes (finish reasons in each dialect's words),
//! next to a chat record read the chat way.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::start;
use gpt_api_common::record::{RecordEvent, RequestRecord};

use crate::row::LogRow;

use super::support::{record, settings, sqlite_rows, TempDir};

const TOOL_USE_STREAM: &str = include_str!("fixtures/anthropic_tool_use.sse");
const FUNCTION_CALL_STREAM: &str = include_str!("fixtures/responses_function_call.sse");
const GEMINI_ARRAY_STREAM: &str = include_str!("fixtures/gemini_function_call.json");
const COHERE_STREAM: &str = include_str!("fixtures/cohere_tool_call.sse");

fn answered_on(id: &str, endpoint: &str, body: Option<&'static [u8]>) -> RequestRecord {
    let mut record = record(id);
    record.endpoint = endpoint.to_owned();
    record.stream = body.is_none();
    record.response_body = body.map(Bytes::from_static);
    record
}

/// A stream's chunks as the worker sends them: pieces of what the client got.
fn send_stream(sender: &gpt_api_common::record::RecordSender, stream: u64, bytes: &[u8]) {
    for piece in bytes.chunks(200) {
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

    send_stream(&sender, 7, TOOL_USE_STREAM.as_bytes());
    send_stream(&sender, 8, FUNCTION_CALL_STREAM.as_bytes());
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

fn tokens(row: &LogRow) -> (Option<i64>, Option<i64>, Option<i64>) {
    (row.prompt_tokens, row.completion_tokens, row.total_tokens)
}

#[test]
fn gemini_converse_and_cohere_records_get_their_columns_filled() {
    let dir = TempDir::new("recorder-new-dialects");
    let url = dir.sqlite_url();
    let (sender, recorder) = start(settings(url.clone(), &dir)).expect("start");
    let request = |record: RequestRecord| sender.send(RecordEvent::Request(Box::new(record)));
    let end = |stream: u64, record: RequestRecord| {
        sender.send(RecordEvent::StreamEnd {
            stream,
            record: Box::new(record),
        })
    };

    let gemini = br#"{"candidates":[{"content":{"parts":[{"text":"Hi!"}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6}}"#;
    request(answered_on(
        "a-gemini-body",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        Some(gemini),
    ));
    let gemini_error = br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#;
    let mut record = answered_on(
        "b-gemini-error",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        Some(gemini_error),
    );
    record.status = 429;
    request(record);
    send_stream(&sender, 1, GEMINI_ARRAY_STREAM.as_bytes());
    end(
        1,
        answered_on(
            "c-gemini-stream",
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            None,
        ),
    );

    let converse = br#"{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"tooluse_1","name":"get_time","input":{"tz":"UTC"}}}]}},"stopReason":"tool_use","usage":{"inputTokens":30,"outputTokens":9,"totalTokens":39}}"#;
    let converse_path = "/model/anthropic.claude-3-haiku-20240307-v1:0/converse";
    request(answered_on(
        "d-converse-body",
        converse_path,
        Some(converse),
    ));
    let mut record = answered_on(
        "e-converse-error",
        converse_path,
        Some(br#"{"message":"Too many requests, please wait before trying again."}"#),
    );
    record.status = 429;
    request(record);
    send_stream(&sender, 2, &super::converse::tool_use_stream());
    end(
        2,
        answered_on(
            "f-converse-stream",
            "/model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream",
            None,
        ),
    );

    let cohere = br#"{"id":"5a8f","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Bonjour"}]},"usage":{"tokens":{"input_tokens":8,"output_tokens":3}}}"#;
    request(answered_on("g-cohere-body", "/v2/chat", Some(cohere)));
    send_stream(&sender, 3, COHERE_STREAM.as_bytes());
    end(3, answered_on("h-cohere-stream", "/v2/chat", None));
    drop(sender);
    recorder.shutdown(Instant::now() + Duration::from_secs(10));

    let rows = sqlite_rows(&url);
    let [gemini, gemini_error, gemini_stream, converse, converse_error, converse_stream, cohere, cohere_stream] =
        &rows[..]
    else {
        panic!("8 rows expected, got {rows:#?}");
    };
    let text = |row: &LogRow| (row.response_content.clone(), row.finish_reason.clone());
    let owned = |text: &str| Some(text.to_owned());

    assert_eq!(text(gemini), (owned("Hi!"), owned("MAX_TOKENS")));
    assert_eq!(tokens(gemini), (Some(4), Some(2), Some(6)));
    assert_eq!(
        gemini_error.error.as_deref(),
        Some("Resource has been exhausted (e.g. check quota).")
    );
    assert!(gemini_stream.stream && !gemini_stream.malformed);
    assert_eq!(
        text(gemini_stream),
        (
            owned("Let me check the weather in Paris for you."),
            owned("STOP")
        )
    );
    assert_eq!(
        gemini_stream.tool_calls.as_deref(),
        Some(
            r#"[{"id":null,"type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris, France\",\"unit\":\"celsius\"}"}}]"#
        )
    );
    assert_eq!(tokens(gemini_stream), (Some(61), Some(80), Some(141)));

    assert_eq!(text(converse), (None, owned("tool_use")));
    assert_eq!(
        converse.tool_calls.as_deref(),
        Some(
            r#"[{"id":"tooluse_1","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"UTC\"}"}}]"#
        )
    );
    assert_eq!(tokens(converse), (Some(30), Some(9), Some(39)));
    assert_eq!(
        converse_error.error.as_deref(),
        Some("Too many requests, please wait before trying again.")
    );
    assert!(converse_stream.stream && !converse_stream.malformed);
    assert_eq!(
        text(converse_stream),
        (owned("I'll look up the weather."), owned("tool_use"))
    );
    assert_eq!(
        converse_stream.tool_calls.as_deref(),
        Some(
            r#"[{"id":"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Seattle\"}"}}]"#
        )
    );
    assert_eq!(tokens(converse_stream), (Some(412), Some(57), Some(469)));

    assert_eq!(text(cohere), (owned("Bonjour"), owned("COMPLETE")));
    assert_eq!(tokens(cohere), (Some(8), Some(3), Some(11)));
    assert!(cohere_stream.stream && !cohere_stream.malformed);
    assert_eq!(cohere_stream.finish_reason.as_deref(), Some("TOOL_CALL"));
    assert_eq!(
        cohere_stream.reasoning_content.as_deref(),
        Some("I will search for the weather in Toronto.")
    );
    assert!(cohere_stream
        .tool_calls
        .as_deref()
        .is_some_and(|calls| calls.contains(r#""name":"get_weather""#)));
    assert_eq!(tokens(cohere_stream), (Some(1061), Some(62), Some(1123)));
}
