//! The mock's canned responses, built once at start-up and shared by every thread: OpenAI chat
//! completions, Anthropic Messages, Gemini, Cohere v2 and Bedrock Converse, each whole and as a
//! stream, with the same text.

use gpt_api_common::eventstream::write_frame;

/// Id, timestamp and model shared by every body, as a real upstream would repeat them.
const PREFIX: &str = r#""id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini""#;
/// The same for Anthropic's message objects.
const MESSAGE_PREFIX: &str =
    r#""id":"msg_bench01","type":"message","role":"assistant","model":"claude-sonnet-4-5""#;
/// Gemini's model version and response id, as every Gemini body names them.
const GEMINI_TAIL: &str = r#""modelVersion":"gemini-2.0-flash","responseId":"gemini-bench01""#;
/// One streamed piece of text, in every dialect.
const DELTA_TEXT: &str = " hello";
/// The whole answer's text, in every dialect.
const ANSWER_TEXT: &str = "Hello! How can I help you today?";

/// Complete HTTP responses and stream events, leaked so that writes can borrow them forever.
pub struct Responses {
    pub chat: &'static [u8],
    pub embeddings: &'static [u8],
    pub not_found: &'static [u8],
    pub method_not_allowed: &'static [u8],
    pub bad_request: &'static [u8],
    pub stream_head: &'static [u8],
    pub stream_head_close: &'static [u8],
    /// One content delta as a chunk of the chunked body.
    pub delta: &'static [u8],
    pub finish: &'static [u8],
    /// `data: [DONE]` plus the chunked body's terminator.
    pub done: &'static [u8],
    /// Anthropic's non-stream `message`.
    pub message: &'static [u8],
    /// `message_start` and the text block's `content_block_start`, each its own chunk.
    pub message_start: &'static [u8],
    pub block_start: &'static [u8],
    /// One `content_block_delta` with a `text_delta`.
    pub block_delta: &'static [u8],
    pub block_stop: &'static [u8],
    /// `message_stop` plus the chunked body's terminator.
    pub message_stop: &'static [u8],
    /// Gemini's `generateContent` answer.
    pub gemini: &'static [u8],
    /// One `streamGenerateContent` SSE event with a text part (CRLF-framed, as Google sends).
    pub gemini_delta: &'static [u8],
    /// Cohere v2's non-stream chat answer.
    pub cohere: &'static [u8],
    /// Cohere's `message-start`, `content-start`, one `content-delta`, `content-end`.
    pub cohere_start: &'static [u8],
    pub cohere_content_start: &'static [u8],
    pub cohere_delta: &'static [u8],
    pub cohere_content_end: &'static [u8],
    /// Bedrock's `converse` answer.
    pub converse: &'static [u8],
    /// The head of a `converse-stream` answer (AWS event-stream, chunked).
    pub eventstream_head: &'static [u8],
    pub eventstream_head_close: &'static [u8],
    /// `messageStart`, one `contentBlockDelta`, `contentBlockStop`, `messageStop`: each one
    /// event-stream frame as one chunk.
    pub converse_start: &'static [u8],
    pub converse_delta: &'static [u8],
    pub converse_block_stop: &'static [u8],
    pub converse_stop: &'static [u8],
}

impl Responses {
    pub fn build() -> Self {
        let chat = format!(
            r#"{{{PREFIX},"object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":"{ANSWER_TEXT}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}}}"#
        );
        let embeddings = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0093,0.0159,-0.0028]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}"#;
        let error = |message: &str| {
            format!(r#"{{"error":{{"message":"{message}","type":"invalid_request_error"}}}}"#)
        };
        let delta = format!(
            r#"{{{PREFIX},"object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":"{DELTA_TEXT}"}},"finish_reason":null}}]}}"#
        );
        let message = format!(
            r#"{{{MESSAGE_PREFIX},"content":[{{"type":"text","text":"{ANSWER_TEXT}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":12,"output_tokens":9}}}}"#
        );
        let message_start = format!(
            r#"{{"type":"message_start","message":{{{MESSAGE_PREFIX},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":12,"output_tokens":1}}}}}}"#
        );
        let block_delta = format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{DELTA_TEXT}"}}}}"#
        );
        let finish = format!(
            r#"{{{PREFIX},"object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}"#
        );
        let stream_head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n";
        let eventstream_head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\ntransfer-encoding: chunked\r\n";
        let gemini = format!(
            r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":"{ANSWER_TEXT}"}}]}},"finishReason":"STOP","index":0}}],"usageMetadata":{{"promptTokenCount":12,"candidatesTokenCount":9,"totalTokenCount":21}},{GEMINI_TAIL}}}"#
        );
        let cohere = format!(
            r#"{{"id":"cohere-bench01","finish_reason":"COMPLETE","message":{{"role":"assistant","content":[{{"type":"text","text":"{ANSWER_TEXT}"}}]}},"usage":{{"billed_units":{{"input_tokens":12,"output_tokens":9}},"tokens":{{"input_tokens":12,"output_tokens":9}}}}}}"#
        );
        let converse = format!(
            r#"{{"output":{{"message":{{"role":"assistant","content":[{{"text":"{ANSWER_TEXT}"}}]}}}},"stopReason":"end_turn","usage":{{"inputTokens":12,"outputTokens":9,"totalTokens":21}},"metrics":{{"latencyMs":1}}}}"#
        );
        Self {
            chat: leak(json_response("200 OK", &chat)),
            embeddings: leak(json_response("200 OK", embeddings)),
            not_found: leak(json_response("404 Not Found", &error("not found"))),
            method_not_allowed: leak(json_response(
                "405 Method Not Allowed",
                &error("method not allowed"),
            )),
            bad_request: leak(json_response("400 Bad Request", &error("bad request"))),
            stream_head: leak(format!("{stream_head}\r\n")),
            stream_head_close: leak(format!("{stream_head}connection: close\r\n\r\n")),
            delta: leak(sse_chunk(&delta)),
            finish: leak(sse_chunk(&finish)),
            done: leak(format!("{}0\r\n\r\n", sse_chunk("[DONE]"))),
            message: leak(json_response("200 OK", &message)),
            message_start: leak(named_chunk("message_start", &message_start)),
            block_start: leak(named_chunk(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            )),
            block_delta: leak(named_chunk("content_block_delta", &block_delta)),
            block_stop: leak(named_chunk(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            )),
            message_stop: leak(format!(
                "{}0\r\n\r\n",
                named_chunk("message_stop", r#"{"type":"message_stop"}"#)
            )),
            gemini: leak(json_response("200 OK", &gemini)),
            gemini_delta: leak(gemini_chunk(&gemini_event(
                DELTA_TEXT,
                "",
                r#"{"promptTokenCount":12,"totalTokenCount":12}"#,
            ))),
            cohere: leak(json_response("200 OK", &cohere)),
            cohere_start: leak(named_chunk(
                "message-start",
                r#"{"id":"cohere-bench01","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#,
            )),
            cohere_content_start: leak(named_chunk(
                "content-start",
                r#"{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}"#,
            )),
            cohere_delta: leak(named_chunk(
                "content-delta",
                &format!(
                    r#"{{"type":"content-delta","index":0,"delta":{{"message":{{"content":{{"text":"{DELTA_TEXT}"}}}}}}}}"#
                ),
            )),
            cohere_content_end: leak(named_chunk(
                "content-end",
                r#"{"type":"content-end","index":0}"#,
            )),
            converse: leak(json_response("200 OK", &converse)),
            eventstream_head: leak(format!("{eventstream_head}\r\n")),
            eventstream_head_close: leak(format!("{eventstream_head}connection: close\r\n\r\n")),
            converse_start: leak_bytes(frame_chunk("messageStart", r#"{"role":"assistant"}"#)),
            converse_delta: leak_bytes(frame_chunk(
                "contentBlockDelta",
                &format!(r#"{{"contentBlockIndex":0,"delta":{{"text":"{DELTA_TEXT}"}}}}"#),
            )),
            converse_block_stop: leak_bytes(frame_chunk(
                "contentBlockStop",
                r#"{"contentBlockIndex":0}"#,
            )),
            converse_stop: leak_bytes(frame_chunk("messageStop", r#"{"stopReason":"end_turn"}"#)),
        }
    }

    /// The head of every streamed answer, with `connection: close` when the client asked.
    pub fn stream_head(&self, close: bool) -> &'static [u8] {
        if close {
            self.stream_head_close
        } else {
            self.stream_head
        }
    }

    /// The usage-only event sent when the request asked for `stream_options.include_usage`.
    pub fn usage_event(&self, completion_tokens: usize) -> Vec<u8> {
        let total = completion_tokens + 12;
        sse_chunk(&format!(
            r#"{{{PREFIX},"object":"chat.completion.chunk","choices":[],"usage":{{"prompt_tokens":12,"completion_tokens":{completion_tokens},"total_tokens":{total}}}}}"#
        ))
        .into_bytes()
    }

    /// Anthropic's `message_delta`: the stop reason and the output tokens of the whole answer.
    pub fn message_delta(&self, output_tokens: usize) -> Vec<u8> {
        named_chunk(
            "message_delta",
            &format!(
                r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{output_tokens}}}}}"#
            ),
        )
        .into_bytes()
    }

    /// The event-stream head, with `connection: close` when the client asked.
    pub fn eventstream_head(&self, close: bool) -> &'static [u8] {
        if close {
            self.eventstream_head_close
        } else {
            self.eventstream_head
        }
    }

    /// Gemini's last event: the last delta's text with `finishReason` and the whole usage, then
    /// the chunked body's terminator. With no deltas at all it still ends the stream, with
    /// empty text.
    pub fn gemini_last(&self, chunks: usize) -> Vec<u8> {
        let text = if chunks == 0 { "" } else { DELTA_TEXT };
        let usage = format!(
            r#"{{"promptTokenCount":12,"candidatesTokenCount":{chunks},"totalTokenCount":{}}}"#,
            chunks + 12
        );
        let last = gemini_chunk(&gemini_event(text, r#","finishReason":"STOP""#, &usage));
        format!("{last}0\r\n\r\n").into_bytes()
    }

    /// Cohere's `message-end`: the finish reason and the usage of the whole answer, then the
    /// chunked body's terminator.
    pub fn cohere_end(&self, output_tokens: usize) -> Vec<u8> {
        let tokens = format!(r#"{{"input_tokens":12,"output_tokens":{output_tokens}}}"#);
        let end = named_chunk(
            "message-end",
            &format!(
                r#"{{"type":"message-end","delta":{{"finish_reason":"COMPLETE","usage":{{"billed_units":{tokens},"tokens":{tokens}}}}}}}"#
            ),
        );
        format!("{end}0\r\n\r\n").into_bytes()
    }

    /// Bedrock's `metadata` frame (usage and metrics), then the chunked body's terminator.
    pub fn converse_metadata(&self, output_tokens: usize) -> Vec<u8> {
        let mut out = frame_chunk(
            "metadata",
            &format!(
                r#"{{"usage":{{"inputTokens":12,"outputTokens":{output_tokens},"totalTokens":{}}},"metrics":{{"latencyMs":1}}}}"#,
                output_tokens + 12
            ),
        );
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }
}

/// One Gemini stream event: a candidate with `text`, `finish` (`,"finishReason":...` on the
/// last event, else empty) and the usage so far, as Google repeats it on every event.
fn gemini_event(text: &str, finish: &str, usage: &str) -> String {
    format!(
        r#"{{"candidates":[{{"content":{{"role":"model","parts":[{{"text":"{text}"}}]}}{finish},"index":0}}],"usageMetadata":{usage},{GEMINI_TAIL}}}"#
    )
}

fn json_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `data: <payload>\n\n` framed as one chunk of a chunked body.
fn sse_chunk(payload: &str) -> String {
    chunk(&format!("data: {payload}\n\n"))
}

/// `event: <name>\ndata: <payload>\n\n`, as Anthropic names every event, as one chunk.
fn named_chunk(name: &str, payload: &str) -> String {
    chunk(&format!("event: {name}\ndata: {payload}\n\n"))
}

/// `data: <payload>\r\n\r\n`, as Gemini frames its SSE events, as one chunk.
fn gemini_chunk(payload: &str) -> String {
    chunk(&format!("data: {payload}\r\n\r\n"))
}

/// One AWS event-stream `event` frame of type `name` with a JSON payload, as one chunk.
fn frame_chunk(name: &str, payload: &str) -> Vec<u8> {
    let mut frame = Vec::new();
    let headers = [
        (":event-type", name),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ];
    write_frame(&mut frame, &headers, payload.as_bytes());
    let mut out = format!("{:x}\r\n", frame.len()).into_bytes();
    out.extend_from_slice(&frame);
    out.extend_from_slice(b"\r\n");
    out
}

fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

fn leak(text: String) -> &'static [u8] {
    leak_bytes(text.into_bytes())
}

fn leak_bytes(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use simd_json::prelude::*;

    use super::Responses;

    #[test]
    fn chat_body_is_realistic_size() {
        let responses = Responses::build();
        let text = std::str::from_utf8(responses.chat).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!((200..=300).contains(&body.len()), "{}", body.len());
    }

    #[test]
    fn chunks_are_framed() {
        let responses = Responses::build();
        let text = std::str::from_utf8(responses.delta).unwrap();
        let (size, rest) = text.split_once("\r\n").unwrap();
        assert_eq!(usize::from_str_radix(size, 16).unwrap() + 2, rest.len());
        assert!(rest.starts_with("data: {") && rest.ends_with("\n\n\r\n"));
        assert!(std::str::from_utf8(responses.done)
            .unwrap()
            .ends_with("data: [DONE]\n\n\r\n0\r\n\r\n"));
    }

    #[test]
    fn anthropic_events_are_named_and_framed() {
        let responses = Responses::build();
        let delta = std::str::from_utf8(responses.block_delta).unwrap();
        let (size, rest) = delta.split_once("\r\n").unwrap();
        assert_eq!(usize::from_str_radix(size, 16).unwrap() + 2, rest.len());
        assert!(
            rest.starts_with("event: content_block_delta\ndata: {\"type\":\"content_block_delta\"")
        );
        assert!(rest.contains(r#""text_delta","text":" hello""#));
        let stop = String::from_utf8(responses.message_delta(20)).unwrap();
        assert!(
            stop.contains(r#""stop_reason":"end_turn""#) && stop.contains(r#""output_tokens":20}"#)
        );
        assert!(std::str::from_utf8(responses.message_stop)
            .unwrap()
            .ends_with("data: {\"type\":\"message_stop\"}\n\n\r\n0\r\n\r\n"));
        let message = std::str::from_utf8(responses.message).unwrap();
        assert!(
            message.contains(r#""type":"message""#)
                && message.contains(r#""stop_reason":"end_turn""#)
        );
    }

    /// The data payloads of a chunked SSE body (CRLF or LF framed), with their event names.
    fn sse_events(body: &[u8]) -> Vec<(String, String)> {
        let text = String::from_utf8(unchunk(body)).unwrap();
        let text = text.replace("\r\n", "\n");
        text.split("\n\n")
            .filter(|event| !event.is_empty())
            .map(|event| {
                let mut name = String::new();
                let mut data = String::new();
                for line in event.lines() {
                    if let Some(value) = line.strip_prefix("event: ") {
                        name = value.to_owned();
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data = value.to_owned();
                    }
                }
                (name, data)
            })
            .collect()
    }

    /// A chunked body's data, checking every chunk's size line.
    fn unchunk(mut body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line = body.iter().position(|&b| b == b'\r').unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&body[..line]).unwrap(), 16).unwrap();
            let data = &body[line + 2..];
            if size == 0 {
                assert_eq!(data, b"\r\n");
                return out;
            }
            out.extend_from_slice(&data[..size]);
            assert_eq!(&data[size..size + 2], b"\r\n");
            body = &data[size + 2..];
        }
    }

    fn json(text: &str) -> simd_json::OwnedValue {
        let mut bytes = text.as_bytes().to_vec();
        simd_json::to_owned_value(&mut bytes).unwrap_or_else(|error| panic!("{error}: {text}"))
    }

    fn body_of(response: &[u8]) -> simd_json::OwnedValue {
        let text = std::str::from_utf8(response).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        json(body)
    }

    #[test]
    fn gemini_stream_and_answer() {
        let responses = Responses::build();
        let mut body = [responses.gemini_delta, responses.gemini_delta].concat();
        body.extend(responses.gemini_last(3));
        assert!(std::str::from_utf8(responses.gemini_delta)
            .unwrap()
            .contains("}\r\n\r\n"));
        let events = sse_events(&body);
        assert_eq!(events.len(), 3);
        for (index, (_, data)) in events.iter().enumerate() {
            let event = json(data);
            let candidate = &event["candidates"][0];
            assert_eq!(candidate["content"]["parts"][0]["text"], " hello");
            let last = index == 2;
            assert_eq!(candidate.get("finishReason").is_some(), last, "{data}");
            assert_eq!(event["usageMetadata"]["promptTokenCount"], 12);
        }
        let last = json(&events[2].1);
        assert_eq!(last["candidates"][0]["finishReason"], "STOP");
        assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 3);
        let empty = sse_events(&responses.gemini_last(0));
        assert_eq!(
            json(&empty[0].1)["candidates"][0]["content"]["parts"][0]["text"],
            ""
        );
        let answer = body_of(responses.gemini);
        assert_eq!(answer["candidates"][0]["finishReason"], "STOP");
        assert_eq!(answer["usageMetadata"]["totalTokenCount"], 21);
        assert_eq!(answer["responseId"], "gemini-bench01");
    }

    #[test]
    fn cohere_stream_and_answer() {
        let responses = Responses::build();
        let parts = [
            responses.cohere_start,
            responses.cohere_content_start,
            responses.cohere_delta,
            responses.cohere_content_end,
        ];
        let mut body = parts.concat();
        body.extend(responses.cohere_end(1));
        let events = sse_events(&body);
        let names: Vec<_> = events.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "message-start",
                "content-start",
                "content-delta",
                "content-end",
                "message-end"
            ]
        );
        for (name, data) in &events {
            assert_eq!(json(data)["type"], name.as_str());
        }
        assert_eq!(
            json(&events[2].1)["delta"]["message"]["content"]["text"],
            " hello"
        );
        let end = json(&events[4].1);
        assert_eq!(end["delta"]["finish_reason"], "COMPLETE");
        assert_eq!(end["delta"]["usage"]["tokens"]["output_tokens"], 1);
        let answer = body_of(responses.cohere);
        assert_eq!(
            answer["message"]["content"][0]["text"],
            "Hello! How can I help you today?"
        );
        assert_eq!(answer["usage"]["billed_units"]["input_tokens"], 12);
    }

    #[test]
    fn converse_stream_frames_and_answer() {
        use gpt_api_common::eventstream::{frame_len, read_frame};

        let responses = Responses::build();
        let head = std::str::from_utf8(responses.eventstream_head(false)).unwrap();
        assert!(head.contains("content-type: application/vnd.amazon.eventstream\r\n"));
        let parts = [
            responses.converse_start,
            responses.converse_delta,
            responses.converse_delta,
            responses.converse_block_stop,
            responses.converse_stop,
        ];
        let mut body = parts.concat();
        body.extend(responses.converse_metadata(2));
        let mut frames = &unchunk(&body)[..];
        let mut events = Vec::new();
        while !frames.is_empty() {
            let length = frame_len(frames).unwrap();
            let frame = read_frame(&frames[..length]).unwrap();
            assert_eq!(frame.message_type, Some("event"));
            assert_eq!(frame.content_type, Some("application/json"));
            let payload = json(std::str::from_utf8(frame.payload).unwrap());
            events.push((frame.event_type.unwrap().to_owned(), payload));
            frames = &frames[length..];
        }
        let names: Vec<_> = events.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
        assert_eq!(events[1].1["delta"]["text"], " hello");
        assert_eq!(events[4].1["stopReason"], "end_turn");
        assert_eq!(events[5].1["usage"]["outputTokens"], 2);
        assert_eq!(events[5].1["usage"]["totalTokens"], 14);
        let answer = body_of(responses.converse);
        assert_eq!(
            answer["output"]["message"]["content"][0]["text"],
            "Hello! How can I help you today?"
        );
        assert_eq!(answer["stopReason"], "end_turn");
    }
}
