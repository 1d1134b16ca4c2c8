use simd_json::prelude::*;

use super::super::test_support::value;
use super::super::{Decoder, Dialect, Encoder, Framing, Piece};
use super::{error_body, error_event, error_type, request, response, EventDecoder, EventEncoder};
use crate::eventstream::{frame_len, read_frame, write_frame};

/// A tool conversation as a Converse client sends it.
const CONVERSE_REQUEST: &[u8] = br#"{
  "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}, {"text": "Use tools."}],
  "messages": [
    {"role": "user", "content": [{"text": "Weather in Paris?"},
      {"image": {"format": "jpeg", "source": {"bytes": "/9j/AAAA"}}}]},
    {"role": "assistant", "content": [{"text": "Checking."},
      {"toolUse": {"toolUseId": "tooluse_1", "name": "weather", "input": {"city": "Paris"}}}]},
    {"role": "user", "content": [
      {"toolResult": {"toolUseId": "tooluse_1", "content": [{"json": {"sky": "clear"}}, {"text": " 21C"}], "status": "success"}},
      {"text": "And tomorrow?"}]}
  ],
  "inferenceConfig": {"maxTokens": 256, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
  "additionalModelRequestFields": {"top_k": 40},
  "toolConfig": {
    "tools": [{"toolSpec": {"name": "weather", "description": "Weather by city",
      "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}}}}],
    "toolChoice": {"any": {}}
  },
  "performanceConfig": {"latency": "standard"},
  "requestMetadata": {"team": "a"}
}"#;

#[test]
fn converse_request_becomes_chat() {
    let chat = value(&request::to_chat(CONVERSE_REQUEST, "claude-bedrock", true).unwrap());
    assert_eq!(chat.get_str("model"), Some("claude-bedrock"));
    assert_eq!(chat.get_bool("stream"), Some(true));
    assert_eq!(
        chat["stream_options"]["include_usage"].as_bool(),
        Some(true)
    );
    let messages = chat["messages"].as_array().unwrap();
    assert_eq!(
        messages[0]["content"].as_str(),
        Some("Be brief.\nUse tools.")
    );
    assert_eq!(
        messages[1]["content"][1]["image_url"]["url"].as_str(),
        Some("data:image/jpeg;base64,/9j/AAAA")
    );
    let call = &messages[2]["tool_calls"][0];
    assert_eq!(call["id"].as_str(), Some("tooluse_1"));
    assert_eq!(
        call["function"]["arguments"].as_str(),
        Some(r#"{"city":"Paris"}"#)
    );
    assert_eq!(messages[3].get_str("role"), Some("tool"));
    assert_eq!(messages[3].get_str("tool_call_id"), Some("tooluse_1"));
    assert_eq!(
        messages[3].get_str("content"),
        Some(r#"{"sky":"clear"} 21C"#)
    );
    assert_eq!(
        messages[4]["content"][0]["text"].as_str(),
        Some("And tomorrow?")
    );
    assert_eq!(messages.len(), 5);
    assert_eq!(chat.get_u64("max_tokens"), Some(256));
    assert_eq!(chat.get_f64("top_p"), Some(0.9));
    assert_eq!(chat["stop"][0].as_str(), Some("END"));
    assert_eq!(chat.get_u64("top_k"), Some(40));
    assert_eq!(chat.get_str("tool_choice"), Some("required"));
    assert_eq!(
        chat["tools"][0]["function"]["parameters"]["properties"]["city"]["type"].as_str(),
        Some("string")
    );
    assert!(chat.get("performanceConfig").is_none() && chat.get("requestMetadata").is_none());
}

#[test]
fn chat_request_becomes_converse() {
    let body = br#"{"model":"gpt","stream":true,"messages":[
        {"role":"system","content":"S"},{"role":"developer","content":[{"type":"text","text":"D"}]},
        {"role":"user","content":[{"type":"text","text":"Q"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBO"}}]},
        {"role":"assistant","content":null,"tool_calls":[
          {"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
          {"id":"c2","type":"function","function":{"name":"f","arguments":"{\"a\":2}"}}]},
        {"role":"tool","tool_call_id":"c1","content":"R1"},{"role":"tool","tool_call_id":"c2","content":"R2"},
        {"role":"user","content":"more"}],
        "max_completion_tokens":50,"temperature":0,"stop":"X","top_k":5,"presence_penalty":0,
        "tools":[{"type":"function","function":{"name":"f","description":"F","parameters":{"type":"object"}}}],
        "tool_choice":{"type":"function","function":{"name":"f"}},
        "response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"}}}}"#;
    let converse = value(&request::from_chat(body).unwrap());
    assert!(converse.get("model").is_none() && converse.get("stream").is_none());
    assert_eq!(converse["system"][0]["text"].as_str(), Some("S"));
    assert_eq!(converse["system"][1]["text"].as_str(), Some("D"));
    let messages = converse["messages"].as_array().unwrap();
    assert_eq!(
        messages[0]["content"][1]["image"]["format"].as_str(),
        Some("png")
    );
    assert_eq!(
        messages[0]["content"][1]["image"]["source"]["bytes"].as_str(),
        Some("iVBO")
    );
    assert_eq!(
        messages[1]["content"][1]["toolUse"]["input"]["a"].as_u64(),
        Some(2)
    );
    // Both results and the next question in one user turn: Converse alternates roles.
    assert_eq!(messages.len(), 3);
    let results = messages[2]["content"].as_array().unwrap();
    assert_eq!(results[1]["toolResult"]["toolUseId"].as_str(), Some("c2"));
    assert_eq!(
        results[1]["toolResult"]["content"][0]["text"].as_str(),
        Some("R2")
    );
    assert_eq!(results[2]["text"].as_str(), Some("more"));
    let inference = &converse["inferenceConfig"];
    assert_eq!(inference["maxTokens"].as_u64(), Some(50));
    assert_eq!(inference["temperature"].as_u64(), Some(0));
    assert_eq!(inference["stopSequences"][0].as_str(), Some("X"));
    assert_eq!(
        converse["additionalModelRequestFields"]["top_k"].as_u64(),
        Some(5)
    );
    assert_eq!(
        converse["toolConfig"]["toolChoice"]["tool"]["name"].as_str(),
        Some("f")
    );
    assert_eq!(
        converse["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["type"].as_str(),
        Some("object")
    );
    let format = &converse["outputConfig"]["textFormat"];
    assert_eq!(
        format["structure"]["jsonSchema"]["schema"].as_str(),
        Some(r#"{"type":"object"}"#)
    );
}

#[test]
fn requests_round_trip_through_chat() {
    let chat = request::to_chat(CONVERSE_REQUEST, "m", false).unwrap();
    let again = value(&request::from_chat(&chat).unwrap());
    let original = value(CONVERSE_REQUEST);
    // Chat tool results are text: the `json` block comes back as text, without `status`.
    let mut messages = original["messages"].clone();
    messages[2]["content"][0]["toolResult"] = simd_json::json!({
        "toolUseId": "tooluse_1",
        "content": [{"text": r#"{"sky":"clear"} 21C"#}],
    });
    assert_eq!(again["messages"], messages);
    for key in [
        "inferenceConfig",
        "toolConfig",
        "additionalModelRequestFields",
    ] {
        assert_eq!(again[key], original[key], "{key}");
    }
}

#[test]
fn untranslatable_fields_are_named() {
    for (body, field) in [
        (
            r#"{"messages":[],"guardrailConfig":{"guardrailIdentifier":"g"}}"#,
            "'guardrailConfig'",
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"document":{"format":"pdf","name":"d","source":{"bytes":"AA"}}}]}]}"#,
            "'messages[0].content[0]' is a document block",
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"s3Location":{"uri":"s3://b/k"}}}}]}]}"#,
            "'messages[0].content[0].image.source'",
        ),
        (
            r#"{"messages":[],"additionalModelRequestFields":{"thinking":{"type":"enabled"}}}"#,
            "'additionalModelRequestFields.thinking'",
        ),
        (
            r#"{"messages":[],"toolConfig":{"tools":[{"systemTool":{"name":"nova_grounding"}}]}}"#,
            "'toolConfig.tools[0]' is a systemTool",
        ),
    ] {
        let error = request::to_chat(body.as_bytes(), "m", false).unwrap_err();
        assert!(error.0.starts_with(field), "{body}: {}", error.0);
    }
    for (body, field) in [
        (r#"{"messages":[],"logprobs":true}"#, "'logprobs'"),
        (r#"{"messages":[],"n":2}"#, "'n'"),
        (
            r#"{"messages":[],"presence_penalty":0.5}"#,
            "'presence_penalty'",
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"#,
            "'messages[0].content[0].image_url' must be a base64 data: URL",
        ),
        (
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}]}]}"#,
            "'messages[0].content[0].image_url' is image/bmp",
        ),
        (
            r#"{"messages":[],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"}"#,
            "'tool_choice' none",
        ),
        (
            r#"{"messages":[],"response_format":{"type":"json_object"}}"#,
            "'response_format' json_object",
        ),
    ] {
        let error = request::from_chat(body.as_bytes()).unwrap_err();
        assert!(error.0.starts_with(field), "{body}: {}", error.0);
    }
}

#[test]
fn whole_answers_round_trip() {
    let answer = br#"{"output":{"message":{"role":"assistant","content":[
        {"reasoningContent":{"reasoningText":{"text":"Think.","signature":"s"}}},
        {"text":"Calling."},{"toolUse":{"toolUseId":"tooluse_9","name":"weather","input":{"city":"Oslo"}}}]}},
        "stopReason":"tool_use",
        "usage":{"inputTokens":10,"outputTokens":5,"totalTokens":35,"cacheReadInputTokens":20},
        "metrics":{"latencyMs":321}}"#;
    let chat = value(&response::answer_to_chat(answer, "nova").unwrap());
    assert_eq!(chat.get_str("model"), Some("nova"));
    assert_eq!(chat.get_str("object"), Some("chat.completion"));
    let choice = &chat["choices"][0];
    assert_eq!(choice["finish_reason"].as_str(), Some("tool_calls"));
    assert_eq!(choice["message"]["content"].as_str(), Some("Calling."));
    assert_eq!(
        choice["message"]["reasoning_content"].as_str(),
        Some("Think.")
    );
    assert_eq!(chat["usage"]["prompt_tokens"].as_u64(), Some(30));
    assert_eq!(chat["usage"]["total_tokens"].as_u64(), Some(35));

    let back = value(&response::answer_from_chat(&chat.encode().into_bytes()).unwrap());
    assert_eq!(back["stopReason"].as_str(), Some("tool_use"));
    let content = back["output"]["message"]["content"].as_array().unwrap();
    assert_eq!(
        content[0]["reasoningContent"]["reasoningText"]["text"].as_str(),
        Some("Think.")
    );
    assert_eq!(content[1]["text"].as_str(), Some("Calling."));
    assert_eq!(
        content[2]["toolUse"]["input"]["city"].as_str(),
        Some("Oslo")
    );
    assert_eq!(back["usage"]["inputTokens"].as_u64(), Some(30));
    assert_eq!(back["usage"]["totalTokens"].as_u64(), Some(35));

    let stopped = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"stop","stop_reason":"END"}]}"#;
    let answer = value(&response::answer_from_chat(stopped).unwrap());
    assert_eq!(answer["stopReason"].as_str(), Some("stop_sequence"));
    assert!(response::answer_to_chat(b"not json", "m").is_none());
}

#[test]
fn errors_change_shape() {
    assert_eq!(error_type(429), "ThrottlingException");
    assert_eq!(error_type(400), "ValidationException");
    assert_eq!(error_type(504), "ModelTimeoutException");
    assert_eq!(error_body(400, "bad \"x\""), r#"{"message":"bad \"x\""}"#);

    let chat = value(&response::error_to_chat(
        br#"{"message":"Too many requests, please wait before trying again."}"#,
    ));
    assert_eq!(
        chat["error"]["message"].as_str(),
        Some("Too many requests, please wait before trying again.")
    );
    let typed = value(&response::error_to_chat(
        br#"{"__type":"com.amazon.coral.validate#ValidationException","message":"m"}"#,
    ));
    assert_eq!(typed["error"]["type"].as_str(), Some("ValidationException"));

    let converse = response::error_from_chat(
        429,
        br#"{"error":{"message":"slow down","type":"rate_limit"}}"#,
    );
    assert_eq!(converse, br#"{"message":"slow down"}"#);

    let frame = error_event(429, "slow down");
    assert_eq!(frame_len(&frame), Some(frame.len()));
    let read = read_frame(&frame).unwrap();
    assert_eq!(read.message_type, Some("exception"));
    assert_eq!(read.exception_type, Some("throttlingException"));
    assert_eq!(read.payload, br#"{"message":"slow down"}"#);
    let mut pieces = Vec::new();
    EventDecoder::default().decode(&frame, &mut pieces);
    assert_eq!(pieces, vec![Piece::Error("slow down".to_string())]);
}

/// A ConverseStream as Bedrock sends it (with its `p` padding): text, then a tool call.
fn upstream_stream() -> Vec<Vec<u8>> {
    let events: &[(&str, &str)] = &[
        (
            "messageStart",
            r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0","role":"assistant"}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Let me"},"p":"abcdefghijk"}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":" check."},"p":"abcdef"}"#,
        ),
        (
            "contentBlockStop",
            r#"{"contentBlockIndex":0,"p":"abcdefghijklmnopq"}"#,
        ),
        (
            "contentBlockStart",
            r#"{"contentBlockIndex":1,"p":"abc","start":{"toolUse":{"name":"weather","toolUseId":"tooluse_Q1"}}}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"city\":"}},"p":"ab"}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"\"Paris\"}"}},"p":"abcd"}"#,
        ),
        (
            "contentBlockStop",
            r#"{"contentBlockIndex":1,"p":"abcdefgh"}"#,
        ),
        (
            "messageStop",
            r#"{"p":"abcdefghijklmnopqrstuvwxyzABCDEFGH","stopReason":"tool_use"}"#,
        ),
        (
            "metadata",
            r#"{"metrics":{"latencyMs":812},"p":"abc","usage":{"inputTokens":402,"outputTokens":61,"totalTokens":463}}"#,
        ),
    ];
    events
        .iter()
        .map(|(name, data)| {
            let mut frame = Vec::new();
            let headers = [
                (":event-type", *name),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ];
            write_frame(&mut frame, &headers, data.as_bytes());
            frame
        })
        .collect()
}

fn decode_all(frames: &[Vec<u8>]) -> Vec<Piece> {
    let mut decoder = EventDecoder::default();
    let mut pieces = Vec::new();
    for frame in frames {
        decoder.decode(frame, &mut pieces);
    }
    pieces
}

#[test]
fn converse_stream_becomes_chat_chunks() {
    let pieces = decode_all(&upstream_stream());
    let Piece::Start { model, id, .. } = &pieces[0] else {
        panic!("starts with Start: {pieces:?}");
    };
    assert_eq!(
        model, "",
        "Converse never names the model: the translator fills it in"
    );
    assert!(id.starts_with("chatcmpl-bedrock-"));
    assert_eq!(
        pieces[1..],
        [
            Piece::Text("Let me".into()),
            Piece::Text(" check.".into()),
            Piece::ToolCall {
                index: 0,
                id: Some("tooluse_Q1".into()),
                name: Some("weather".into()),
                arguments: String::new()
            },
            Piece::ToolCall {
                index: 0,
                id: None,
                name: None,
                arguments: r#"{"city":"#.into()
            },
            Piece::ToolCall {
                index: 0,
                id: None,
                name: None,
                arguments: r#""Paris"}"#.into()
            },
            Piece::Finish {
                reason: "tool_calls".into(),
                stop_sequence: None
            },
            Piece::Usage {
                input: 402,
                output: 61
            },
            Piece::Done,
        ]
    );
    let mut encoder = Encoder::new(Dialect::Chat, false, Framing::Sse);
    let mut chunks = Vec::new();
    for piece in &pieces {
        encoder.encode(piece, &mut chunks);
    }
    let chunks = String::from_utf8(chunks).unwrap();
    assert!(
        chunks.contains(r#""finish_reason":"tool_calls""#),
        "{chunks}"
    );
    assert!(chunks.contains(r#""prompt_tokens":402"#));
    assert!(chunks.ends_with("data: [DONE]\n\n"));
}

/// Splits a byte stream into frames the way the stream framing does.
fn frames_of(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while let Some(len) = frame_len(bytes) {
        frames.push(bytes[..len].to_vec());
        bytes = &bytes[len..];
    }
    assert!(bytes.is_empty(), "a whole number of frames");
    frames
}

#[test]
fn pieces_become_a_converse_stream_and_back() {
    let pieces = decode_all(&upstream_stream());
    let mut encoder = EventEncoder::default();
    let mut bytes = Vec::new();
    for piece in &pieces {
        encoder.encode(piece, &mut bytes);
    }
    encoder.encode(&Piece::Done, &mut bytes);
    let frames = frames_of(&bytes);
    let kinds: Vec<&str> = frames
        .iter()
        .map(|f| read_frame(f).unwrap().event_type.unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "contentBlockStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata",
        ]
    );
    let start = read_frame(&frames[4]).unwrap();
    assert_eq!(start.content_type, Some("application/json"));
    assert_eq!(
        start.payload,
        br#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"tooluse_Q1","name":"weather"}}}"#
    );
    // Decoding what we wrote gives the same pieces (the Start's id is made anew).
    let again = decode_all(&frames);
    assert_eq!(again[1..], pieces[1..]);
}

/// An Anthropic stream (usage after the stop reason, in one event) to a Converse client.
#[test]
fn anthropic_stream_becomes_converse_frames() {
    let events = [
        r#"{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":12,"output_tokens":1}}}"#,
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm."}}"#,
        r#"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
        r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"END"},"usage":{"output_tokens":7}}"#,
        r#"{"type":"message_stop"}"#,
    ];
    let mut decoder = Decoder::new(Dialect::Anthropic);
    let mut encoder = EventEncoder::default();
    let mut bytes = Vec::new();
    let mut pieces = Vec::new();
    for event in events {
        pieces.clear();
        decoder.decode(event.as_bytes(), &mut pieces);
        for piece in &pieces {
            encoder.encode(piece, &mut bytes);
        }
    }
    let frames = frames_of(&bytes);
    let payloads: Vec<(String, String)> = frames
        .iter()
        .map(|f| {
            let frame = read_frame(f).unwrap();
            (
                frame.event_type.unwrap().to_string(),
                String::from_utf8(frame.payload.to_vec()).unwrap(),
            )
        })
        .collect();
    let expected = [
        ("messageStart", r#"{"role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"Hmm."}}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"text":"Hi"}}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":1}"#),
        (
            "messageStop",
            r#"{"stopReason":"stop_sequence","additionalModelResponseFields":{"stop_sequence":"END"}}"#,
        ),
    ];
    for (at, (kind, payload)) in expected.iter().enumerate() {
        assert_eq!(
            (payloads[at].0.as_str(), payloads[at].1.as_str()),
            (*kind, *payload)
        );
    }
    let (kind, metadata) = &payloads[expected.len()];
    assert_eq!(kind, "metadata");
    assert!(
        metadata.starts_with(r#"{"usage":{"inputTokens":12,"outputTokens":7,"totalTokens":19},"metrics":{"latencyMs":"#),
        "{metadata}"
    );
    assert_eq!(payloads.len(), expected.len() + 1);
}

#[test]
fn an_error_ends_the_stream() {
    let mut encoder = EventEncoder::default();
    let mut bytes = Vec::new();
    encoder.encode(&Piece::Text("partial".into()), &mut bytes);
    encoder.encode(&Piece::Error("upstream went away".into()), &mut bytes);
    encoder.encode(&Piece::Done, &mut bytes);
    let frames = frames_of(&bytes);
    let last = read_frame(frames.last().unwrap()).unwrap();
    assert_eq!(last.message_type, Some("exception"));
    assert_eq!(last.exception_type, Some("modelStreamErrorException"));
    assert_eq!(frames.len(), 3, "messageStart, the delta, the exception");

    let mut pieces = Vec::new();
    let mut broken = frames[1].clone();
    broken[20] ^= 0x20;
    EventDecoder::default().decode(&broken, &mut pieces);
    assert_eq!(
        pieces,
        [Piece::Error(
            "event-stream message checksum mismatch".to_string()
        )]
    );
}

#[test]
fn metadata_counts_the_start_input_without_a_usage_piece() {
    let mut encoder = EventEncoder::default();
    let mut bytes = Vec::new();
    let start = Piece::Start {
        id: "msg_1".into(),
        model: "m".into(),
        created: 0,
        input_tokens: Some(9),
    };
    for piece in [start, Piece::Text("Hi".into()), Piece::Done, Piece::Done] {
        encoder.encode(&piece, &mut bytes);
    }
    let frames = frames_of(&bytes);
    let kinds: Vec<&str> = frames
        .iter()
        .map(|f| read_frame(f).unwrap().event_type.unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ],
        "Done is idempotent"
    );
    let metadata = read_frame(&frames[4]).unwrap().payload;
    assert!(metadata.starts_with(br#"{"usage":{"inputTokens":9,"outputTokens":0,"totalTokens":9}"#));
    assert_eq!(
        read_frame(&frames[3]).unwrap().payload,
        br#"{"stopReason":"end_turn"}"#
    );
}
