use simd_json::prelude::*;
use simd_json::OwnedValue;

use super::super::test_support::{decode, encode, value};
use super::super::{Dialect, Piece};
use super::{error_body, error_event, request, response};

fn array(value: &OwnedValue) -> &Vec<OwnedValue> {
    value.as_array().expect("an array")
}

/// A tool conversation as a Responses client keeps it: instructions, a user turn with an
/// image, the model's two calls, their outputs, and the model's reasoning item (dropped).
const TOOL_CONVERSATION: &[u8] = br#"{"model":"gpt-5","instructions":"Be brief.","store":true,"metadata":{"k":"v"},
    "input":[{"role":"user","content":[{"type":"input_text","text":"Weather?"},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]},
      {"type":"reasoning","id":"rs_1","summary":[]},
      {"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"Checking.","annotations":[]}]},
      {"type":"function_call","id":"fc_1","call_id":"call_1","name":"weather","arguments":"{\"city\":\"Paris\"}"},
      {"type":"function_call","id":"fc_2","call_id":"call_2","name":"weather","arguments":"{\"city\":\"Rome\"}"},
      {"type":"message","role":"assistant","content":[{"type":"output_text","text":" Both.","annotations":[]}]},
      {"type":"function_call_output","call_id":"call_1","output":"sunny"},
      {"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"rain"}]},
      {"role":"developer","content":"Answer in French."}],
    "tools":[{"type":"function","name":"weather","description":"Weather","parameters":{"type":"object"},"strict":true}],
    "tool_choice":{"type":"function","name":"weather"},"parallel_tool_calls":false,
    "max_output_tokens":50,"temperature":0.5,"top_p":0.9,"user":"u1",
    "text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object"},"strict":true},"verbosity":"low"},
    "reasoning":{"effort":"low","summary":"auto"}}"#;

#[test]
fn responses_request_becomes_chat() {
    let chat = value(&request::to_chat(TOOL_CONVERSATION, "claude", true).expect("translates"));
    assert_eq!(chat.get_str("model"), Some("claude"));
    assert_eq!(chat.get_bool("stream"), Some(true));
    let messages = array(&chat["messages"]);
    let roles: Vec<_> = messages
        .iter()
        .map(|m| m.get_str("role").unwrap_or_default())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant", "tool", "tool", "system"]
    );
    assert_eq!(messages[0].get_str("content"), Some("Be brief."));
    assert_eq!(messages[1]["content"][0]["text"].as_str(), Some("Weather?"));
    assert_eq!(
        messages[1]["content"][1]["image_url"]["url"].as_str(),
        Some("data:image/png;base64,AAAA")
    );
    assert_eq!(
        messages[1]["content"][1]["image_url"]["detail"].as_str(),
        Some("low")
    );
    // The calls join the assistant text before them, in one chat message.
    assert_eq!(messages[2].get_str("content"), Some("Checking. Both."));
    let calls = array(&messages[2]["tool_calls"]);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1]["id"].as_str(), Some("call_2"));
    assert_eq!(
        calls[1]["function"]["arguments"].as_str(),
        Some(r#"{"city":"Rome"}"#)
    );
    assert_eq!(messages[3].get_str("tool_call_id"), Some("call_1"));
    assert_eq!(messages[4].get_str("content"), Some("rain"));
    assert_eq!(messages[5].get_str("content"), Some("Answer in French."));
    assert_eq!(
        chat["tools"][0]["function"]["name"].as_str(),
        Some("weather")
    );
    assert_eq!(chat["tools"][0]["function"]["strict"].as_bool(), Some(true));
    assert_eq!(
        chat["tool_choice"]["function"]["name"].as_str(),
        Some("weather")
    );
    assert_eq!(chat.get_bool("parallel_tool_calls"), Some(false));
    assert_eq!(chat.get_u64("max_completion_tokens"), Some(50));
    assert_eq!(chat.get_f64("temperature"), Some(0.5));
    assert_eq!(chat.get_str("user"), Some("u1"));
    assert_eq!(
        chat["response_format"]["type"].as_str(),
        Some("json_schema")
    );
    assert_eq!(
        chat["response_format"]["json_schema"]["name"].as_str(),
        Some("answer")
    );
    assert_eq!(chat.get_str("verbosity"), Some("low"));
    assert_eq!(chat.get_str("reasoning_effort"), Some("low"));
    for dropped in [
        "store",
        "metadata",
        "instructions",
        "input",
        "text",
        "reasoning",
    ] {
        assert!(chat.get(dropped).is_none(), "{dropped} left in {chat}");
    }
}

#[test]
fn a_string_input_is_one_user_message() {
    let chat = request::to_chat(br#"{"model":"x","input":"Hi"}"#, "m", false).expect("translates");
    let chat = value(&chat);
    assert_eq!(array(&chat["messages"]).len(), 1);
    assert_eq!(chat["messages"][0]["content"].as_str(), Some("Hi"));
    assert_eq!(chat.get_bool("stream"), Some(false));
}

#[test]
fn what_needs_openai_state_or_tools_is_refused_by_name() {
    let refused = |body: &str| {
        request::to_chat(body.as_bytes(), "m", false)
            .expect_err("refused")
            .0
    };
    let why = refused(r#"{"input":"Hi","previous_response_id":"resp_1"}"#);
    assert!(why.contains("'previous_response_id'"), "{why}");
    let why = refused(r#"{"input":"Hi","tools":[{"type":"web_search"}]}"#);
    assert!(
        why.contains("web_search") && why.contains("tools[0]"),
        "{why}"
    );
    let why = refused(r#"{"input":[{"type":"item_reference","id":"msg_1"}]}"#);
    assert!(
        why.contains("input[0]") && why.contains("item_reference"),
        "{why}"
    );
    let why = refused(
        r#"{"input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1","detail":"auto"}]}]}"#,
    );
    assert!(
        why.contains("input[0].content[0]") && why.contains("file_id"),
        "{why}"
    );
    let why = refused(r#"{"input":"Hi","include":["message.output_text.logprobs"]}"#);
    assert!(why.contains("logprobs"), "{why}");
    let why = refused(r#"{"input":"Hi","background":true}"#);
    assert!(why.contains("'background'"), "{why}");
    let why = refused(r#"{"input":"Hi","tool_choice":{"type":"file_search"}}"#);
    assert!(why.contains("file_search"), "{why}");
    // What does not change the answer passes.
    let hints = r#"{"input":"Hi","background":false,"store":false,"truncation":"auto","include":["reasoning.encrypted_content"]}"#;
    assert!(request::to_chat(hints.as_bytes(), "m", false).is_ok());

    let refused = |body: &str| request::from_chat(body.as_bytes()).expect_err("refused").0;
    for field in ["stop", "logprobs", "seed", "presence_penalty"] {
        let why = refused(&format!(r#"{{"model":"m","messages":[],"{field}":1}}"#));
        assert!(why.contains(&format!("'{field}'")), "{why}");
    }
    assert!(refused(r#"{"model":"m","messages":[],"n":2}"#).contains("'n'"));
    // LangChain sends zero penalties by default: they change nothing.
    let neutral = br#"{"model":"m","messages":[],"seed":null,"n":1,"frequency_penalty":0,"presence_penalty":0.0}"#;
    assert!(request::from_chat(neutral).is_ok());
}

#[test]
fn chat_request_becomes_responses_and_back() {
    let chat = br#"{"model":"gpt","stream":true,"max_tokens":20,"temperature":0.2,
        "messages":[{"role":"system","content":"S"},
          {"role":"user","content":[{"type":"text","text":"Q"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"auto"}}]},
          {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
          {"role":"tool","tool_call_id":"c1","content":"R1"},{"role":"user","content":"more"}],
        "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"required",
        "response_format":{"type":"json_object"},"reasoning_effort":"high"}"#;
    let responses = value(&request::from_chat(chat).expect("translates"));
    assert_eq!(responses.get_str("model"), Some("gpt"));
    assert_eq!(responses.get_bool("stream"), Some(true));
    assert_eq!(responses.get_bool("store"), Some(false));
    assert_eq!(responses.get_u64("max_output_tokens"), Some(20));
    let input = array(&responses["input"]);
    assert_eq!(input.len(), 5);
    assert_eq!(input[1]["content"][1]["type"].as_str(), Some("input_image"));
    assert_eq!(
        input[1]["content"][1]["image_url"].as_str(),
        Some("https://x/y.png")
    );
    assert_eq!(input[2]["type"].as_str(), Some("function_call"));
    assert_eq!(input[2]["call_id"].as_str(), Some("c1"));
    assert_eq!(input[3]["type"].as_str(), Some("function_call_output"));
    assert_eq!(input[3]["output"].as_str(), Some("R1"));
    assert_eq!(responses["tools"][0]["name"].as_str(), Some("f"));
    assert_eq!(responses["tools"][0]["strict"].as_bool(), Some(false));
    assert_eq!(responses.get_str("tool_choice"), Some("required"));
    assert_eq!(
        responses["text"]["format"]["type"].as_str(),
        Some("json_object")
    );
    assert_eq!(responses["reasoning"]["effort"].as_str(), Some("high"));

    let back = value(
        &request::to_chat(&responses.encode().into_bytes(), "gpt", true).expect("translates"),
    );
    let original = value(chat);
    assert_eq!(
        back["messages"], original["messages"],
        "the conversation survives"
    );
    assert_eq!(back["tools"][0]["function"]["name"].as_str(), Some("f"));
    assert_eq!(back.get_str("tool_choice"), Some("required"));
    assert_eq!(back.get_u64("max_completion_tokens"), Some(20));
}

const CHAT_ANSWER: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","created":7,"model":"m",
    "choices":[{"index":0,"message":{"role":"assistant","content":"Hello","reasoning_content":"Think",
      "tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"x\":2}"}}]},"finish_reason":"tool_calls"}],
    "usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":2},
      "completion_tokens_details":{"reasoning_tokens":3}}}"#;

#[test]
fn whole_answers_round_trip() {
    let answer = value(&response::answer_from_chat(CHAT_ANSWER).expect("a completion"));
    assert_eq!(answer.get_str("id"), Some("resp_chatcmpl-1"));
    assert_eq!(answer.get_str("object"), Some("response"));
    assert_eq!(answer.get_str("status"), Some("completed"));
    assert_eq!(answer.get_u64("created_at"), Some(7));
    let output = array(&answer["output"]);
    let kinds: Vec<_> = output
        .iter()
        .map(|o| o.get_str("type").unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["reasoning", "message", "function_call"]);
    assert_eq!(
        output[1]["content"][0]["type"].as_str(),
        Some("output_text")
    );
    assert_eq!(output[1]["content"][0]["text"].as_str(), Some("Hello"));
    assert!(output[1]["content"][0]["annotations"].is_array());
    assert_eq!(output[2]["call_id"].as_str(), Some("t"));
    assert_eq!(answer["usage"]["total_tokens"].as_u64(), Some(12));
    assert_eq!(
        answer["usage"]["input_tokens_details"]["cached_tokens"].as_u64(),
        Some(2)
    );
    assert_eq!(
        answer["usage"]["output_tokens_details"]["reasoning_tokens"].as_u64(),
        Some(3)
    );

    let back =
        value(&response::answer_to_chat(&answer.encode().into_bytes(), "x").expect("a Response"));
    let original = value(CHAT_ANSWER);
    assert_eq!(back["choices"], original["choices"]);
    assert_eq!(back["usage"], original["usage"]);
    assert_eq!(back.get_str("model"), Some("m"));
}

#[test]
fn a_cut_answer_is_incomplete_both_ways() {
    let chat = br#"{"id":"c","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hel"},"finish_reason":"length"}]}"#;
    let answer = value(&response::answer_from_chat(chat).expect("a completion"));
    assert_eq!(answer.get_str("status"), Some("incomplete"));
    assert_eq!(
        answer["incomplete_details"]["reason"].as_str(),
        Some("max_output_tokens")
    );
    assert_eq!(answer["output"][0]["status"].as_str(), Some("incomplete"));
    assert!(answer["usage"].is_null());
    let back =
        value(&response::answer_to_chat(&answer.encode().into_bytes(), "m").expect("a Response"));
    assert_eq!(back["choices"][0]["finish_reason"].as_str(), Some("length"));
    assert!(response::answer_to_chat(b"not json", "m").is_none());
}

#[test]
fn errors_keep_openai_shape() {
    let body = value(error_body(429, "slow down").as_bytes());
    assert_eq!(body["error"]["message"].as_str(), Some("slow down"));
    assert_eq!(body["error"]["code"].as_str(), Some("rate_limit_exceeded"));
    assert!(body["error"]["param"].is_null());
    let event = String::from_utf8(error_event(502, "gone")).expect("UTF-8");
    let data = event
        .strip_prefix("event: error\ndata: ")
        .expect("an error event");
    let data = value(data.trim_end().as_bytes());
    assert_eq!(data.get_str("type"), Some("error"));
    assert_eq!(data.get_str("code"), Some("server_error"));
    assert_eq!(data.get_str("message"), Some("gone"));
    assert!(data.get_u64("sequence_number").is_some());

    let upstream = br#"{"error":{"message":"Previous response with id 'resp_x' not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}"#;
    let chat = value(&response::error_to_chat(upstream));
    assert_eq!(chat, value(upstream), "nothing is lost");
    let responses = value(&response::error_from_chat(
        401,
        br#"{"error":{"message":"who?"}}"#,
    ));
    assert_eq!(
        responses["error"]["type"].as_str(),
        Some("authentication_error")
    );
    assert_eq!(responses["error"]["code"].as_str(), Some("invalid_api_key"));
    let responses = value(&response::error_from_chat(503, b"upstream down"));
    assert_eq!(
        responses["error"]["message"].as_str(),
        Some("upstream down")
    );
}

/// A Responses stream as OpenAI (and our mock) writes it: reasoning, text, two calls.
const RESPONSES_STREAM: &str = concat!(
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_9\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[],\"usage\":null}}\n\n",
    "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_9\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[],\"usage\":null}}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"id\":\"rs_1\",\"type\":\"reasoning\",\"summary\":[]}}\n\n",
    "event: response.reasoning_summary_text.delta\ndata: {\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":3,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"Hmm\"}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":4,\"output_index\":1,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}\n\n",
    "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":5,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n",
    "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":6,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Hi \\\"there\\\"\",\"logprobs\":[]}\n\n",
    "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":7,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"text\":\"Hi \\\"there\\\"\",\"logprobs\":[]}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":8,\"output_index\":2,\"item\":{\"id\":\"fc_1\",\"type\":\"function_call\",\"status\":\"in_progress\",\"call_id\":\"call_a\",\"name\":\"f\",\"arguments\":\"\"}}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":9,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"{\\\"a\\\":\"}\n\n",
    "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":10,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"1}\"}\n\n",
    "event: response.function_call_arguments.done\ndata: {\"type\":\"response.function_call_arguments.done\",\"sequence_number\":11,\"item_id\":\"fc_1\",\"output_index\":2,\"arguments\":\"{\\\"a\\\":1}\"}\n\n",
    "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":12,\"output_index\":3,\"item\":{\"id\":\"fc_2\",\"type\":\"function_call\",\"status\":\"in_progress\",\"call_id\":\"call_b\",\"name\":\"g\",\"arguments\":\"\"}}\n\n",
    "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":13,\"output_index\":3,\"item\":{\"id\":\"fc_2\",\"type\":\"function_call\",\"status\":\"completed\",\"call_id\":\"call_b\",\"name\":\"g\",\"arguments\":\"{}\"}}\n\n",
    "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":14,\"response\":{\"id\":\"resp_9\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"completed\",\"model\":\"gpt-5\",\"output\":[],\"usage\":{\"input_tokens\":11,\"output_tokens\":9,\"total_tokens\":20}}}\n\n",
);

fn call(index: usize, id: Option<&str>, name: Option<&str>, arguments: &str) -> Piece {
    Piece::ToolCall {
        index,
        id: id.map(str::to_string),
        name: name.map(str::to_string),
        arguments: arguments.to_string(),
    }
}

#[test]
fn responses_stream_decodes_into_pieces() {
    let pieces = decode(Dialect::Responses, RESPONSES_STREAM);
    assert_eq!(
        pieces,
        [
            Piece::Start {
                id: "resp_9".into(),
                model: "gpt-5".into(),
                created: 1_700_000_000,
                input_tokens: None
            },
            Piece::Reasoning("Hmm".into()),
            Piece::Text("Hi \"there\"".into()),
            call(0, Some("call_a"), Some("f"), ""),
            call(0, None, None, "{\"a\":"),
            call(0, None, None, "1}"),
            call(1, Some("call_b"), Some("g"), ""),
            // Its arguments came only whole, with the item's done event.
            call(1, None, None, "{}"),
            Piece::Finish {
                reason: "tool_calls".into(),
                stop_sequence: None
            },
            Piece::Usage {
                input: 11,
                output: 9
            },
            Piece::Done,
        ]
    );
    let chat = encode(Dialect::Chat, &pieces);
    assert!(chat.contains(r#""finish_reason":"tool_calls""#), "{chat}");
    assert!(chat.ends_with("data: [DONE]\n\n"));
}

/// Event names and parsed payloads; checks each event's type and its sequence number.
fn events(stream: &str) -> Vec<(String, OwnedValue)> {
    let events: Vec<(String, OwnedValue)> = stream
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|event| {
            let (name, data) = event.split_once('\n').expect("two lines");
            let name = name.strip_prefix("event: ").expect("an event line");
            let data = value(data.strip_prefix("data: ").expect("a data line").as_bytes());
            assert_eq!(data.get_str("type"), Some(name));
            (name.to_string(), data)
        })
        .collect();
    for (n, (_, data)) in events.iter().enumerate() {
        assert_eq!(data.get_u64("sequence_number"), Some(n as u64));
    }
    events
}

#[test]
fn pieces_become_a_responses_stream_and_back() {
    let pieces = decode(Dialect::Responses, RESPONSES_STREAM);
    let stream = encode(Dialect::Responses, &pieces);
    let events = events(&stream);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let text_delta = &events[10].1;
    assert_eq!(text_delta.get_str("item_id"), Some("msg_9_1"));
    assert_eq!(text_delta.get_u64("output_index"), Some(1));
    assert_eq!(text_delta.get_u64("content_index"), Some(0));
    assert_eq!(events[19].1.get_str("arguments"), Some(r#"{"a":1}"#));
    let completed = &events[23].1["response"];
    assert_eq!(completed.get_str("id"), Some("resp_9"));
    assert_eq!(completed.get_str("status"), Some("completed"));
    assert_eq!(completed["usage"]["total_tokens"].as_u64(), Some(20));
    let output = array(&completed["output"]);
    assert_eq!(
        output[1]["content"][0]["text"].as_str(),
        Some("Hi \"there\"")
    );
    assert_eq!(output[3]["name"].as_str(), Some("g"));
    assert_eq!(output[3]["arguments"].as_str(), Some("{}"));

    assert_eq!(
        decode(Dialect::Responses, &stream),
        pieces,
        "re-encoding loses nothing"
    );
}

#[test]
fn a_chat_stream_becomes_responses_events() {
    let chat = concat!(
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n",
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n",
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
        "data: {\"id\":\"chatcmpl-7\",\"model\":\"m\",\"created\":1,\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
        "data: [DONE]\n\n",
    );
    let pieces = decode(Dialect::Chat, chat);
    let stream = encode(Dialect::Responses, &pieces);
    let events = events(&stream);
    let last = &events.last().expect("events").1;
    assert_eq!(last.get_str("type"), Some("response.incomplete"));
    let response = &last["response"];
    assert_eq!(response.get_str("id"), Some("resp_chatcmpl-7"));
    assert_eq!(
        response["incomplete_details"]["reason"].as_str(),
        Some("max_output_tokens")
    );
    assert_eq!(
        response["output"][0]["content"][0]["text"].as_str(),
        Some("Hello")
    );
    assert_eq!(response["output"][0]["status"].as_str(), Some("incomplete"));
    assert_eq!(response["usage"]["output_tokens"].as_u64(), Some(4));
    let deltas: Vec<_> = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d.get_str("delta").unwrap_or_default().to_string())
        .collect();
    assert_eq!(deltas, ["Hel", "lo"]);
}

#[test]
fn the_encoder_takes_any_order() {
    // No start, usage before the finish, an in-band error, and a second end.
    let stream = encode(
        Dialect::Responses,
        &[
            Piece::Text("a".into()),
            Piece::Error("overloaded".into()),
            Piece::Usage {
                input: 1,
                output: 2,
            },
            Piece::Finish {
                reason: "stop".into(),
                stop_sequence: None,
            },
            Piece::Done,
            Piece::Done,
        ],
    );
    let events = events(&stream);
    assert_eq!(events[0].0, "response.created");
    assert_eq!(events[0].1["response"]["id"].as_str(), Some("resp_gpt_api"));
    let error = events
        .iter()
        .find(|(n, _)| n == "error")
        .expect("an error event");
    assert_eq!(error.1.get_str("message"), Some("overloaded"));
    let completed: Vec<_> = events
        .iter()
        .filter(|(n, _)| n.starts_with("response.completed"))
        .collect();
    assert_eq!(completed.len(), 1, "one end");
    assert_eq!(
        completed[0].1["response"]["usage"]["input_tokens"].as_u64(),
        Some(1)
    );
}

#[test]
fn an_in_band_error_or_failure_is_an_error_piece() {
    let pieces = decode(Dialect::Responses, concat!(
        "event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\",\"message\":\"boom\",\"param\":null,\"sequence_number\":3}\n\n",
        "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":4,\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"failed\"}}}\n\n",
    ));
    assert_eq!(
        pieces,
        [Piece::Error("boom".into()), Piece::Error("failed".into())]
    );
}

#[test]
fn a_responses_answer_with_calls_becomes_chat() {
    // As OpenAI (and our mock) answer when tools are offered.
    let answer = br#"{"id":"resp_1","object":"response","created_at":1700000000,"status":"completed","error":null,
        "incomplete_details":null,"model":"gpt-5","parallel_tool_calls":true,"tool_choice":"auto","tools":[],
        "output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Plan"}]},
          {"type":"function_call","id":"fc_0","call_id":"call_0","name":"weather","arguments":"{\"city\":\"Paris\"}","status":"completed"},
          {"type":"function_call","id":"fc_1","call_id":"call_1","name":"weather","arguments":"{\"city\":\"Tokyo\"}","status":"completed"}],
        "usage":{"input_tokens":4,"input_tokens_details":{"cached_tokens":1},"output_tokens":22,"output_tokens_details":{"reasoning_tokens":6},"total_tokens":26}}"#;
    let chat = value(&response::answer_to_chat(answer, "fallback").expect("a Response"));
    assert_eq!(chat.get_str("object"), Some("chat.completion"));
    assert_eq!(chat.get_u64("created"), Some(1_700_000_000));
    let choice = &chat["choices"][0];
    assert_eq!(choice["finish_reason"].as_str(), Some("tool_calls"));
    assert!(choice["message"]["content"].is_null());
    assert_eq!(
        choice["message"]["reasoning_content"].as_str(),
        Some("Plan")
    );
    let calls = array(&choice["message"]["tool_calls"]);
    assert_eq!(calls[1]["id"].as_str(), Some("call_1"));
    assert_eq!(
        calls[1]["function"]["arguments"].as_str(),
        Some(r#"{"city":"Tokyo"}"#)
    );
    assert_eq!(chat["usage"]["prompt_tokens"].as_u64(), Some(4));
    assert_eq!(
        chat["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64(),
        Some(1)
    );
    assert_eq!(
        chat["usage"]["completion_tokens_details"]["reasoning_tokens"].as_u64(),
        Some(6)
    );
}

#[test]
fn items_closed_early_stay_completed_in_a_cut_response() {
    let stream = encode(
        Dialect::Responses,
        &[
            Piece::Text("a".into()),
            call(0, Some("c0"), Some("f"), "{"),
            Piece::Text("b".into()),
            call(0, None, None, "}"),
            Piece::Usage {
                input: 1,
                output: 2,
            },
            Piece::Finish {
                reason: "length".into(),
                stop_sequence: None,
            },
        ],
    );
    let events = events(&stream);
    let (name, last) = events.last().expect("events");
    assert_eq!(
        name, "response.incomplete",
        "usage and finish end the stream"
    );
    let statuses: Vec<_> = array(&last["response"]["output"])
        .iter()
        .map(|item| item.get_str("status").unwrap_or_default())
        .collect();
    assert_eq!(statuses, ["completed", "completed", "incomplete"]);
    assert_eq!(
        last["response"]["output"][1]["arguments"].as_str(),
        Some("{}")
    );
    // The call's argument fragment after the second message still belongs to the call.
    let fragment = events
        .iter()
        .filter(|(n, _)| n == "response.function_call_arguments.delta")
        .map(|(_, d)| d.get_u64("output_index"))
        .collect::<Vec<_>>();
    assert_eq!(fragment, [Some(1), Some(1)]);
}
