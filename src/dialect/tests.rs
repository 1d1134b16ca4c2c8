use simd_json::prelude::*;

use super::anthropic::{request, response};
use super::test_support::{decode, encode, value};
use super::{Dialect, Piece};

#[test]
fn anthropic_request_becomes_chat() {
    let body = br#"{"model":"claude","max_tokens":100,"system":[{"type":"text","text":"Be brief."}],
        "stop_sequences":["END"],"metadata":{"user_id":"u1"},"stream":true,
        "tools":[{"name":"weather","description":"Weather","input_schema":{"type":"object"}}],
        "tool_choice":{"type":"any","disable_parallel_tool_use":true},
        "messages":[{"role":"user","content":"Hi"},
          {"role":"assistant","content":[{"type":"text","text":"Calling"},{"type":"tool_use","id":"t1","name":"weather","input":{"city":"Paris"}}]},
          {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"sunny"},{"type":"text","text":"And?"},
             {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"}}]}]}"#;
    let chat = value(&request::to_chat(body).expect("translates"));
    let messages = chat
        .get("messages")
        .and_then(|m| m.as_array())
        .expect("messages");
    assert_eq!(messages[0].get_str("role"), Some("system"));
    assert_eq!(messages[0].get_str("content"), Some("Be brief."));
    let call = &messages[2]["tool_calls"][0];
    assert_eq!(call["function"]["name"].as_str(), Some("weather"));
    assert_eq!(
        call["function"]["arguments"].as_str(),
        Some(r#"{"city":"Paris"}"#)
    );
    assert_eq!(messages[3].get_str("role"), Some("tool"));
    assert_eq!(messages[3].get_str("tool_call_id"), Some("t1"));
    assert_eq!(messages[3].get_str("content"), Some("sunny"));
    assert_eq!(
        messages[4]["content"][1]["image_url"]["url"].as_str(),
        Some("data:image/png;base64,AAAA")
    );
    assert_eq!(chat["stop"][0].as_str(), Some("END"));
    assert_eq!(chat.get_str("user"), Some("u1"));
    assert_eq!(chat.get_str("tool_choice"), Some("required"));
    assert_eq!(chat.get_bool("parallel_tool_calls"), Some(false));
    assert_eq!(
        chat["tools"][0]["function"]["parameters"]["type"].as_str(),
        Some("object")
    );
    assert_eq!(chat.get_u64("max_tokens"), Some(100));
}

#[test]
fn chat_request_becomes_anthropic() {
    let body = br#"{"model":"gpt","messages":[{"role":"system","content":"S"},{"role":"user","content":"Q"},
        {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
        {"role":"tool","tool_call_id":"c1","content":"R1"},{"role":"user","content":"more"}],
        "stop":"X","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto"}"#;
    let message = value(&request::from_chat(body).expect("translates"));
    assert_eq!(message.get_str("system"), Some("S"));
    assert_eq!(
        message.get_u64("max_tokens"),
        Some(request::DEFAULT_MAX_TOKENS)
    );
    let turns = message
        .get("messages")
        .and_then(|m| m.as_array())
        .expect("messages");
    assert_eq!(
        turns.len(),
        3,
        "tool result and the next user text merge into one turn"
    );
    assert_eq!(turns[1]["content"][0]["input"]["a"].as_u64(), Some(1));
    assert_eq!(turns[2]["content"][0]["type"].as_str(), Some("tool_result"));
    assert_eq!(turns[2]["content"][1]["text"].as_str(), Some("more"));
    assert_eq!(message["stop_sequences"][0].as_str(), Some("X"));
    assert_eq!(message["tool_choice"]["type"].as_str(), Some("auto"));
}

#[test]
fn untranslatable_fields_are_named() {
    let refused = request::from_chat(br#"{"model":"m","messages":[],"n":2}"#).unwrap_err();
    assert!(refused.0.contains("'n'"), "{}", refused.0);
    let refused =
        request::from_chat(br#"{"model":"m","messages":[],"logprobs":true}"#).unwrap_err();
    assert!(refused.0.contains("'logprobs'"), "{}", refused.0);
    let body = br#"{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}"#;
    let refused = request::to_chat(body).unwrap_err();
    assert!(refused.0.contains("document"), "{}", refused.0);
}

#[test]
fn whole_answers_round_trip() {
    let chat = br#"{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,
        "message":{"role":"assistant","content":"Hello","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"x\":2}"}}]},
        "finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#;
    let message = value(&response::message_from_chat(chat).expect("a completion"));
    assert_eq!(message.get_str("stop_reason"), Some("tool_use"));
    assert_eq!(message["content"][0]["text"].as_str(), Some("Hello"));
    assert_eq!(message["content"][1]["input"]["x"].as_u64(), Some(2));
    assert_eq!(message["usage"]["output_tokens"].as_u64(), Some(7));
    let back =
        value(&response::message_to_chat(&message.encode().into_bytes()).expect("a message"));
    assert_eq!(
        back["choices"][0]["finish_reason"].as_str(),
        Some("tool_calls")
    );
    assert_eq!(
        back["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str(),
        Some(r#"{"x":2}"#)
    );
    assert_eq!(back["usage"]["total_tokens"].as_u64(), Some(12));
}

#[test]
fn errors_change_shape() {
    let anthropic = response::error_from_chat(
        400,
        br#"{"error":{"message":"bad","type":"invalid_request_error"}}"#,
    );
    let anthropic = value(&anthropic);
    assert_eq!(anthropic.get_str("type"), Some("error"));
    assert_eq!(
        anthropic["error"]["type"].as_str(),
        Some("invalid_request_error")
    );
    assert_eq!(anthropic["error"]["message"].as_str(), Some("bad"));
    let chat = value(&response::error_to_chat(
        br#"{"type":"error","error":{"type":"overloaded_error","message":"busy"}}"#,
    ));
    assert_eq!(chat["error"]["message"].as_str(), Some("busy"));
}

/// Runs SSE events through a decoder of one dialect and an encoder of another.
fn translate(events: &str, from: Dialect, to: Dialect) -> (Vec<Piece>, String) {
    let pieces = decode(from, events);
    let out = encode(to, &pieces);
    (pieces, out)
}

const ANTHROPIC_STREAM: &str = concat!(
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\ndata: {\"type\":\"ping\"}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \\\"there\\\"\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"f\",\"input\":{}}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n",
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n",
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
);

#[test]
fn anthropic_stream_becomes_chat_chunks() {
    let (pieces, chat) = translate(ANTHROPIC_STREAM, Dialect::Anthropic, Dialect::Chat);
    assert!(pieces.contains(&Piece::Usage {
        input: 11,
        output: 9
    }));
    assert!(
        chat.contains(r#""delta":{"content":"Hi \"there\""}"#),
        "{chat}"
    );
    assert!(chat.contains(r#""tool_calls":[{"index":0,"id":"toolu_1","type":"function","function":{"name":"f","arguments":""}}]"#), "{chat}");
    assert!(chat.contains(r#""finish_reason":"tool_calls""#), "{chat}");
    assert!(
        chat.contains(r#""usage":{"prompt_tokens":11,"completion_tokens":9,"total_tokens":20}"#),
        "{chat}"
    );
    assert!(chat.ends_with("data: [DONE]\n\n"));
    for event in chat.split("\n\n").filter(|e| e.starts_with("data: {")) {
        value(&event.as_bytes()["data: ".len()..]);
    }
}

#[test]
fn chat_stream_becomes_anthropic_events_and_back() {
    let (_, anthropic) = translate(ANTHROPIC_STREAM, Dialect::Anthropic, Dialect::Anthropic);
    let (pieces, _) = translate(&anthropic, Dialect::Anthropic, Dialect::Chat);
    let (original, _) = translate(ANTHROPIC_STREAM, Dialect::Anthropic, Dialect::Chat);
    assert_eq!(
        pieces[1..],
        original[1..],
        "re-encoding loses nothing but the start's clock"
    );
    let names: Vec<&str> = anthropic
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let chat = concat!(
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
        "data: [DONE]\n\n",
    );
    let (_, anthropic) = translate(chat, Dialect::Chat, Dialect::Anthropic);
    assert!(
        anthropic.contains(r#""delta":{"type":"text_delta","text":"Hello"}"#),
        "{anthropic}"
    );
    assert!(
        anthropic.contains(r#""stop_reason":"max_tokens""#),
        "{anthropic}"
    );
    assert!(
        anthropic.contains(r#""usage":{"input_tokens":3,"output_tokens":4}"#),
        "{anthropic}"
    );
    assert!(anthropic.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
}

// === helpers the dialects share ===

#[test]
fn chat_only_fields_are_refused_when_they_ask_for_something() {
    use super::value::refuse_chat_only;
    let fields = &["seed", "logprobs", "logit_bias", "audio"];
    let defaults = value(br#"{"seed":null,"logprobs":false,"logit_bias":{},"audio":null}"#);
    // `{}` is not empty by this rule: an object always asks (it has no default).
    let refused = refuse_chat_only(&defaults, fields, "on X upstreams").unwrap_err();
    assert_eq!(refused.0, "'logit_bias' has no counterpart on X upstreams");
    let defaults = value(br#"{"seed":null,"logprobs":false,"logit_bias":[],"audio":null}"#);
    assert_eq!(
        refuse_chat_only(&defaults, fields, "on X upstreams"),
        Ok(())
    );
    // A seed of 0 is a seed: it asks for determinism like any other.
    let zero = value(br#"{"seed":0}"#);
    let refused = refuse_chat_only(&zero, fields, "on X upstreams").unwrap_err();
    assert_eq!(refused.0, "'seed' has no counterpart on X upstreams");
    let seeded = value(br#"{"seed":7}"#);
    let refused = refuse_chat_only(&seeded, fields, "in the Y API").unwrap_err();
    assert_eq!(refused.0, "'seed' has no counterpart in the Y API");
}

#[test]
fn chat_text_joins_text_parts_and_names_the_part_it_cannot_take() {
    use super::value::{chat_text, chat_text_or_refusal};
    let parts = value(br#"[{"type":"text","text":"a"},{"type":"refusal","refusal":"no"}]"#);
    assert_eq!(chat_text(None, "m", "part"), Ok(String::new()));
    assert_eq!(
        chat_text(Some(&value(b"null")), "m", "part"),
        Ok(String::new())
    );
    assert_eq!(
        chat_text(Some(&value(br#""hi""#)), "m", "part"),
        Ok("hi".into())
    );
    assert_eq!(
        chat_text_or_refusal(Some(&parts), "m", "part"),
        Ok("ano".into())
    );
    let refused = chat_text(Some(&parts), "messages[2]", "part where only text can go");
    assert_eq!(
        refused.unwrap_err().0,
        "'messages[2].content[1]' is a refusal part where only text can go"
    );
}
