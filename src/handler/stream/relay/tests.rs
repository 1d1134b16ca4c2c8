//! The relay driven by an in-memory upstream and an in-memory client: no sockets.
#![expect(
    unsafe_code,
    reason = "the in-memory client reads the buffers monoio hands to a write"
)]

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use monoio::buf::{IoBuf, IoVecBuf};
use monoio::io::AsyncWriteRent;
use monoio::BufResult;

use super::*;
use crate::dialect::{Dialect, Framing};
use crate::dispatch::FailureKind;
use crate::handler::stream::sink::ClientSink;
use crate::record::{self, RecordEvent};

/// An upstream body: scripted chunks, then silence (or an end, or an error).
struct ScriptedUpstream(VecDeque<Result<Option<Bytes>, BodyError>>);

impl ChunkSource for ScriptedUpstream {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        match self.0.pop_front() {
            Some(next) => next,
            None => std::future::pending().await,
        }
    }

    fn ended(&self) -> bool {
        matches!(self.0.front(), Some(Ok(None)))
    }
}

fn upstream(
    chunks: &[&'static str],
    end: Option<Result<Option<Bytes>, BodyError>>,
) -> ScriptedUpstream {
    let mut script: VecDeque<_> = chunks
        .iter()
        .map(|chunk| Ok(Some(Bytes::from_static(chunk.as_bytes()))))
        .collect();
    script.extend(end);
    ScriptedUpstream(script)
}

/// A client that keeps every byte written to it (or refuses writes: a client that left).
#[derive(Default)]
struct MemoryClient {
    received: Vec<u8>,
    gone: bool,
    /// Write calls made (each a `writev` or `write`: one ring operation on a socket).
    writes: usize,
}

impl AsyncWriteRent for MemoryClient {
    fn write<T: IoBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        // SAFETY: an `IoBuf` promises `bytes_init` readable bytes at `read_ptr`.
        let bytes = unsafe { std::slice::from_raw_parts(buf.read_ptr(), buf.bytes_init()) };
        self.writes += 1;
        let result = self.take(bytes);
        std::future::ready((result, buf))
    }

    fn writev<T: IoVecBuf>(&mut self, buf_vec: T) -> impl Future<Output = BufResult<usize, T>> {
        // SAFETY: an `IoVecBuf` promises `read_iovec_len` valid iovecs at `read_iovec_ptr`,
        // each pointing at `iov_len` readable bytes.
        let iovecs = unsafe {
            std::slice::from_raw_parts(buf_vec.read_iovec_ptr(), buf_vec.read_iovec_len())
        };
        self.writes += 1;
        let mut written = Ok(0);
        for iovec in iovecs {
            // SAFETY: see above.
            let bytes =
                unsafe { std::slice::from_raw_parts(iovec.iov_base as *const u8, iovec.iov_len) };
            written = self.take(bytes).map(|n| n + written.unwrap_or(0));
        }
        std::future::ready((written, buf_vec))
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MemoryClient {
    fn take(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.gone {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        self.received.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    /// The chunked body's payloads joined (the size lines and CRLFs taken off).
    fn body(&self) -> String {
        String::from_utf8(self.body_bytes()).unwrap()
    }

    /// The same for a binary stream (AWS event-stream frames).
    fn body_bytes(&self) -> Vec<u8> {
        let mut body = Vec::new();
        let mut rest = self.received.as_slice();
        while let Some(line_end) = rest.windows(2).position(|pair| pair == b"\r\n") {
            let size = std::str::from_utf8(&rest[..line_end]).unwrap();
            let size = usize::from_str_radix(size, 16).unwrap();
            let after = &rest[line_end + 2..];
            body.extend_from_slice(&after[..size]);
            rest = &after[size + 2..];
        }
        body
    }
}

const HELLO: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"hel\"}}]}\n\n";
const LO: &str = "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n";
const FINISH: &str = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
const USAGE: &str = "data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\n";
const DONE: &str = "data: [DONE]\n\n";

/// Relays `source` to a fresh in-memory client; returns the outcome, what the client got
/// and what the logging thread got.
async fn relay(
    source: ScriptedUpstream,
    strip_usage: bool,
    client: &mut MemoryClient,
) -> (Result<(), StreamEnd>, RelayState, Vec<Bytes>) {
    relay_dialect(source, Dialect::Chat, strip_usage, client).await
}

async fn relay_dialect(
    source: ScriptedUpstream,
    dialect: Dialect,
    strip_usage: bool,
    client: &mut MemoryClient,
) -> (Result<(), StreamEnd>, RelayState, Vec<Bytes>) {
    relay_framed(source, dialect, strip_usage, Framing::Sse, client).await
}

/// A relay of `dialect`'s stream, framed as that dialect's upstreams frame it, to a client
/// that reads `client_framing`.
async fn relay_framed(
    source: ScriptedUpstream,
    dialect: Dialect,
    strip_usage: bool,
    client_framing: Framing,
    client: &mut MemoryClient,
) -> (Result<(), StreamEnd>, RelayState, Vec<Bytes>) {
    let (sender, receiver) = record::channel();
    let mut sink = ClientSink::new(client, None, sender, 7, Bytes::new(), false);
    let mut state = RelayState::new(dialect, strip_usage, client_framing);
    let outcome = pump(
        source,
        EventFramer::new(dialect.framing()),
        &mut state,
        &mut sink,
        Duration::from_millis(50),
    )
    .await;
    let recorded = receiver
        .try_iter()
        .map(|event| match event {
            RecordEvent::StreamChunk { stream: 7, bytes } => bytes,
            _ => panic!("only chunks of stream 7"),
        })
        .collect();
    (outcome, state, recorded)
}

#[monoio::test(timer_enabled = true)]
async fn whole_events_are_forwarded_untouched_across_split_reads() {
    let mut client = MemoryClient::default();
    // The second event arrives in two reads; it goes out only once whole.
    let (lo_start, lo_end) = LO.split_at(10);
    let chunks = [HELLO, lo_start, lo_end, FINISH, DONE];
    let (outcome, _, recorded) = relay(upstream(&chunks, Some(Ok(None))), false, &mut client).await;
    assert!(outcome.is_ok());
    let expected = [HELLO, LO, FINISH, DONE].concat();
    assert_eq!(client.body(), expected);
    assert_eq!(recorded.concat(), expected.as_bytes());
    assert!(recorded.iter().all(|chunk| chunk.ends_with(b"\n\n")));
}

#[monoio::test(timer_enabled = true)]
async fn the_body_ends_in_the_write_of_the_last_events_when_the_upstream_end_came_with_them() {
    // `[DONE]` and the upstream's end in the same read: one write for both.
    let mut client = MemoryClient::default();
    let chunks = [HELLO, FINISH, DONE];
    let (outcome, _, recorded) = relay(upstream(&chunks, Some(Ok(None))), false, &mut client).await;
    assert!(outcome.is_ok());
    assert_eq!(
        client.writes, 3,
        "one write per read, the body's end in the last"
    );
    let last_write = format!("{:x}\r\n{DONE}\r\n0\r\n\r\n", DONE.len());
    assert!(client.received.ends_with(last_write.as_bytes()));
    assert_eq!(client.body(), [HELLO, FINISH, DONE].concat());
    assert_eq!(recorded.concat(), [HELLO, FINISH, DONE].concat().as_bytes());

    // The end read on its own: the body's end goes alone (nothing is held back for it).
    let mut client = MemoryClient::default();
    let source = ScriptedUpstream(
        [
            Ok(Some(Bytes::from_static(HELLO.as_bytes()))),
            Ok(Some(Bytes::from_static(DONE.as_bytes()))),
        ]
        .into_iter()
        .collect(),
    );
    let (sender, _receiver) = record::channel();
    let mut sink = ClientSink::new(&mut client, None, sender, 7, Bytes::new(), false);
    let mut state = RelayState::new(Dialect::Chat, false, Framing::Sse);
    let relayed = pump(
        source,
        EventFramer::default(),
        &mut state,
        &mut sink,
        Duration::from_millis(20),
    )
    .await;
    assert!(
        matches!(relayed, Err(StreamEnd::Broken(_))),
        "still open upstream: silence breaks it"
    );
    assert!(
        !client.received.ends_with(b"0\r\n\r\n"),
        "no end before the upstream's"
    );

    // A missing `[DONE]` goes in the same write as the finish and the end.
    let mut client = MemoryClient::default();
    let (outcome, _, _) = relay(
        upstream(&[HELLO, FINISH], Some(Ok(None))),
        false,
        &mut client,
    )
    .await;
    assert!(outcome.is_ok());
    assert_eq!(client.writes, 2);
    assert_eq!(client.body(), [HELLO, FINISH, DONE].concat());
    assert!(client.received.ends_with(b"\r\n0\r\n\r\n"));
}

#[monoio::test(timer_enabled = true)]
async fn the_end_of_a_body_that_ended_apart_still_closes_the_client_body() {
    // The upstream's end in a read of its own, after `[DONE]`: the end is written then.
    let mut client = MemoryClient::default();
    let mut script: VecDeque<_> = [HELLO, DONE]
        .iter()
        .map(|chunk| Ok(Some(Bytes::from_static(chunk.as_bytes()))))
        .collect();
    script.push_back(Ok(None));
    // `ended` looks one step ahead: hide the end behind a chunk that holds nothing whole.
    script.insert(2, Ok(Some(Bytes::new())));
    let (outcome, _, _) = relay(ScriptedUpstream(script), false, &mut client).await;
    assert!(outcome.is_ok());
    assert_eq!(client.writes, 3, "the events, then the end alone");
    assert!(client.received.ends_with(b"\r\n0\r\n\r\n"));
    assert_eq!(client.body(), [HELLO, DONE].concat());
}

#[monoio::test(timer_enabled = true)]
async fn a_finish_without_done_is_completed_and_the_usage_chunk_withheld() {
    let mut client = MemoryClient::default();
    let chunks = [HELLO, FINISH, USAGE];
    let (outcome, state, _) = relay(upstream(&chunks, Some(Ok(None))), true, &mut client).await;
    assert!(outcome.is_ok());
    assert_eq!(client.body(), [HELLO, FINISH, DONE].concat());
    assert_eq!(state.withheld_usage.as_deref(), Some(USAGE.as_bytes()));
}

#[test]
fn the_usage_chunk_is_cut_from_any_place_in_a_block() {
    for (block, rest) in [
        ([USAGE, DONE].concat(), DONE.to_owned()),
        ([FINISH, USAGE].concat(), FINISH.to_owned()),
        ([FINISH, USAGE, DONE].concat(), [FINISH, DONE].concat()),
        (USAGE.to_owned(), String::new()),
    ] {
        let mut state = RelayState::new(Dialect::Chat, true, Framing::Sse);
        let block = Bytes::from(block);
        let delivered = state.filter(block.clone()).expect("no error event");
        let pieces: Vec<&[u8]> = delivered.pieces().map(|piece| &piece[..]).collect();
        assert_eq!(pieces.concat(), rest.as_bytes());
        assert_eq!(state.take_withheld().as_deref(), Some(USAGE.as_bytes()));
        // Wherever it was, the rest is slices of the block, not a copy.
        let block_range = block.as_ptr_range();
        assert!(pieces
            .iter()
            .all(|piece| block_range.contains(&piece.as_ptr())));
    }
}

#[monoio::test(timer_enabled = true)]
async fn a_usage_chunk_mid_block_is_kept_from_the_client_and_the_rest_leaves_in_one_write() {
    // Finish, usage and `[DONE]` in one read, the usual end of a stream that asked for usage.
    let mut client = MemoryClient::default();
    let block: &'static str = [FINISH, USAGE, DONE].concat().leak();
    let (outcome, mut state, recorded) =
        relay(upstream(&[HELLO, block], Some(Ok(None))), true, &mut client).await;
    assert!(outcome.is_ok());
    assert_eq!(client.body(), [HELLO, FINISH, DONE].concat());
    assert_eq!(
        client.writes, 2,
        "the two pieces around the usage chunk in one write, the body's end with them"
    );
    assert!(client.received.ends_with(b"\r\n0\r\n\r\n"));
    // The logging thread gets what the client got, piece by piece, each a slice of the read;
    // the usage chunk whole, once the exchange takes it.
    let block_range = block.as_bytes().as_ptr_range();
    assert_eq!(recorded.concat(), [HELLO, FINISH, DONE].concat().as_bytes());
    assert_eq!(&recorded[1..], [FINISH.as_bytes(), DONE.as_bytes()]);
    assert!(recorded[1..]
        .iter()
        .all(|piece| block_range.contains(&piece.as_ptr())));
    assert_eq!(state.take_withheld().as_deref(), Some(USAGE.as_bytes()));
}

#[monoio::test(timer_enabled = true)]
async fn breaks_are_detected_and_classified() {
    // Ended before any finish reason: a transient break, not a complete answer.
    let mut client = MemoryClient::default();
    let (outcome, _, _) = relay(upstream(&[HELLO], Some(Ok(None))), false, &mut client).await;
    let Err(StreamEnd::Broken(failure)) = outcome else {
        panic!("a stream without a finish reason is broken");
    };
    assert_eq!(failure.kind, FailureKind::Transient { retry_after: None });
    assert_eq!(client.body(), HELLO);
    // Cut in the middle of an event, even after a finish reason: broken.
    let (half, _) = HELLO.split_at(12);
    let mut client = MemoryClient::default();
    let (outcome, _, _) = relay(
        upstream(&[FINISH, half], Some(Ok(None))),
        false,
        &mut client,
    )
    .await;
    assert!(matches!(outcome, Err(StreamEnd::Broken(_))));
    // Silence past the idle timeout: a silent upstream.
    let mut client = MemoryClient::default();
    let (outcome, _, _) = relay(upstream(&[HELLO], None), false, &mut client).await;
    let Err(StreamEnd::Broken(failure)) = outcome else {
        panic!("a silent upstream breaks the stream");
    };
    assert_eq!(failure, Failure::idle_timeout());
    // A reset: transient.
    let reset = Err(BodyError::Reset("connection reset".into()));
    let mut client = MemoryClient::default();
    let (outcome, _, _) = relay(upstream(&[HELLO], Some(reset)), false, &mut client).await;
    let Err(StreamEnd::Broken(failure)) = outcome else {
        panic!("a reset breaks the stream");
    };
    assert_eq!(failure.kind, FailureKind::Transient { retry_after: None });
}

const TEXT: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n";
const OVERLOADED: &str = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
const MESSAGE_STOP: &str = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

#[monoio::test(timer_enabled = true)]
async fn anthropic_streams_end_at_message_stop_and_break_at_an_error_event() {
    let mut client = MemoryClient::default();
    let chunks = [TEXT, MESSAGE_STOP];
    let source = upstream(&chunks, Some(Ok(None)));
    let (outcome, _, _) = relay_dialect(source, Dialect::Anthropic, false, &mut client).await;
    assert!(outcome.is_ok());
    assert_eq!(
        client.body(),
        [TEXT, MESSAGE_STOP].concat(),
        "no [DONE] added"
    );
    // The error event and what follows it in the same read stay away from the client.
    let mut client = MemoryClient::default();
    let block: &'static str = [TEXT, OVERLOADED, TEXT].concat().leak();
    let source = upstream(&[block], None);
    let (outcome, _, recorded) =
        relay_dialect(source, Dialect::Anthropic, false, &mut client).await;
    let Err(StreamEnd::Broken(failure)) = outcome else {
        panic!("an error event breaks the stream");
    };
    assert_eq!(failure, Failure::error_event("Overloaded"));
    assert_eq!(client.body(), TEXT);
    assert_eq!(recorded.concat(), TEXT.as_bytes());
}

#[monoio::test(timer_enabled = true)]
async fn a_client_that_left_ends_the_relay() {
    let mut client = MemoryClient {
        gone: true,
        ..MemoryClient::default()
    };
    let (outcome, _, recorded) = relay(upstream(&[HELLO, FINISH], None), false, &mut client).await;
    assert!(matches!(outcome, Err(StreamEnd::ClientGone)));
    assert!(
        recorded.is_empty(),
        "nothing reached the client, nothing is logged as sent"
    );
}

#[monoio::test(timer_enabled = true)]
async fn a_break_can_end_with_the_in_band_error_event() {
    use crate::error::{AppError, FailureSummary};
    let mut client = MemoryClient::default();
    let (sender, receiver) = record::channel();
    let mut sink = ClientSink::new(&mut client, None, sender, 7, Bytes::new(), false);
    let mut state = RelayState::new(Dialect::Chat, false, Framing::Sse);
    let source = upstream(&[HELLO], Some(Ok(None)));
    let outcome = pump(
        source,
        EventFramer::default(),
        &mut state,
        &mut sink,
        Duration::from_secs(1),
    )
    .await;
    let Err(StreamEnd::Broken(failure)) = outcome else {
        panic!("the upstream ended before a finish reason");
    };
    let error = AppError::StreamInterrupted(FailureSummary {
        model: "m".into(),
        tried: vec!["a/m".into()],
        last_error: failure.message,
        last_was_timeout: false,
    });
    sink.forward(Bytes::from(error.sse_event(&error.message())))
        .await
        .unwrap();
    assert!(sink.close().await);
    drop(sink);
    let body = client.body();
    let event = body.strip_prefix(HELLO).expect("the delivered event first");
    let mut payload = event
        .strip_prefix("data: ")
        .unwrap()
        .trim_end()
        .as_bytes()
        .to_vec();
    let parsed: simd_json::OwnedValue = simd_json::from_slice(&mut payload).unwrap();
    use simd_json::prelude::*;
    assert_eq!(parsed["error"]["code"].as_str(), Some("stream_interrupted"));
    let message = parsed["error"]["message"].as_str().unwrap();
    assert!(message.contains("Tried: [\"a/m\"]") && message.contains("before it finished"));
    assert!(
        client.received.ends_with(b"0\r\n\r\n"),
        "the body ends after the error event"
    );
    assert_eq!(receiver.try_iter().count(), 2, "both events reach the log");
}

/// An upstream body of binary chunks, then its end.
fn upstream_bytes(chunks: Vec<Vec<u8>>) -> ScriptedUpstream {
    let mut script: VecDeque<_> = chunks
        .into_iter()
        .map(|chunk| Ok(Some(Bytes::from(chunk))))
        .collect();
    script.push_back(Ok(None));
    ScriptedUpstream(script)
}

fn converse_frame(headers: &[(&str, &str)], payload: &str) -> Vec<u8> {
    let mut out = Vec::new();
    crate::eventstream::write_frame(&mut out, headers, payload.as_bytes());
    out
}

fn converse_event(event_type: &str, payload: &str) -> Vec<u8> {
    converse_frame(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

#[monoio::test(timer_enabled = true)]
async fn converse_frames_pass_through_whole_and_end_at_message_stop() {
    let start = converse_event("messageStart", r#"{"role":"assistant"}"#);
    let delta = converse_event(
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"text":"hello"}}"#,
    );
    let stop = converse_event("messageStop", r#"{"stopReason":"end_turn"}"#);
    let metadata = converse_event(
        "metadata",
        r#"{"usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4},"metrics":{"latencyMs":9}}"#,
    );
    let all = [start.clone(), delta.clone(), stop.clone(), metadata.clone()].concat();
    // The delta arrives in two reads, cut inside its prelude; the rest in one.
    let chunks = vec![
        [start.clone(), delta[..5].to_vec()].concat(),
        delta[5..].to_vec(),
        [stop, metadata].concat(),
    ];
    let mut client = MemoryClient::default();
    let (outcome, _, recorded) = relay_framed(
        upstream_bytes(chunks),
        Dialect::Converse,
        false,
        Framing::EventStream,
        &mut client,
    )
    .await;
    assert!(outcome.is_ok(), "messageStop ends the answer");
    assert_eq!(client.body_bytes(), all, "untouched, nothing added");
    assert_eq!(recorded[0], start, "only whole frames are released");
    assert_eq!(recorded.concat(), all);
}

#[monoio::test(timer_enabled = true)]
async fn a_converse_exception_frame_cuts_the_block_and_becomes_the_failure() {
    let delta = converse_event(
        "contentBlockDelta",
        r#"{"contentBlockIndex":0,"delta":{"text":"hel"}}"#,
    );
    let exception = converse_frame(
        &[
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        r#"{"message":"Too many requests"}"#,
    );
    let block = [delta.clone(), exception, delta.clone()].concat();
    let mut client = MemoryClient::default();
    let (outcome, _, recorded) = relay_framed(
        upstream_bytes(vec![block]),
        Dialect::Converse,
        false,
        Framing::EventStream,
        &mut client,
    )
    .await;
    let Err(StreamEnd::Broken(failure)) = outcome else {
        panic!("an exception frame breaks the stream");
    };
    assert_eq!(
        failure,
        Failure::error_event("throttlingException: Too many requests")
    );
    assert_eq!(client.body_bytes(), delta, "the frames before it only");
    assert_eq!(recorded.concat(), delta);
}

const GEMINI_HEL: &str =
    r#"{"candidates":[{"content":{"parts":[{"text":"hel"}],"role":"model"},"index":0}]}"#;
const GEMINI_LO: &str = r#"{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}"#;
const GEMINI_ERROR: &str =
    r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;

/// Gemini's SSE event (it ends its events with CRLFs).
fn gemini_event(data: &str) -> &'static str {
    format!("data: {data}\r\n\r\n").leak()
}

#[monoio::test(timer_enabled = true)]
async fn gemini_sse_becomes_a_json_array_for_a_client_that_asked_for_one() {
    let hel = gemini_event(GEMINI_HEL);
    let lo = gemini_event(GEMINI_LO);
    let (lo_start, lo_end) = lo.split_at(20);
    let mut client = MemoryClient::default();
    let (outcome, _, recorded) = relay_framed(
        upstream(&[hel, lo_start, lo_end], Some(Ok(None))),
        Dialect::Gemini,
        false,
        Framing::JsonArray,
        &mut client,
    )
    .await;
    assert!(outcome.is_ok(), "finishReason ends the answer");
    let expected = format!("[{GEMINI_HEL}\r\n,\r\n{GEMINI_LO}]");
    assert_eq!(client.body(), expected);
    assert_eq!(recorded.concat(), expected.as_bytes());
    let mut whole = expected.into_bytes();
    let parsed: simd_json::OwnedValue = simd_json::from_slice(&mut whole).unwrap();
    use simd_json::prelude::*;
    assert_eq!(parsed.as_array().map(Vec::len), Some(2), "a JSON array");

    // An in-band error: the elements before it, and the gateway decides the rest.
    let mut client = MemoryClient::default();
    let block: &'static str = [hel, gemini_event(GEMINI_ERROR), hel].concat().leak();
    let (outcome, _, _) = relay_framed(
        upstream(&[block], Some(Ok(None))),
        Dialect::Gemini,
        false,
        Framing::JsonArray,
        &mut client,
    )
    .await;
    let Err(StreamEnd::Broken(failure)) = outcome else {
        panic!("an error object breaks the stream");
    };
    assert_eq!(failure, Failure::error_event("The model is overloaded."));
    assert_eq!(client.body(), format!("[{GEMINI_HEL}"));
}

#[test]
fn a_json_array_closes_once_and_empty_when_nothing_came() {
    let mut state = RelayState::new(Dialect::Gemini, false, Framing::JsonArray);
    assert_eq!(state.ending().as_deref(), Some(&b"[]"[..]));
    assert_eq!(state.ending(), None, "closed once");
    // An SSE client of the same stream gets it as it came, and no ending.
    let mut state = RelayState::new(Dialect::Gemini, false, Framing::Sse);
    let event = Bytes::from_static(gemini_event(GEMINI_LO).as_bytes());
    assert_eq!(state.filter(event.clone()).ok(), Some(event.into()));
    assert!(state.finished());
    assert_eq!(state.ending(), None);
}

const COHERE_DELTA: &str = "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"hi\"}}}}\n\n";
const COHERE_END: &str = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\",\"usage\":{\"tokens\":{\"input_tokens\":3,\"output_tokens\":1}}}}\n\n";
const COHERE_ERROR_END: &str = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\",\"error\":\"internal failure\"}}\n\n";

#[monoio::test(timer_enabled = true)]
async fn cohere_streams_end_at_message_end_unless_it_carries_an_error() {
    let mut client = MemoryClient::default();
    let source = upstream(&[COHERE_DELTA, COHERE_END], Some(Ok(None)));
    let (outcome, _, _) = relay_dialect(source, Dialect::Cohere, false, &mut client).await;
    assert!(outcome.is_ok());
    assert_eq!(
        client.body(),
        [COHERE_DELTA, COHERE_END].concat(),
        "no [DONE] added"
    );

    let mut client = MemoryClient::default();
    let block: &'static str = [COHERE_DELTA, COHERE_ERROR_END].concat().leak();
    let source = upstream(&[block], Some(Ok(None)));
    let (outcome, _, recorded) = relay_dialect(source, Dialect::Cohere, false, &mut client).await;
    let Err(StreamEnd::Broken(failure)) = outcome else {
        panic!("a message-end with an error breaks the stream");
    };
    assert_eq!(failure, Failure::error_event("internal failure"));
    assert_eq!(client.body(), COHERE_DELTA);
    assert_eq!(recorded.concat(), COHERE_DELTA.as_bytes());
}
