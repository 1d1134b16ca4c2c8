//! Framing and per-dialect reading of the new dialects' streams: AWS event-stream frames,
//! Gemini's JSON array, and the error and end events of each dialect.

use std::ops::ControlFlow;

use bytes::Bytes;

use super::*;

/// One event-stream frame, as Bedrock writes them.
fn frame(headers: &[(&str, &str)], payload: &str) -> Vec<u8> {
    let mut out = Vec::new();
    eventstream::write_frame(&mut out, headers, payload.as_bytes());
    out
}

fn converse_event(event_type: &str, payload: &str) -> Vec<u8> {
    frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

fn converse_exception(exception_type: &str, message: &str) -> Vec<u8> {
    frame(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        &format!("{{\"message\":\"{message}\"}}"),
    )
}

/// `(offset, length, payload)` of every event `each_payload` gives.
fn payloads(framing: Framing, block: &[u8]) -> Vec<(usize, usize, Vec<u8>)> {
    let mut found = Vec::new();
    each_payload(framing, block, |start, len, payload| {
        found.push((start, len, payload.to_vec()));
        ControlFlow::Continue(())
    });
    found
}

#[test]
fn the_event_stream_framer_releases_whole_frames_across_any_split() {
    let mut rng = fastrand::Rng::with_seed(19);
    for _ in 0..500 {
        let mut input = Vec::new();
        let count = rng.usize(1..6);
        for _ in 0..count {
            let text: String = (0..rng.usize(0..200))
                .map(|_| char::from(rng.u8(b' '..b'~')))
                .collect();
            input.extend(converse_event("contentBlockDelta", &text));
        }
        let mut framer = EventFramer::new(Framing::EventStream);
        let mut released = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let end = (at + rng.usize(1..80)).min(input.len());
            if let Some(block) = framer.push(Bytes::copy_from_slice(&input[at..end])) {
                let frames = payloads(Framing::EventStream, &block);
                assert!(!frames.is_empty());
                let (last_start, last_len, _) = frames[frames.len() - 1];
                assert_eq!(last_start + last_len, block.len(), "only whole frames");
                for (_, _, frame) in &frames {
                    let read = eventstream::read_frame(frame).expect("a whole, valid frame");
                    assert_eq!(read.event_type, Some("contentBlockDelta"));
                }
                released.extend_from_slice(&block);
            }
            at = end;
            assert_eq!(
                framer.has_partial_event(),
                released.len() < at,
                "a frame cut short is pending"
            );
        }
        assert_eq!(released, input, "nothing lost, nothing added");
    }
}

#[test]
fn each_payload_reads_sse_events() {
    let block = b": ping\n\nevent: a\ndata: {\"x\":1}\n\ndata: {\"y\":2}\r\n\r\n";
    assert_eq!(
        payloads(Framing::Sse, block),
        [
            (8, 24, b"{\"x\":1}".to_vec()),
            (32, 17, b"{\"y\":2}".to_vec())
        ],
        "the comment has no data: no payload"
    );
    let mut seen = 0;
    each_payload(Framing::Sse, block, |_, _, _| {
        seen += 1;
        ControlFlow::Break(())
    });
    assert_eq!(seen, 1, "a break stops the walk");
}

#[test]
fn each_payload_gives_whole_event_stream_frames() {
    let start = converse_event("messageStart", "{\"role\":\"assistant\"}");
    let stop = converse_event("messageStop", "{\"stopReason\":\"end_turn\"}");
    let block = [start.clone(), stop.clone()].concat();
    assert_eq!(
        payloads(Framing::EventStream, &block),
        [
            (0, start.len(), start.clone()),
            (start.len(), stop.len(), stop.clone())
        ]
    );
    // A frame cut short is not given (the framer never releases one).
    let cut = &block[..block.len() - 1];
    assert_eq!(payloads(Framing::EventStream, cut).len(), 1);
}

#[test]
fn each_payload_reads_json_array_elements_whatever_their_strings_hold() {
    let (a, b, d): (&[u8], &[u8], &[u8]) = (
        br#"{"a":"]"}"#,
        br#"{"b":",{","c":"q\"]"}"#,
        br#"{"d":[1,{"e":"}"}]}"#,
    );
    let first = [b"[", a, b"\r\n,\r\n", b].concat();
    assert_eq!(
        payloads(Framing::JsonArray, &first),
        [(1, a.len(), a.to_vec()), (a.len() + 6, b.len(), b.to_vec())]
    );
    // A later read starts with the separator and may hold the array's end.
    let later = [b"\r\n,\r\n", d, b"]"].concat();
    assert_eq!(
        payloads(Framing::JsonArray, &later),
        [(5, d.len(), d.to_vec())]
    );
    assert!(payloads(Framing::JsonArray, b"[]").is_empty());
}

/// `read_event` as a short word, for the tables below.
fn said(dialect: Dialect, payload: &[u8]) -> Said {
    read_event(dialect, payload)
}

fn error(message: &str) -> Said {
    Said::Error(message.into())
}

#[test]
fn chat_anthropic_and_responses_errors_and_ends() {
    let finish = br#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#;
    assert_eq!(said(Dialect::Chat, finish), Said::Finished);
    assert_eq!(said(Dialect::Chat, b"[DONE]"), Said::Done);
    assert_eq!(said(Dialect::Chat, b" [DONE]\r"), Said::Done);
    assert_eq!(
        said(
            Dialect::Chat,
            br#"{"choices":[{"delta":{"content":"hi"},"finish_reason":null}]}"#
        ),
        Said::More
    );
    assert_eq!(
        said(Dialect::Chat, br#"{"error":{"message":"x"}}"#),
        Said::More,
        "chat has no in-band error event"
    );

    let overloaded =
        br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert_eq!(said(Dialect::Anthropic, overloaded), error("Overloaded"));
    assert_eq!(
        said(Dialect::Anthropic, br#"{"type": "message_stop"}"#),
        Said::Finished
    );
    assert_eq!(
        said(
            Dialect::Anthropic,
            br#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#
        ),
        Said::More
    );
    let quoted = br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"\"type\":\"message_stop\" \"type\": \"error\""}}"#;
    assert_eq!(
        said(Dialect::Anthropic, quoted),
        Said::More,
        "a text that quotes a type is not that type"
    );

    let failed = br#"{"type":"error","code":"server_error","message":"boom"}"#;
    assert_eq!(said(Dialect::Responses, failed), error("boom"));
    for end in [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ] {
        let event = format!("{{\"type\":\"{end}\",\"response\":{{}}}}");
        assert_eq!(
            said(Dialect::Responses, event.as_bytes()),
            Said::Finished,
            "{end}"
        );
    }
    assert_eq!(
        said(
            Dialect::Responses,
            br#"{"type":"response.output_text.delta","delta":"hi"}"#
        ),
        Said::More
    );
}

#[test]
fn gemini_errors_and_ends() {
    let overloaded =
        br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
    assert_eq!(
        said(Dialect::Gemini, overloaded),
        error("The model is overloaded.")
    );
    let text = br#"{"candidates":[{"content":{"parts":[{"text":"{\"error\": 1, \"finishReason\": \"STOP\"}"}],"role":"model"},"index":0}]}"#;
    assert_eq!(
        said(Dialect::Gemini, text),
        Said::More,
        "a text that mentions an error or a finish"
    );
    let last = br#"{"candidates":[{"content":{"parts":[{"text":"."}],"role":"model"},"finishReason": "STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}"#;
    assert_eq!(said(Dialect::Gemini, last), Said::Finished);
}

#[test]
fn cohere_errors_come_on_message_end() {
    let end = br#"{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"tokens":{"input_tokens":3,"output_tokens":2}}}}"#;
    assert_eq!(said(Dialect::Cohere, end), Said::Finished);
    let null_error = br#"{"type":"message-end","delta":{"finish_reason":"COMPLETE","error":null}}"#;
    assert_eq!(said(Dialect::Cohere, null_error), Said::Finished);
    let failed =
        br#"{"type":"message-end","delta":{"finish_reason":"ERROR","error":"internal failure"}}"#;
    assert_eq!(said(Dialect::Cohere, failed), error("internal failure"));
    let delta = br#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"\"error\": \"x\""}}}}"#;
    assert_eq!(said(Dialect::Cohere, delta), Said::More);
}

#[test]
fn converse_errors_are_exception_frames_and_messagestop_ends() {
    let exception = converse_exception("throttlingException", "Too many requests");
    assert_eq!(
        said(Dialect::Converse, &exception),
        error("throttlingException: Too many requests")
    );
    // An unmodeled error carries its code and message as headers.
    let unmodeled = frame(
        &[
            (":message-type", "error"),
            (":error-code", "InternalFailure"),
            (":error-message", "try again"),
        ],
        "",
    );
    assert_eq!(
        said(Dialect::Converse, &unmodeled),
        error("InternalFailure: try again")
    );
    let stop = converse_event("messageStop", "{\"stopReason\":\"end_turn\"}");
    assert_eq!(said(Dialect::Converse, &stop), Said::Finished);
    let delta = converse_event(
        "contentBlockDelta",
        "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"messageStop exception\"}}",
    );
    assert_eq!(said(Dialect::Converse, &delta), Said::More);
    // Bytes that are not a frame say nothing.
    let mut corrupt = stop.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(said(Dialect::Converse, &corrupt), Said::More);
}
