use simd_json::prelude::*;
use simd_json::OwnedValue;

use super::super::test_support::{decode, encode, payloads, value};
use super::super::{Dialect, Piece};
use super::{request, response, EventDecoder, EventEncoder};

/// A request as the Python SDK sends it: camelCase at the top, snake_case inside the
/// function declarations, Gemini's upper-case schema types.
const SDK_REQUEST: &[u8] = br#"{
  "contents": [
    {"role": "user", "parts": [{"text": "Weather in Paris?"},
      {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
    {"role": "model", "parts": [{"text": "Checking."},
      {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
      {"functionCall": {"name": "time", "args": {}}}]},
    {"role": "user", "parts": [{"functionResponse": {"name": "time", "response": {"result": "noon"}}},
      {"functionResponse": {"name": "weather", "response": {"temp": 20}}}]},
    {"role": "model", "parts": [{"text": "thinking...", "thought": true}, {"text": "20 degrees at noon."}, {"thoughtSignature": "c2ln"}]},
    {"parts": [{"text": "Thanks"}]}
  ],
  "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": " Be kind."}]},
  "generationConfig": {"temperature": 0.5, "topP": 0.9, "top_k": 40, "maxOutputTokens": 100,
    "stopSequences": ["END"], "candidateCount": 1, "thinkingConfig": {"thinking_budget": 0},
    "responseMimeType": "application/json",
    "responseSchema": {"type": "OBJECT", "properties": {"answer": {"type": "STRING", "nullable": true}},
      "property_ordering": ["answer"]}},
  "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
  "tools": [{"function_declarations": [
    {"name": "weather", "description": "Weather now",
     "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"},
       "days": {"type": "ARRAY", "items": {"type": "INTEGER"}, "max_items": "3"}}, "required": ["city"]}},
    {"name": "time", "parameters_json_schema": {"type": "object", "properties": {}}},
    {"name": "unused"}]}],
  "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather", "time"]}}
}"#;

#[test]
fn gemini_request_becomes_chat() {
    let chat = value(&request::to_chat(SDK_REQUEST, "gpt-x", true).expect("translates"));
    assert_eq!(chat.get_str("model"), Some("gpt-x"));
    assert_eq!(chat.get_bool("stream"), Some(true));
    let messages = chat["messages"].as_array().expect("messages");
    let roles: Vec<_> = messages
        .iter()
        .map(|m| m.get_str("role").unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "system",
            "user",
            "assistant",
            "tool",
            "tool",
            "assistant",
            "user"
        ]
    );
    assert_eq!(messages[0].get_str("content"), Some("Be brief. Be kind."));
    assert_eq!(
        messages[1]["content"][1]["image_url"]["url"].as_str(),
        Some("data:image/png;base64,AAAA")
    );
    let calls = messages[2]["tool_calls"].as_array().expect("tool calls");
    assert_eq!(messages[2].get_str("content"), Some("Checking."));
    assert_eq!(calls[0].get_str("id"), Some("call_1_1"));
    assert_eq!(
        calls[0]["function"]["arguments"].as_str(),
        Some(r#"{"city":"Paris"}"#)
    );
    // Answered out of order: each response takes the id of the call with its name.
    assert_eq!(messages[3].get_str("tool_call_id"), Some("call_1_2"));
    assert_eq!(messages[3].get_str("content"), Some(r#"{"result":"noon"}"#));
    assert_eq!(messages[4].get_str("tool_call_id"), Some("call_1_1"));
    assert_eq!(
        messages[5].get_str("content"),
        Some("20 degrees at noon."),
        "thoughts are not sent back"
    );
    assert_eq!(messages[6].get_str("content"), Some("Thanks"));
    assert_eq!(chat["temperature"].as_f64(), Some(0.5));
    assert_eq!(chat["top_p"].as_f64(), Some(0.9));
    assert_eq!(chat.get_u64("top_k"), Some(40));
    assert_eq!(chat.get_u64("max_tokens"), Some(100));
    assert_eq!(chat["stop"][0].as_str(), Some("END"));
    assert!(chat.get("n").is_none());
    let schema = &chat["response_format"]["json_schema"]["schema"];
    assert_eq!(
        chat["response_format"]["type"].as_str(),
        Some("json_schema")
    );
    assert_eq!(schema["type"].as_str(), Some("object"));
    assert_eq!(
        schema["properties"]["answer"]["type"].encode(),
        r#"["string","null"]"#
    );
    assert!(schema.get("propertyOrdering").is_none());
    // Only the allowed functions are offered, and one of them must be called.
    let tools = chat["tools"].as_array().expect("tools");
    assert_eq!(tools.len(), 2);
    let weather = &tools[0]["function"];
    assert_eq!(weather["parameters"]["type"].as_str(), Some("object"));
    assert_eq!(
        weather["parameters"]["properties"]["days"]["items"]["type"].as_str(),
        Some("integer")
    );
    assert_eq!(
        weather["parameters"]["properties"]["days"]["maxItems"].as_u64(),
        Some(3)
    );
    assert_eq!(weather["parameters"]["required"][0].as_str(), Some("city"));
    assert_eq!(tools[1]["function"]["name"].as_str(), Some("time"));
    assert_eq!(chat.get_str("tool_choice"), Some("required"));
}

#[test]
fn one_allowed_function_is_a_named_tool_choice() {
    let body = br#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],
        "tools":[{"functionDeclarations":[{"name":"f"},{"name":"g"}]}],
        "tool_config":{"function_calling_config":{"mode":"ANY","allowed_function_names":["g"]}}}"#;
    let chat = value(&request::to_chat(body, "m", false).expect("translates"));
    assert_eq!(chat["tool_choice"]["function"]["name"].as_str(), Some("g"));
    assert_eq!(chat["messages"][0].get_str("content"), Some("hi"));
    let body = br#"{"contents":[],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}},
        "generationConfig":{"candidateCount":2}}"#;
    let chat = value(&request::to_chat(body, "m", false).expect("translates"));
    assert_eq!(chat.get_str("tool_choice"), Some("none"));
    assert_eq!(
        chat.get_u64("n"),
        Some(2),
        "whole answers carry every candidate"
    );
}

#[test]
fn chat_request_becomes_gemini() {
    let body = br#"{"model":"gemini-2.5-flash","stream":false,"n":2,"max_completion_tokens":50,"stop":"END",
        "temperature":0.2,"seed":7,"user":"u1","parallel_tool_calls":false,
        "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"}}},
        "messages":[{"role":"system","content":"S"},{"role":"developer","content":[{"type":"text","text":"D"}]},
        {"role":"user","content":[{"type":"text","text":"Q"},
           {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,BBBB"}},
           {"type":"image_url","image_url":{"url":"https://example.com/cat.PNG?x=1"}},
           {"type":"input_audio","input_audio":{"data":"CCCC","format":"mp3"}}]},
        {"role":"assistant","content":null,"tool_calls":[
           {"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},
           {"id":"c2","type":"function","function":{"name":"g","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"c2","content":"plain text"},
        {"role":"tool","tool_call_id":"c1","content":"{\"ok\":true}"},
        {"role":"user","content":"more"}],
        "tools":[{"type":"function","function":{"name":"f","description":"F","parameters":{"type":"object","properties":{"a":{"type":"integer"}}}}}],
        "tool_choice":{"type":"function","function":{"name":"f"}}}"#;
    let gemini = value(&request::from_chat(body).expect("translates"));
    assert!(gemini.get("model").is_none() && gemini.get("stream").is_none());
    assert_eq!(
        gemini["systemInstruction"]["parts"][1]["text"].as_str(),
        Some("D")
    );
    let contents = gemini["contents"].as_array().expect("contents");
    assert_eq!(contents.len(), 4);
    let user = &contents[0]["parts"];
    assert_eq!(user[0]["text"].as_str(), Some("Q"));
    assert_eq!(
        user[1]["inlineData"]["mimeType"].as_str(),
        Some("image/jpeg")
    );
    assert_eq!(user[1]["inlineData"]["data"].as_str(), Some("BBBB"));
    assert_eq!(
        user[2]["fileData"]["fileUri"].as_str(),
        Some("https://example.com/cat.PNG?x=1")
    );
    assert_eq!(user[2]["fileData"]["mimeType"].as_str(), Some("image/png"));
    assert_eq!(
        user[3]["inlineData"]["mimeType"].as_str(),
        Some("audio/mp3")
    );
    let model = &contents[1];
    assert_eq!(model.get_str("role"), Some("model"));
    assert_eq!(
        model["parts"][0]["functionCall"]["args"]["a"].as_u64(),
        Some(1)
    );
    assert_eq!(
        model["parts"][0]["thoughtSignature"].as_str(),
        Some("skip_thought_signature_validator")
    );
    assert!(model["parts"][1].get("thoughtSignature").is_none());
    // Both answers in one turn, each named after its call.
    let answers = &contents[2];
    assert_eq!(answers.get_str("role"), Some("user"));
    assert_eq!(
        answers["parts"][0]["functionResponse"]["name"].as_str(),
        Some("g")
    );
    assert_eq!(
        answers["parts"][0]["functionResponse"]["response"]["result"].as_str(),
        Some("plain text")
    );
    assert_eq!(
        answers["parts"][1]["functionResponse"]["name"].as_str(),
        Some("f")
    );
    assert_eq!(
        answers["parts"][1]["functionResponse"]["response"]["ok"].as_bool(),
        Some(true)
    );
    assert_eq!(contents[3]["parts"][0]["text"].as_str(), Some("more"));
    let empty = br#"{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant","content":""},{"role":"user","content":"b"}]}"#;
    let skipped = value(&request::from_chat(empty).expect("translates"));
    assert_eq!(
        skipped["contents"].as_array().map(Vec::len),
        Some(2),
        "an empty assistant turn would be an empty text part, which Gemini refuses"
    );
    let config = &gemini["generationConfig"];
    assert_eq!(config.get_u64("maxOutputTokens"), Some(50));
    assert_eq!(config["stopSequences"][0].as_str(), Some("END"));
    assert_eq!(config.get_u64("candidateCount"), Some(2));
    assert_eq!(config.get_u64("seed"), Some(7));
    assert_eq!(config.get_str("responseMimeType"), Some("application/json"));
    assert_eq!(
        config["responseJsonSchema"]["type"].as_str(),
        Some("object")
    );
    let declaration = &gemini["tools"][0]["functionDeclarations"][0];
    assert_eq!(declaration.get_str("description"), Some("F"));
    assert_eq!(
        declaration["parametersJsonSchema"]["properties"]["a"]["type"].as_str(),
        Some("integer")
    );
    let calling = &gemini["toolConfig"]["functionCallingConfig"];
    assert_eq!(calling.get_str("mode"), Some("ANY"));
    assert_eq!(calling["allowedFunctionNames"][0].as_str(), Some("f"));
}

#[test]
fn a_tool_conversation_survives_gemini_chat_gemini() {
    let chat = request::to_chat(SDK_REQUEST, "m", false).expect("to chat");
    let gemini = value(&request::from_chat(&chat).expect("back to Gemini"));
    let contents = gemini["contents"].as_array().expect("contents");
    let roles: Vec<_> = contents
        .iter()
        .map(|c| c.get_str("role").unwrap())
        .collect();
    assert_eq!(roles, ["user", "model", "user", "model", "user"]);
    assert_eq!(
        contents[1]["parts"][1]["functionCall"]["name"].as_str(),
        Some("weather")
    );
    assert_eq!(
        contents[1]["parts"][1]["functionCall"]["args"]["city"].as_str(),
        Some("Paris")
    );
    assert_eq!(
        contents[2]["parts"][0]["functionResponse"]["name"].as_str(),
        Some("time")
    );
    assert_eq!(
        contents[2]["parts"][1]["functionResponse"]["response"]["temp"].as_u64(),
        Some(20)
    );
    assert_eq!(
        contents[0]["parts"][1]["inlineData"]["data"].as_str(),
        Some("AAAA")
    );
    assert_eq!(gemini["generationConfig"].get_u64("topK"), Some(40));
}

#[test]
fn untranslatable_fields_are_named() {
    let refused = |body: &[u8], stream: bool| request::to_chat(body, "m", stream).unwrap_err().0;
    let cases: [(&[u8], bool, &str); 9] = [
        (br#"{"contents":[],"tools":[{"googleSearch":{}}]}"#, false, "tools[0].googleSearch"),
        (br#"{"contents":[],"cachedContent":"cachedContents/1"}"#, false, "cachedContent"),
        (br#"{"contents":[],"generationConfig":{"candidateCount":2}}"#, true, "generationConfig.candidateCount"),
        (br#"{"contents":[],"generationConfig":{"responseModalities":["AUDIO"]}}"#, false, "responseModalities"),
        (br#"{"contents":[],"generation_config":{"response_logprobs":true}}"#, false, "generationConfig.responseLogprobs"),
        (br#"{"contents":[{"role":"user","parts":[{"fileData":{"fileUri":"gs://b/x.png"}}]}]}"#, false, "contents[0].parts[0].fileData"),
        (br#"{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"video/mp4","data":""}}]}]}"#, false, "video/mp4"),
        (br#"{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}"#, false, "no functionCall named 'f'"),
        (
            br#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},
              {"role":"user","parts":[{"functionResponse":{"name":"f","parts":[{"inlineData":{}}]}}]}]}"#,
            false,
            "contents[1].parts[0].functionResponse.parts",
        ),
    ];
    for (body, stream, named) in cases {
        let message = refused(body, stream);
        assert!(message.contains(named), "{message} should name {named}");
    }
    let refused = |body: &[u8]| request::from_chat(body).unwrap_err().0;
    for (body, named) in [
        (
            &br#"{"model":"m","messages":[],"logprobs":true}"#[..],
            "'logprobs'",
        ),
        (br#"{"model":"m","messages":[],"n":2,"stream":true}"#, "'n'"),
        (
            br#"{"model":"m","messages":[{"role":"tool","tool_call_id":"x","content":"r"}]}"#,
            "'x'",
        ),
        (
            br#"{"model":"m","messages":[],"tool_choice":{"type":"allowed_tools"}}"#,
            "allowed_tools",
        ),
    ] {
        let message = refused(body);
        assert!(message.contains(named), "{message} should name {named}");
    }
}

const GEMINI_ANSWER: &[u8] = br#"{"candidates":[{"content":{"role":"model","parts":[
    {"text":"Let me think","thought":true},{"text":"Calling."},
    {"functionCall":{"name":"weather","args":{"city":"Paris"}},"thoughtSignature":"c2ln"}]},
    "finishReason":"STOP","index":0}],
  "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":3,"totalTokenCount":18},
  "modelVersion":"gemini-2.5-flash","responseId":"resp1"}"#;

#[test]
fn whole_answers_round_trip() {
    let chat = value(&response::answer_to_chat(GEMINI_ANSWER, "alias").expect("an answer"));
    let choice = &chat["choices"][0];
    assert_eq!(chat.get_str("model"), Some("alias"));
    assert_eq!(chat.get_str("id"), Some("resp1"));
    assert_eq!(choice.get_str("finish_reason"), Some("tool_calls"));
    assert_eq!(choice["message"].get_str("content"), Some("Calling."));
    assert_eq!(
        choice["message"].get_str("reasoning_content"),
        Some("Let me think")
    );
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call.get_str("id"), Some("call_resp1_0"));
    assert_eq!(
        call["function"]["arguments"].as_str(),
        Some(r#"{"city":"Paris"}"#)
    );
    assert_eq!(chat["usage"].get_u64("prompt_tokens"), Some(10));
    assert_eq!(chat["usage"].get_u64("completion_tokens"), Some(8));
    assert_eq!(
        chat["usage"]["completion_tokens_details"].get_u64("reasoning_tokens"),
        Some(3)
    );
    let gemini =
        value(&response::answer_from_chat(&chat.encode().into_bytes()).expect("a completion"));
    let candidate = &gemini["candidates"][0];
    assert_eq!(candidate.get_str("finishReason"), Some("STOP"));
    assert_eq!(candidate["content"].get_str("role"), Some("model"));
    let parts = candidate["content"]["parts"].as_array().expect("parts");
    assert_eq!(parts[0].get_bool("thought"), Some(true));
    assert_eq!(parts[1].get_str("text"), Some("Calling."));
    assert_eq!(parts[2]["functionCall"].get_str("id"), Some("call_resp1_0"));
    assert_eq!(
        parts[2]["functionCall"]["args"]["city"].as_str(),
        Some("Paris")
    );
    let usage = &gemini["usageMetadata"];
    assert_eq!(usage.get_u64("promptTokenCount"), Some(10));
    assert_eq!(usage.get_u64("candidatesTokenCount"), Some(5));
    assert_eq!(usage.get_u64("thoughtsTokenCount"), Some(3));
    assert_eq!(usage.get_u64("totalTokenCount"), Some(18));
    assert_eq!(gemini.get_str("responseId"), Some("resp1"));

    let cut = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"Hel"},"finish_reason":"length"}],"model":"m","id":"c"}"#;
    let gemini = value(&response::answer_from_chat(cut).expect("a completion"));
    assert_eq!(
        gemini["candidates"][0].get_str("finishReason"),
        Some("MAX_TOKENS")
    );
    let blocked =
        br#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":4}}"#;
    let chat = value(&response::answer_to_chat(blocked, "m").expect("an answer"));
    assert_eq!(
        chat["choices"][0].get_str("finish_reason"),
        Some("content_filter")
    );
    assert!(response::answer_to_chat(b"not json", "m").is_none());
}

#[test]
fn errors_change_shape() {
    let gemini = value(&response::error_from_chat(
        429,
        br#"{"error":{"message":"slow down","type":"requests"}}"#,
    ));
    assert_eq!(gemini["error"].get_u64("code"), Some(429));
    assert_eq!(gemini["error"].get_str("message"), Some("slow down"));
    assert_eq!(
        gemini["error"].get_str("status"),
        Some("RESOURCE_EXHAUSTED")
    );
    for (status, name) in [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
        (422, "INVALID_ARGUMENT"),
    ] {
        assert_eq!(super::error_status(status), name);
    }
    let chat = value(&response::error_to_chat(
        br#"{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}"#,
    ));
    assert_eq!(chat["error"].get_str("message"), Some("API key not valid"));
    assert_eq!(chat["error"].get_str("type"), Some("invalid_request_error"));
    assert_eq!(chat["error"].get_str("code"), Some("invalid_argument"));
    // The JSON-array stream sends its error as the array's element.
    let chat = value(&response::error_to_chat(
        br#"[{"error":{"code":503,"message":"overloaded"}}]"#,
    ));
    assert_eq!(chat["error"].get_str("message"), Some("overloaded"));
    assert_eq!(chat["error"].get_str("code"), Some("unavailable"));
    let event = String::from_utf8(super::error_event(502, "bad \"gateway\"")).expect("UTF-8");
    assert!(
        event.starts_with("data: {") && event.ends_with("}\r\n\r\n"),
        "{event}"
    );
    let body = value(&event.as_bytes()["data: ".len()..event.len() - 4]);
    assert_eq!(body["error"].get_str("message"), Some("bad \"gateway\""));
    assert_eq!(body["error"].get_str("status"), Some("INTERNAL"));
}

/// A Gemini `?alt=sse` stream as the API sends it: usage on every event, the function call
/// whole, the finish reason and the final usage on the last event.
const GEMINI_STREAM: &str = concat!(
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi \\\"there\\\"\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 11,\"totalTokenCount\": 11},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"hmm\", \"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 11,\"totalTokenCount\": 11},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"f\",\"args\": {\"a\": 1}}}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 11,\"totalTokenCount\": 11},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 11,\"candidatesTokenCount\": 7,\"thoughtsTokenCount\": 2,\"totalTokenCount\": 20},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r1\"}\r\n\r\n",
);

fn encode_gemini(pieces: &[Piece], array: bool) -> String {
    let mut encoder = EventEncoder::new(array);
    let mut out = Vec::new();
    for piece in pieces {
        encoder.encode(piece, &mut out);
    }
    String::from_utf8(out).expect("UTF-8")
}

#[test]
fn gemini_stream_decodes_into_pieces() {
    let pieces = decode(Dialect::Gemini, GEMINI_STREAM);
    assert!(
        matches!(&pieces[0], Piece::Start { id, model, input_tokens: Some(11), .. }
        if id == "r1" && model == "gemini-2.5-flash")
    );
    assert_eq!(
        pieces[1..],
        [
            Piece::Text("Hi \"there\"".into()),
            Piece::Reasoning("hmm".into()),
            Piece::ToolCall {
                index: 0,
                id: Some("call_r1_0".into()),
                name: Some("f".into()),
                arguments: r#"{"a":1}"#.into()
            },
            Piece::Finish {
                reason: "tool_calls".into(),
                stop_sequence: None
            },
            Piece::Usage {
                input: 11,
                output: 9
            },
        ]
    );
    let chat = encode(Dialect::Chat, pieces.iter().chain([&Piece::Done]));
    assert!(chat.contains(r#""finish_reason":"tool_calls""#), "{chat}");
    assert!(
        chat.contains(r#""usage":{"prompt_tokens":11,"completion_tokens":9,"total_tokens":20}"#),
        "{chat}"
    );
}

#[test]
fn gemini_stream_re_encodes_to_the_same_pieces() {
    let original = decode(Dialect::Gemini, GEMINI_STREAM);
    let sse = encode_gemini(&original, false);
    assert!(sse.ends_with("}\r\n\r\n"));
    let again = decode(Dialect::Gemini, &sse);
    assert_eq!(again[1..], original[1..], "{sse}");
    assert!(matches!(&again[0], Piece::Start { id, .. } if id == "r1"));
    // The array form is one JSON array of the same events.
    let mut pieces = original.clone();
    pieces.push(Piece::Done);
    let array = encode_gemini(&pieces, true);
    assert!(array.starts_with("[{") && array.contains("}\r\n,\r\n{") && array.ends_with("}]"));
    let events = value(array.as_bytes());
    let events = events.as_array().expect("an array");
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[3]["candidates"][0].get_str("finishReason"),
        Some("STOP")
    );
    assert_eq!(
        events[3]["usageMetadata"].get_u64("totalTokenCount"),
        Some(20)
    );
    assert_eq!(encode_gemini(&[Piece::Done, Piece::Done], true), "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"modelVersion\":\"\",\"responseId\":\"\"}]");
}

#[test]
fn chat_stream_becomes_gemini_events() {
    let chat = concat!(
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t1\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"2}\"}}]}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"t2\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{\\\"cut\"}}]}}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"id\":\"c\",\"model\":\"m\",\"created\":1,\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n",
        "data: [DONE]\n\n",
    );
    let pieces = decode(Dialect::Chat, chat);
    let gemini = encode_gemini(&pieces, false);
    let events: Vec<OwnedValue> = payloads(&gemini)
        .iter()
        .map(|p| value(p.as_bytes()))
        .collect();
    assert_eq!(events.len(), 4, "{gemini}");
    assert_eq!(
        events[0]["candidates"][0]["content"]["parts"][0].get_str("text"),
        Some("Hello")
    );
    assert_eq!(events[0].get_str("responseId"), Some("c"));
    assert_eq!(events[0].get_str("modelVersion"), Some("m"));
    let call = &events[1]["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call.get_str("id"), Some("t1"));
    assert_eq!(
        call["args"].get_u64("a"),
        Some(2),
        "fragments joined into one call"
    );
    let cut = &events[2]["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(cut.get_str("name"), Some("g"));
    assert_eq!(
        cut["args"].encode(),
        "{}",
        "arguments that are not JSON go as {{}}"
    );
    let last = &events[3];
    assert_eq!(last["candidates"][0].get_str("finishReason"), Some("STOP"));
    assert_eq!(last["usageMetadata"].get_u64("promptTokenCount"), Some(3));
    assert_eq!(
        last["usageMetadata"].get_u64("candidatesTokenCount"),
        Some(4)
    );
    // Decoded again, the finish says tool_calls, as the calls before it do.
    let pieces = decode(Dialect::Gemini, &gemini);
    assert!(pieces.contains(&Piece::Finish {
        reason: "tool_calls".into(),
        stop_sequence: None
    }));
}

#[test]
fn encoder_holds_the_finish_for_the_usage_and_ends_once() {
    let mut encoder = EventEncoder::new(false);
    let mut out = Vec::new();
    encoder.encode(&Piece::Text("x".into()), &mut out);
    let after_text = out.len();
    encoder.encode(
        &Piece::Finish {
            reason: "length".into(),
            stop_sequence: None,
        },
        &mut out,
    );
    assert_eq!(out.len(), after_text, "the finish waits for the usage");
    encoder.encode(
        &Piece::Usage {
            input: 1,
            output: 2,
        },
        &mut out,
    );
    let text = String::from_utf8(out.clone()).expect("UTF-8");
    assert!(text.contains(r#""finishReason":"MAX_TOKENS""#), "{text}");
    assert!(text.contains(r#""totalTokenCount":3"#), "{text}");
    let ended = out.len();
    encoder.encode(&Piece::Done, &mut out);
    encoder.encode(&Piece::Done, &mut out);
    assert_eq!(out.len(), ended, "nothing is owed after the last event");

    // An in-band error ends the stream: no finish follows it.
    let mut encoder = EventEncoder::new(true);
    let mut out = Vec::new();
    encoder.encode(&Piece::Error("upstream broke".into()), &mut out);
    encoder.encode(&Piece::Done, &mut out);
    let events = value(&out);
    assert_eq!(events.as_array().map(Vec::len), Some(1));
    assert_eq!(
        events[0]["error"].get_str("message"),
        Some("upstream broke")
    );
    let mut decoded = Vec::new();
    EventDecoder::default().decode(&events[0].encode().into_bytes(), &mut decoded);
    assert_eq!(decoded, [Piece::Error("upstream broke".into())]);
}

#[test]
fn sse_events_re_frame_as_an_array() {
    let mut out = Vec::new();
    let events = payloads(GEMINI_STREAM);
    for (i, payload) in events.iter().enumerate() {
        super::array_element(payload.as_bytes(), i == 0, &mut out);
    }
    super::array_close(events.is_empty(), &mut out);
    let array = value(&out);
    assert_eq!(array.as_array().map(Vec::len), Some(4));
    let mut empty = Vec::new();
    super::array_close(true, &mut empty);
    assert_eq!(empty, b"[]");
}
