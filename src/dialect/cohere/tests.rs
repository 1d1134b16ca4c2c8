use simd_json::prelude::*;

use super::super::test_support::{decode, encode, payloads, value};
use super::super::{Dialect, Piece};
use super::request::{from_chat, to_chat};
use super::response::{answer_from_chat, answer_to_chat, error_from_chat, error_to_chat};
use super::{error_body, error_event, finish_from_cohere, finish_to_cohere};

// === requests ===

const COHERE_REQUEST: &[u8] = br#"{"model":"command-a-03-2025","stream":false,
    "messages":[
      {"role":"system","content":[{"type":"text","text":"Be "},{"type":"text","text":"brief."}]},
      {"role":"user","content":[{"type":"text","text":"Weather here?"},
         {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]},
      {"role":"assistant","tool_plan":"I will look it up.","tool_calls":[
         {"id":"w_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},
      {"role":"tool","tool_call_id":"w_1","content":[{"type":"document","document":{"data":{"sky":"clear"},"id":"d1"}},
         {"type":"text","text":"20C"}]},
      {"role":"assistant","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Clear, 20C."}]},
      {"role":"user","content":"Thanks"}],
    "tools":[{"type":"function","function":{"name":"weather","description":"Weather","parameters":{"type":"object"}}}],
    "strict_tools":true,"tool_choice":"REQUIRED","max_tokens":50,"temperature":0.2,"p":0.9,"k":40,
    "stop_sequences":["END"],"seed":7,"frequency_penalty":0.1,"safety_mode":"CONTEXTUAL","priority":1,
    "citation_options":{"mode":"FAST"},
    "response_format":{"type":"json_object","json_schema":{"type":"object"}}}"#;

#[test]
fn cohere_request_becomes_chat() {
    let chat = value(&to_chat(COHERE_REQUEST, "gpt-4o", true).expect("translates"));
    assert_eq!(
        chat.get_str("model"),
        Some("gpt-4o"),
        "the model comes from the route"
    );
    assert_eq!(
        chat.get_bool("stream"),
        Some(true),
        "streaming comes from the route"
    );
    let messages = chat["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 6);
    assert_eq!(messages[0].get_str("content"), Some("Be brief."));
    assert_eq!(
        messages[1]["content"][1]["image_url"]["url"].as_str(),
        Some("data:image/png;base64,AAAA")
    );
    assert_eq!(
        messages[1]["content"][1]["image_url"]["detail"].as_str(),
        Some("low")
    );
    assert_eq!(messages[2].get_str("content"), Some("I will look it up."));
    assert_eq!(
        messages[2]["tool_calls"][0]["function"]["arguments"].as_str(),
        Some(r#"{"city":"Paris"}"#)
    );
    assert_eq!(messages[3].get_str("role"), Some("tool"));
    assert_eq!(messages[3].get_str("tool_call_id"), Some("w_1"));
    assert_eq!(
        messages[3].get_str("content"),
        Some("{\"sky\":\"clear\"}\n20C")
    );
    assert_eq!(
        messages[4].get_str("content"),
        Some("Clear, 20C."),
        "thinking is dropped"
    );
    assert_eq!(messages[5].get_str("content"), Some("Thanks"));
    assert_eq!(chat["tools"][0]["function"]["strict"].as_bool(), Some(true));
    assert_eq!(chat.get_str("tool_choice"), Some("required"));
    assert_eq!(chat.get_u64("max_tokens"), Some(50));
    assert_eq!(chat.get_f64("top_p"), Some(0.9));
    assert_eq!(chat.get_u64("top_k"), Some(40));
    assert_eq!(chat["stop"][0].as_str(), Some("END"));
    assert_eq!(chat.get_u64("seed"), Some(7));
    assert_eq!(
        chat["response_format"]["type"].as_str(),
        Some("json_schema")
    );
    assert_eq!(
        chat["response_format"]["json_schema"]["schema"]["type"].as_str(),
        Some("object")
    );
    for dropped in [
        "safety_mode",
        "priority",
        "citation_options",
        "p",
        "k",
        "strict_tools",
    ] {
        assert!(chat.get(dropped).is_none(), "{dropped} has no chat field");
    }
}

const CHAT_REQUEST: &[u8] = br#"{"model":"command-r","stream":true,"stream_options":{"include_usage":true},
    "messages":[{"role":"system","content":"S"},{"role":"developer","content":[{"type":"text","text":"D"}]},
      {"role":"user","content":[{"type":"text","text":"Q"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},
      {"role":"assistant","content":"Checking.","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
      {"role":"tool","tool_call_id":"c1","content":"R1"},
      {"role":"assistant","content":"Done."}],
    "stop":"X","top_p":0.5,"max_completion_tokens":64,"user":"u1","reasoning_effort":"none",
    "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"},"strict":true}},
             {"type":"function","function":{"name":"g","description":"G","strict":true}}],
    "tool_choice":{"type":"function","function":{"name":"g"}},
    "response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"}}}}"#;

#[test]
fn chat_request_becomes_cohere() {
    let cohere = value(&from_chat(CHAT_REQUEST).expect("translates"));
    assert_eq!(cohere.get_str("model"), Some("command-r"));
    assert_eq!(cohere.get_bool("stream"), Some(true));
    let messages = cohere["messages"].as_array().expect("messages");
    assert_eq!(messages[0].get_str("role"), Some("system"));
    assert_eq!(messages[1].get_str("content"), Some("D"));
    assert_eq!(
        messages[2]["content"][1]["image_url"]["url"].as_str(),
        Some("https://x/y.png"),
        "Cohere takes web image URLs"
    );
    assert_eq!(messages[3].get_str("tool_plan"), Some("Checking."));
    assert!(messages[3].get("content").is_none());
    assert_eq!(messages[3]["tool_calls"][0]["id"].as_str(), Some("c1"));
    assert_eq!(messages[4].get_str("content"), Some("R1"));
    assert_eq!(messages[5].get_str("content"), Some("Done."));
    assert_eq!(cohere["stop_sequences"][0].as_str(), Some("X"));
    assert_eq!(cohere.get_f64("p"), Some(0.5));
    assert_eq!(cohere.get_u64("max_tokens"), Some(64));
    assert_eq!(cohere["thinking"]["type"].as_str(), Some("disabled"));
    let tools = cohere["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 1, "a named tool choice offers that tool alone");
    assert_eq!(tools[0]["function"]["name"].as_str(), Some("g"));
    assert_eq!(
        tools[0]["function"]["parameters"]["type"].as_str(),
        Some("object")
    );
    assert_eq!(cohere.get_str("tool_choice"), Some("REQUIRED"));
    assert_eq!(cohere.get_bool("strict_tools"), Some(true));
    assert_eq!(
        cohere["response_format"]["type"].as_str(),
        Some("json_object")
    );
    assert_eq!(
        cohere["response_format"]["json_schema"]["type"].as_str(),
        Some("object")
    );
    for dropped in ["user", "stream_options", "top_p", "stop"] {
        assert!(
            cohere.get(dropped).is_none(),
            "{dropped} has no Cohere field"
        );
    }
}

#[test]
fn a_tool_conversation_survives_the_round_trip() {
    let chat = br#"{"model":"m","messages":[{"role":"user","content":"Hi"},
        {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}},
           {"id":"c2","type":"function","function":{"name":"f","arguments":"{\"b\":2}"}}]},
        {"role":"tool","tool_call_id":"c1","content":"one"},{"role":"tool","tool_call_id":"c2","content":"two"}],
        "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"none",
        "temperature":0.3,"max_tokens":9}"#;
    let cohere = from_chat(chat).expect("to Cohere");
    assert_eq!(value(&cohere).get_str("tool_choice"), Some("NONE"));
    let back = value(&to_chat(&cohere, "m", false).expect("back to chat"));
    let original = value(chat);
    assert_eq!(back["messages"], original["messages"].clone().tap_content());
    assert_eq!(back["tools"], original["tools"]);
    assert_eq!(back.get_str("tool_choice"), Some("none"));
    assert_eq!(back.get_f64("temperature"), Some(0.3));
    assert_eq!(back.get_u64("max_tokens"), Some(9));
}

/// Chat's `"content": null` beside tool calls comes back as an empty string.
trait TapContent {
    fn tap_content(self) -> Self;
}

impl TapContent for simd_json::OwnedValue {
    fn tap_content(mut self) -> Self {
        for message in self.as_array_mut().into_iter().flatten() {
            if message.get("content").is_some_and(|c| c.is_null()) {
                if let Some(fields) = message.as_object_mut() {
                    fields.insert("content".into(), "".into());
                }
            }
        }
        self
    }
}

#[test]
fn untranslatable_fields_are_named() {
    let refusals: [(&[u8], &str); 7] = [
        (br#"{"messages":[],"documents":["d"]}"#, "'documents'"),
        (br#"{"messages":[],"logprobs":true}"#, "'logprobs'"),
        (br#"{"messages":[],"safety_mode":"STRICT"}"#, "'safety_mode'"),
        (br#"{"messages":[],"tool_choice":"AUTO"}"#, "'tool_choice'"),
        (br#"{"messages":[],"thinking":{"type":"enabled","token_budget":100}}"#, "'thinking'"),
        (
            br#"{"messages":[{"role":"user","content":[{"type":"document","document":{"data":{}}}]}]}"#,
            "'messages[0].content[0]' is a document block",
        ),
        (br#"{"messages":[{"role":"chatbot","content":"x"}]}"#, "'messages[0].role'"),
    ];
    for (body, field) in refusals {
        let refused = to_chat(body, "m", false).unwrap_err();
        assert!(refused.0.contains(field), "{}", refused.0);
    }
    let refusals: [(&[u8], &str); 6] = [
        (br#"{"messages":[],"n":2}"#, "'n'"),
        (br#"{"messages":[],"logit_bias":{"1":2}}"#, "'logit_bias'"),
        (br#"{"messages":[],"parallel_tool_calls":false}"#, "'parallel_tool_calls'"),
        (
            br#"{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#,
            "'messages[0].content[0]' is a input_audio block",
        ),
        (
            br#"{"messages":[],"tools":[{"type":"function","function":{"name":"a","strict":true}},{"type":"function","function":{"name":"b"}}]}"#,
            "'tools[].function.strict'",
        ),
        (
            br#"{"messages":[],"tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":{"type":"function","function":{"name":"z"}}}"#,
            "'tool_choice'",
        ),
    ];
    for (body, field) in refusals {
        let refused = from_chat(body).unwrap_err();
        assert!(refused.0.contains(field), "{}", refused.0);
    }
}

// === answers and errors ===

#[test]
fn whole_answers_change_shape_both_ways() {
    let cohere = br#"{"id":"a1","finish_reason":"TOOL_CALL","message":{"role":"assistant",
        "tool_plan":"Let me check.","tool_calls":[{"id":"w_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Oslo\"}"}}],
        "citations":[]},
        "usage":{"billed_units":{"input_tokens":5,"output_tokens":7},"tokens":{"input_tokens":70.0,"output_tokens":9},"cached_tokens":64}}"#;
    let chat = value(&answer_to_chat(cohere, "command-a").expect("an answer"));
    let choice = &chat["choices"][0];
    assert_eq!(chat.get_str("model"), Some("command-a"));
    assert_eq!(chat.get_str("id"), Some("a1"));
    assert_eq!(choice["finish_reason"].as_str(), Some("tool_calls"));
    assert_eq!(choice["message"]["content"].as_str(), Some("Let me check."));
    assert_eq!(
        choice["message"]["tool_calls"][0]["function"]["arguments"].as_str(),
        Some(r#"{"city":"Oslo"}"#)
    );
    assert_eq!(
        chat["usage"]["prompt_tokens"].as_u64(),
        Some(70),
        "tokens, not billed units"
    );
    assert_eq!(chat["usage"]["completion_tokens"].as_u64(), Some(9));
    assert_eq!(
        chat["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64(),
        Some(64)
    );

    let back = value(&answer_from_chat(&chat.encode().into_bytes()).expect("a completion"));
    assert_eq!(back.get_str("finish_reason"), Some("TOOL_CALL"));
    assert_eq!(back["message"]["tool_plan"].as_str(), Some("Let me check."));
    assert_eq!(back["message"]["tool_calls"][0]["id"].as_str(), Some("w_1"));
    assert!(back["message"].get("content").is_none());
    assert_eq!(back["usage"]["tokens"]["input_tokens"].as_u64(), Some(70));
    assert_eq!(
        back["usage"]["billed_units"]["output_tokens"].as_u64(),
        Some(9)
    );

    let chat = br#"{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,
        "message":{"role":"assistant","content":"Hi","reasoning_content":"think"},"finish_reason":"stop","stop_reason":"END"}],
        "usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#;
    let cohere = value(&answer_from_chat(chat).expect("a completion"));
    assert_eq!(cohere.get_str("finish_reason"), Some("STOP_SEQUENCE"));
    assert_eq!(
        cohere["message"]["content"][0]["thinking"].as_str(),
        Some("think")
    );
    assert_eq!(cohere["message"]["content"][1]["text"].as_str(), Some("Hi"));
    let back = value(&answer_to_chat(&cohere.encode().into_bytes(), "m").expect("an answer"));
    assert_eq!(
        back["choices"][0]["message"]["reasoning_content"].as_str(),
        Some("think")
    );
    assert_eq!(
        back["choices"][0]["message"]["content"].as_str(),
        Some("Hi")
    );
    assert_eq!(back["usage"]["total_tokens"].as_u64(), Some(4));
    assert!(answer_to_chat(b"not json", "m").is_none());
}

#[test]
fn finish_reasons_map_both_ways() {
    for (chat, cohere) in [
        ("stop", "COMPLETE"),
        ("length", "MAX_TOKENS"),
        ("tool_calls", "TOOL_CALL"),
        ("content_filter", "ERROR"),
    ] {
        assert_eq!(finish_to_cohere(chat), cohere);
        assert_eq!(finish_from_cohere(cohere), chat);
    }
    assert_eq!(finish_from_cohere("STOP_SEQUENCE"), "stop");
    assert_eq!(finish_from_cohere("TIMEOUT"), "length");
}

#[test]
fn errors_change_shape() {
    let cohere = value(&error_from_chat(
        429,
        br#"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#,
    ));
    assert_eq!(cohere.get_str("message"), Some("slow down"));
    let chat = value(&error_to_chat(
        br#"{"id":"5d3c","message":"invalid request: \"p\" too high"}"#,
    ));
    assert_eq!(
        chat["error"]["message"].as_str(),
        Some(r#"invalid request: "p" too high"#)
    );
    assert_eq!(chat["error"]["type"].as_str(), Some("upstream_error"));
    let chat = value(&error_to_chat(b"upstream connect error"));
    assert_eq!(
        chat["error"]["message"].as_str(),
        Some("upstream connect error")
    );
    assert_eq!(
        value(error_body(400, "bad \"x\"").as_bytes()).get_str("message"),
        Some("bad \"x\"")
    );
}

// === streams ===

/// Cohere's stream for a turn that thinks, plans, calls two tools and stops.
const COHERE_STREAM: &str = concat!(
    "event: message-start\ndata: {\"id\":\"9a1e\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}\n\n",
    "event: content-start\ndata: {\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"thinking\",\"thinking\":\"\"}}}}\n\n",
    "event: content-delta\ndata: {\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"thinking\":\"Two cities.\"}}}}\n\n",
    "event: content-end\ndata: {\"type\":\"content-end\",\"index\":0}\n\n",
    "event: tool-plan-delta\ndata: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"I will \\\"check\\\"\"}}}\n\n",
    "event: tool-plan-delta\ndata: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\" both.\"}}}\n\n",
    "event: tool-call-start\ndata: {\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"weather_1\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}}}}\n\n",
    "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{\\\"city\\\":\"}}}}}\n\n",
    "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"\\\"Oslo\\\"}\"}}}}}\n\n",
    "event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":0}\n\n",
    "event: tool-call-start\ndata: {\"type\":\"tool-call-start\",\"index\":1,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"weather_2\",\"type\":\"function\",\"function\":{\"name\":\"weather\",\"arguments\":\"\"}}}}}\n\n",
    "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":1,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}}}}}\n\n",
    "event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":1}\n\n",
    "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\",\"usage\":{\"billed_units\":{\"input_tokens\":50,\"output_tokens\":26},\"tokens\":{\"input_tokens\":793,\"output_tokens\":61},\"cached_tokens\":176}}}\n\n",
);

fn tool_piece(index: usize, id: Option<&str>, arguments: &str) -> Piece {
    Piece::ToolCall {
        index,
        id: id.map(str::to_string),
        name: id.map(|_| "weather".to_string()),
        arguments: arguments.to_string(),
    }
}

#[test]
fn cohere_stream_decodes_into_pieces() {
    let pieces = decode(Dialect::Cohere, COHERE_STREAM);
    assert!(matches!(&pieces[0], Piece::Start { id, .. } if id == "9a1e"));
    assert_eq!(
        pieces[1..],
        [
            Piece::Reasoning("Two cities.".into()),
            Piece::Text("I will \"check\"".into()),
            Piece::Text(" both.".into()),
            tool_piece(0, Some("weather_1"), ""),
            tool_piece(0, None, "{\"city\":"),
            tool_piece(0, None, "\"Oslo\"}"),
            tool_piece(1, Some("weather_2"), ""),
            tool_piece(1, None, "{\"city\":\"Rome\"}"),
            Piece::Finish {
                reason: "tool_calls".into(),
                stop_sequence: None
            },
            Piece::Usage {
                input: 793,
                output: 61
            },
            Piece::Done,
        ]
    );
}

#[test]
fn cohere_stream_re_encodes_as_cohere_writes_it() {
    let pieces = decode(Dialect::Cohere, COHERE_STREAM);
    let encoded = encode(Dialect::Cohere, &pieces);
    let names: Vec<&str> = encoded
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        [
            "message-start",
            "content-start",
            "content-delta",
            "content-end",
            "content-start",
            "content-delta",
            "content-delta",
            "content-end",
            "tool-call-start",
            "tool-call-delta",
            "tool-call-delta",
            "tool-call-end",
            "tool-call-start",
            "tool-call-delta",
            "tool-call-end",
            "message-end",
        ]
    );
    for (event, payload) in encoded.split("\n\n").zip(payloads(&encoded)) {
        let data = value(payload.as_bytes());
        let name = event.lines().next().and_then(|l| l.strip_prefix("event: "));
        assert_eq!(
            data.get_str("type"),
            name,
            "the event line names the data's type"
        );
    }
    assert_eq!(
        payloads(&encoded)[0],
        r#"{"id":"9a1e","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}"#
    );
    assert!(encoded.ends_with("data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\",\"usage\":{\"billed_units\":{\"input_tokens\":793,\"output_tokens\":61},\"tokens\":{\"input_tokens\":793,\"output_tokens\":61}}}}\n\n"));
    let again = decode(Dialect::Cohere, &encoded);
    assert_eq!(
        again[1..],
        pieces[1..],
        "re-encoding loses nothing but the start's clock"
    );
}

#[test]
fn cohere_stream_becomes_chat_chunks_and_chat_becomes_cohere() {
    let chat = encode(Dialect::Chat, &decode(Dialect::Cohere, COHERE_STREAM));
    assert!(
        chat.contains(r#""delta":{"reasoning_content":"Two cities."}"#),
        "{chat}"
    );
    assert!(
        chat.contains(r#""tool_calls":[{"index":1,"id":"weather_2","type":"function""#),
        "{chat}"
    );
    assert!(chat.contains(r#""finish_reason":"tool_calls""#), "{chat}");
    assert!(
        chat.contains(r#""prompt_tokens":793,"completion_tokens":61"#),
        "{chat}"
    );

    // Chat sends the finish before the usage, and its own end marker after both.
    let pieces = decode(Dialect::Chat, &chat);
    let cohere = encode(Dialect::Cohere, &pieces);
    let ends = cohere.matches("event: message-end").count();
    assert_eq!(ends, 1, "{cohere}");
    assert!(
        cohere
            .contains(r#""finish_reason":"TOOL_CALL","usage":{"billed_units":{"input_tokens":793"#),
        "{cohere}"
    );
    let decoded = decode(Dialect::Cohere, &cohere);
    assert_eq!(decoded[1..], decode(Dialect::Cohere, COHERE_STREAM)[1..]);
}

#[test]
fn encoder_starts_itself_holds_the_finish_and_ends_once() {
    let pieces = [
        Piece::Text("a".into()),
        Piece::Usage {
            input: 2,
            output: 3,
        },
        Piece::Finish {
            reason: "stop".into(),
            stop_sequence: Some("END".into()),
        },
        Piece::Done,
        Piece::Done,
        Piece::Text("late".into()),
    ];
    let cohere = encode(Dialect::Cohere, &pieces);
    assert!(
        cohere.starts_with("event: message-start\ndata: {\"id\":\"\","),
        "{cohere}"
    );
    assert_eq!(
        cohere.matches("message-end").count(),
        2,
        "one event, named twice: {cohere}"
    );
    assert!(cohere.contains(r#""finish_reason":"STOP_SEQUENCE","usage":{"billed_units":{"input_tokens":2,"output_tokens":3}"#), "{cohere}");
    assert!(!cohere.contains("late"));
}

#[test]
fn in_band_errors_travel_in_message_end() {
    let event = String::from_utf8(error_event(502, "upstream \"died\"")).expect("UTF-8");
    assert!(event.starts_with("event: message-end\ndata: "), "{event}");
    let pieces = decode(Dialect::Cohere, &event);
    assert_eq!(pieces, [Piece::Error("upstream \"died\"".into())]);

    let cohere = encode(
        Dialect::Cohere,
        &[
            Piece::Text("par".into()),
            Piece::Error("cut".into()),
            Piece::Done,
        ],
    );
    let data = payloads(&cohere);
    assert_eq!(
        data.len(),
        5,
        "start, content start, delta, end, error: {cohere}"
    );
    let end = value(data[4].as_bytes());
    assert_eq!(end["delta"]["finish_reason"].as_str(), Some("ERROR"));
    assert_eq!(end["delta"]["error"].as_str(), Some("cut"));

    // An upstream that says ERROR without a message ended abnormally, not in error.
    let pieces = decode(Dialect::Cohere, "data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\"}}\n\ndata: [DONE]\n\n");
    assert_eq!(
        pieces,
        [
            Piece::Finish {
                reason: "content_filter".into(),
                stop_sequence: None
            },
            Piece::Done,
            Piece::Done
        ]
    );
}
