//! The chat scan against simd-json: on recorded chat streams (`fixtures/chat_*.sse`), on
//! synthetic events and bodies (escapes, unicode, tool calls, usage, refusals, logprobs, errors,
//! several choices) and on every cut and one-byte change of them, a row comes out the same
//! whichever reader read each event; the scan reads the common events itself; and the other
//! dialects' recorded events are never taken for chat.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;

use super::support::{accumulate, accumulate_in_chunks, record, row_of};
use crate::chat_scan::{scan, Message};
use crate::dialect::Dialect;
use crate::known_events::KnownEvents;
use crate::response::{read_body, summarize_body};
use crate::row::ResponseSummary;
use crate::sse::SseSplitter;
use crate::stream::ChatStream;
use gpt_api_common::json;

const CHAT_TEXT: &str = include_str!("fixtures/chat_text.sse");
const CHAT_TOOL_CALLS: &str = include_str!("fixtures/chat_tool_calls.sse");
const OTHER_DIALECTS: [&str; 5] = [
    include_str!("fixtures/anthropic_thinking.sse"),
    include_str!("fixtures/anthropic_tool_use.sse"),
    include_str!("fixtures/cohere_tool_call.sse"),
    include_str!("fixtures/responses_function_call.sse"),
    include_str!("fixtures/responses_text.sse"),
];

/// bench-mock's events, the shapes measured.
const MOCK_DELTA: &str = r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":" hello"},"finish_reason":null}]}"#;
const MOCK_FINISH: &str = r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
const MOCK_USAGE: &str = r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}"#;

/// OpenAI's, with its `obfuscation` padding.
const OPENAI_DELTA: &str = r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"obfuscation":"9Qb2"}"#;

/// Events the scan reads itself.
const SCANNED: &[&str] = &[
    MOCK_DELTA,
    OPENAI_DELTA,
    MOCK_FINISH,
    MOCK_USAGE,
    r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"choices":[{"delta":{"content":"café 🌸 桜 ’"}}]}"#,
    r#"{"choices":[{"index":0,"delta":{"reasoning_content":"Let me think","content":null}}]}"#,
    r#"{"choices":[{"index":0,"delta":{"reasoning":"Hmm","reasoning_content":null}}]}"#,
    r#"{"choices":[{"index":0,"delta":{"content":"Hi","tool_calls":null}}]}"#,
    r#"{"choices":[{"index":0,"delta":{"content":"Hi","tool_calls":[]}}]}"#,
    r#"{"choices":[{"index":1,"delta":{"content":"B"}},{"index":0,"delta":{"content":"A"}}]}"#,
    r#"{"choices":[{"delta":{"content":"first"}},{"delta":{"content":"second"}}]}"#,
    r#"{"choices":[{"index":0,"text":"Once ","finish_reason":null}],"object":"text_completion"}"#,
    r#"{"choices":[{"index":0,"text":"upon","delta":{"content":" a time"},"finish_reason":"length"}]}"#,
    r#"{"choices":[{"index":0,"delta":{"refusal":"I can't help with that."},"finish_reason":"content_filter"}]}"#,
    r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.0012,"bytes":[72,105],"top_logprobs":[{"token":"Hi","logprob":-6.704273e-07,"bytes":[72,105]}]}],"refusal":null}}]}"#,
    r#"{"choices":[],"usage":{"prompt_tokens":81,"completion_tokens":15,"total_tokens":96,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
    r#"{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":null}}"#,
    r#"{"choices":[],"usage":{"input_tokens":10,"output_tokens":4,"cache_read_input_tokens":3,"cache_creation_input_tokens":2,"input_tokens_details":{"cached_tokens":3}}}"#,
    r#"{"choices":[],"usage":{"prompt_tokens":5,"prompt_tokens_details":null}}"#,
    r#"{"choices":null,"error":null,"usage":{}}"#,
    r#"{"choices":[{"index":0,"delta":null,"finish_reason":"stop"}]}"#,
    r#"{"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":false,"severity":"safe"}}}],"choices":[]}"#,
    r#"{ "choices" : [ { "index" : 0 , "delta" : { "content" : "spaced" } } ] }"#,
    r#"{"choices":[{"index":0,"delta":{"content":"x"}}],"x":[true,false,null,-0,0.5,1E+2,-12.75e-3,{},[],""]}"#,
    r#"{}"#,
];

/// Events the scan leaves to simd-json.
const PARSED: &[&str] = &[
    r#"{"choices":[{"index":0,"delta":{"content":"line\nbreak \"quoted\" \u00e9 \\"}}]}"#,
    r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}"#,
    r#"{"error":{"message":"All upstreams failed for model 'm'.","type":"upstream_error","code":"stream_interrupted"}}"#,
    r#"{"error":"overloaded"}"#,
    r#"{"choices":[{"index":0,"delta":{"content":"A"}},{"index":0,"delta":{"content":"B"}}]}"#,
    r#"{"choices":[{"index":0,"delta":{"content":"A","content":"B"}}]}"#,
    r#"{"choices":[{"index":"0","delta":{"content":"A"}}]}"#,
    r#"{"choices":[{"index":-1,"delta":{"content":"A"}}]}"#,
    r#"{"choices":[{"index":0.0,"delta":{"content":"A"}}]}"#,
    r#"{"choices":[{"index":0,"delta":{"content":["part"]}}]}"#,
    r#"{"choices":[{"index":0,"finish_reason":7}]}"#,
    r#"{"choices":[],"usage":{"prompt_tokens":1.5}}"#,
    r#"{"choices":[],"usage":{"prompt_tokens":1234567890123456789}}"#,
    r#"{"choices":[],"usage":"none"}"#,
    r#"{"choices":{"index":0}}"#,
    r#"{"type":"message_start","choices":[]}"#,
    r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}"#,
    r#"{"choices":[],"x":1e400}"#,
    r#"{"choices":[],"x":12345678901234567890}"#,
    "{\"choices\":[{\"delta\":{\"content\":\"tab\there\"}}]}",
    "{\"choices\":[]}\n",
    r#"[1,2]"#,
    r#"{"choices":[]} {}"#,
];

#[test]
fn the_scan_reads_common_events_and_leaves_the_rest() {
    for event in SCANNED {
        assert!(
            scan(event.as_bytes(), Message::Delta, None).is_some(),
            "{event}"
        );
    }
    for event in PARSED {
        assert!(
            scan(event.as_bytes(), Message::Delta, None).is_none(),
            "{event}"
        );
    }
}

#[test]
fn every_synthetic_event_reads_the_same_both_ways() {
    for event in SCANNED.iter().chain(PARSED) {
        assert_stream_agrees(&[event]);
        assert_stream_agrees(&[MOCK_DELTA, event, MOCK_FINISH]);
    }
    assert_stream_agrees(SCANNED);
    assert_stream_agrees(PARSED);
    // The next event starts with the last one's opening members: the scan reads on after them.
    let mut chat = ChatStream::default();
    assert!(chat.scan(MOCK_DELTA.as_bytes()) && chat.scan(MOCK_DELTA.as_bytes()));
    assert!(chat.scan(MOCK_USAGE.as_bytes()) && chat.scan(MOCK_FINISH.as_bytes()));
}

/// Streams whose events repeat each other's bytes around their text, and change elsewhere.
const REPEATING: &[&[&str]] = &[
    // Text varying: empty, multi-byte UTF-8, and what a string may not hold unescaped.
    &[
        MOCK_DELTA,
        r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"café 🌸 桜"},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"say \"hi\"\n"},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}"#,
        "{\"id\":\"chatcmpl-bench01\",\"created\":1700000000,\"model\":\"gpt-4o-mini\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tab\there\"},\"finish_reason\":null}]}",
        r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"x"}},"finish_reason":null}]}"#,
        MOCK_FINISH,
        MOCK_USAGE,
        MOCK_DELTA,
    ],
    // Ids varying: the prefix differs, each event is scanned.
    &[
        r#"{"id":"a1","choices":[{"index":0,"delta":{"content":"one"}}]}"#,
        r#"{"id":"a2","choices":[{"index":0,"delta":{"content":"two"}}]}"#,
        r#"{"id":"a2","choices":[{"index":0,"delta":{"content":"three"}}]}"#,
        r#"{"id":"a2","choices":[{"index":0,"delta":{"content":"four"}}],"x":1}"#,
        r#"{"id":"a2","choices":[{"index":0,"delta":{"content":"five"}}],"x":1}"#,
    ],
    // Reasoning, completions' text, then content in the same shape.
    &[
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":"Let me"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":" think"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":null,"reasoning":"Hmm"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":null,"reasoning":"Hmm"}}]}"#,
        r#"{"choices":[{"index":0,"text":"Once","finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"text":" upon","finish_reason":null}]}"#,
        r#"{"choices":[{"index":0,"text":" upon","finish_reason":"length"}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":{"prompt_tokens":1}}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
    ],
    // OpenAI's: a passed-over string after the text (`obfuscation`) changes in every event;
    // in a logprob, too. A read or named string after it may not change.
    &[
        OPENAI_DELTA,
        r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" there"},"logprobs":null,"finish_reason":null}],"obfuscation":"x"}"#,
        r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"obfuscation":""}"#,
        r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"obfuscation":"é€"}"#,
        r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"obfuscation":"a\"b"}"#,
        r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"obfuscation":"a"b"}"#,
        r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"obfuscation":"ab","x":"y"}"#,
        r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":"stop"}],"obfuscation":"ab"}"#,
        r#"{"id":"chatcmpl-C1","object":"chat.completion.chunk","created":1760000000,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"obfuscatiom":"ab"}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5}]}}],"o":"1"}"#,
        r#"{"choices":[{"index":0,"delta":{"content":" you"},"logprobs":{"content":[{"token":" you","logprob":-0.5}]}}],"o":"22"}"#,
        r#"{"choices":[{"index":0,"delta":{"content":" you"},"logprobs":{"content":[{"token":" you","logprob":-0.25}]}}],"o":"22"}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"A"},"finish_reason":null},{"index":1,"delta":{"content":"B"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"A"},"finish_reason":null},{"index":1,"delta":{"content":"C"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"A"},"finish_reason":null},{"index":1,"delta":{"content":"C"},"finish_reason":"x"}]}"#,
    ],
    // Tool calls between text events; and events that give two texts.
    &[
        r#"{"choices":[{"index":0,"delta":{"content":"Let me check."}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":" Done."}}]}"#,
        r#"{"choices":[{"index":0,"text":"t","delta":{"content":"c"}}]}"#,
        r#"{"choices":[{"index":0,"text":"t","delta":{"content":"d"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"e"}},{"index":0,"delta":{"content":"f"}}]}"#,
    ],
];

#[test]
fn known_text_events_read_as_the_scan_reads_them() {
    let mut fast = 0;
    for stream in REPEATING {
        assert_stream_agrees(stream);
        let mut known = KnownEvents::default();
        for event in *stream {
            let scanned = scan(event.as_bytes(), Message::Delta, None);
            if let Some(choice) = known.text_event(event.as_bytes()) {
                assert_eq!(
                    Some(choice),
                    scanned.and_then(|fields| fields.zero),
                    "{event}"
                );
                fast += 1;
            } else {
                scan(event.as_bytes(), Message::Delta, Some(&mut known));
            }
        }
    }
    // Each text event after a text event of its shape: 5, 2, 4, 4 and 1 in the streams
    // above (a known shape outlives events of other shapes with the same opening members).
    assert_eq!(fast, 16);
}

#[test]
fn recorded_chat_streams_read_the_same_both_ways() {
    for (stream, scanned) in [(CHAT_TEXT, 14), (CHAT_TOOL_CALLS, 2)] {
        let events = events_of(stream);
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        assert_eq!(assert_stream_agrees(&events), scanned);
    }
}

#[test]
fn recorded_chat_streams_read_the_same_whole_in_pieces_and_event_by_event() {
    for stream in [CHAT_TEXT, CHAT_TOOL_CALLS] {
        let events = events_of(stream);
        let mut parsed = ChatStream::default();
        for event in &events {
            let mut copy = event.clone().into_bytes();
            json::read(&mut copy, |event| parsed.apply(&event)).expect("JSON");
        }
        let parsed = parsed.finish();
        for size in [1, 7, 64, stream.len()] {
            assert_eq!(
                accumulate_in_chunks(stream, size),
                parsed,
                "{size}-byte pieces"
            );
        }
        let one_per_chunk: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        let chunks: Vec<&str> = one_per_chunk.iter().map(String::as_str).collect();
        assert_eq!(accumulate(&chunks), parsed, "an event per chunk");
    }
}

#[test]
fn every_cut_and_changed_byte_reads_the_same_both_ways() {
    const CHANGES: &[u8] = b"\"{}[],:0-.e n\\x\x01\xc3";
    let mut events: Vec<String> = SCANNED.iter().map(|event| (*event).to_owned()).collect();
    events.extend(events_of(CHAT_TEXT).into_iter().take(3));
    for event in &events {
        // Each alone, and after the unchanged event (whose opening members the scan then
        // knows and does not read again).
        let original = event.as_bytes();
        for end in 0..event.len() {
            assert_event_agrees(&original[..end]);
            assert_stream_agrees(&[original, &original[..end]]);
        }
        for at in 0..event.len() {
            for &byte in CHANGES {
                let mut changed = event.clone().into_bytes();
                changed[at] = byte;
                assert_event_agrees(&changed);
                assert_stream_agrees(&[original, changed.as_slice()]);
                changed.insert(at, byte);
                assert_event_agrees(&changed);
                assert_stream_agrees(&[original, changed.as_slice()]);
            }
        }
    }
}

#[test]
fn bodies_read_the_same_both_ways() {
    let bodies = [
        r#"{"id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}"#,
        r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}},"service_tier":"default","system_fingerprint":null}"#,
        r#"{"choices":[{"index":0,"message":{"role":"assistant","content":null,"reasoning_content":"hmm","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}]}"#,
        r#"{"choices":[{"index":0,"message":{"content":"A","tool_calls":[]}},{"index":1,"message":{"content":"B"}}]}"#,
        r#"{"choices":[{"index":1,"message":{"content":"B"}},{"index":0,"message":{"content":"A"}}]}"#,
        r#"{"object":"text_completion","choices":[{"index":0,"text":"Once upon","finish_reason":"length"}]}"#,
        r#"{"choices":[{"index":0,"text":"t","message":{"content":null,"reasoning":"r"}}]}"#,
        r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0093,0.0159,-2.8e-05]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}"#,
        r#"{"error":{"message":"Invalid 'model'","type":"invalid_request_error","param":null,"code":null}}"#,
        r#"{"choices":[{"message":{"content":"caf\u00e9"}}]}"#,
        "not json",
        r#"{"choices":[{"message":{"content":"cut"#,
    ];
    for body in bodies {
        assert_body_agrees(body.as_bytes());
        for end in 1..body.len() {
            assert_body_agrees(&body.as_bytes()[..end]);
        }
    }
    assert!(scan(bodies[0].as_bytes(), Message::Whole, None).is_some());
    assert!(scan(bodies[1].as_bytes(), Message::Whole, None).is_some());
    assert!(scan(bodies[7].as_bytes(), Message::Whole, None).is_some());
}

#[test]
fn other_dialects_events_are_never_taken_for_chat() {
    for stream in OTHER_DIALECTS {
        let events = events_of(stream);
        assert!(!events.is_empty());
        for event in events {
            assert!(
                scan(event.as_bytes(), Message::Delta, None).is_none(),
                "{event}"
            );
        }
    }
}

/// The data of each event of an SSE stream (`[DONE]` left out).
fn events_of(stream: &str) -> Vec<String> {
    let mut splitter = SseSplitter::default();
    splitter.push(stream.as_bytes());
    let mut events = Vec::new();
    while let Some(data) = splitter.next_event() {
        if data != b"[DONE]" {
            events.push(String::from_utf8(data.to_vec()).expect("UTF-8"));
        }
    }
    events
}

fn assert_event_agrees(event: &[u8]) {
    let mut scanned = ChatStream::default();
    if !scanned.scan(event) {
        return;
    }
    let mut parsed = ChatStream::default();
    let mut copy = event.to_vec();
    let dialect = json::read(&mut copy, |event| {
        parsed.apply(&event);
        Dialect::of_event(&event)
    });
    let text = String::from_utf8_lossy(event);
    assert_eq!(dialect.ok(), Some(Dialect::Chat), "{text}");
    assert_rows_agree(scanned.finish(), parsed.finish(), &text);
}

/// Reads the events as the logging thread does (the scan, else simd-json) and with simd-json
/// only, checks each read gives the same row, and returns how many the scan read.
fn assert_stream_agrees<E: AsRef<[u8]>>(events: &[E]) -> usize {
    let mut mixed = ChatStream::default();
    let mut parsed = ChatStream::default();
    let mut malformed = (false, false);
    let mut scanned = 0;
    for event in events {
        let event = event.as_ref();
        let mut copy = event.to_vec();
        let read = json::read(&mut copy, |event| parsed.apply(&event));
        malformed.1 |= read.is_err();
        if mixed.scan(event) {
            let text = String::from_utf8_lossy(event);
            assert!(read.is_ok(), "scanned what simd-json refuses: {text}");
            scanned += 1;
        } else {
            let mut copy = event.to_vec();
            malformed.0 |= json::read(&mut copy, |event| mixed.apply(&event)).is_err();
        }
    }
    assert_eq!(malformed.0, malformed.1);
    let (mut mixed, mut parsed) = (mixed.finish(), parsed.finish());
    mixed.malformed = malformed.0;
    parsed.malformed = malformed.1;
    let texts: Vec<_> = events
        .iter()
        .map(|e| String::from_utf8_lossy(e.as_ref()))
        .collect();
    assert_rows_agree(mixed, parsed, &texts.join("\n"));
    scanned
}

fn assert_body_agrees(body: &[u8]) {
    let scanned = summarize_body("/v1/chat/completions", 200, body);
    let mut parsed = ResponseSummary::default();
    let mut copy = body.to_vec();
    if json::read(&mut copy, |value| read_body(&value, &mut parsed)).is_err() {
        parsed.malformed = true;
    }
    assert_rows_agree(scanned, parsed, &String::from_utf8_lossy(body));
}

/// The summaries, and the rows made of them, are equal field by field.
fn assert_rows_agree(scanned: ResponseSummary, parsed: ResponseSummary, input: &str) {
    assert_eq!(scanned, parsed, "{input}");
    let row = |summary| {
        let mut record = record("same");
        record.created_at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        record.request_body = Some(Bytes::from_static(b"{}"));
        row_of(record, summary, true)
    };
    assert_eq!(row(scanned), row(parsed), "{input}");
}
