use super::*;
use crate::dialect::Dialect;

fn parse(text: &str) -> Result<RequestBody, AppError> {
    RequestBody::parse(Bytes::copy_from_slice(text.as_bytes()), Dialect::Chat)
}

#[test]
fn reads_model_and_stream() {
    let body = parse(r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#)
        .unwrap();
    assert_eq!(body.model, "m");
    assert!(body.stream);
    assert!(!body.client_wants_usage);
    assert!(!body.multi_choice_or_tools);
}

#[test]
fn invalid_json_says_what_and_where_and_an_empty_body_says_so() {
    let error = parse(r#"{"model":"m","messages":[{"a":1}}"#).unwrap_err();
    assert_eq!(
        error.message(),
        "The request body is not valid JSON: unexpected '}' at line 1, column 33 (byte 32)"
    );
    for empty in ["", " \r\n"] {
        let error = parse(empty).unwrap_err();
        assert_eq!(
            (error.code(), error.status(), error.message().as_str()),
            (
                "invalid_json",
                400,
                "The request body is empty; expected a JSON object"
            )
        );
    }
}

#[test]
fn invalid_bodies_are_refused() {
    assert!(matches!(parse("{not json"), Err(AppError::InvalidJson(_))));
    assert!(matches!(
        parse(r#"{"messages":[]}"#),
        Err(AppError::MissingModel)
    ));
    assert!(matches!(
        parse(r#"{"model":5}"#),
        Err(AppError::MissingModel)
    ));
    assert!(matches!(parse(r#"["model"]"#), Err(AppError::MissingModel)));
    assert!(matches!(
        parse(r#"{"model":"a","model":"b"}"#),
        Err(AppError::InvalidJson(_))
    ));
}

#[test]
fn upstream_body_renames_the_model_and_asks_for_usage() {
    let body =
        parse(r#"{ "model" : "alias", "stream": true, "messages": [], "temperature": 0.70 }"#)
            .unwrap();
    let out = body.for_upstream("real-model");
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{ "model" : "real-model", "stream": true, "messages": [], "temperature": 0.70 ,"stream_options":{"include_usage":true}}"#
    );
    let same = parse(r#"{"model":"m","stream":false}"#).unwrap();
    assert_eq!(
        &same.for_upstream("m")[..],
        br#"{"model":"m","stream":false}"#,
        "untouched when nothing changes"
    );
}

#[test]
fn existing_stream_options_gain_include_usage() {
    let body =
        parse(r#"{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":false}}"#)
            .unwrap();
    let mut out = body.for_upstream("m").to_vec();
    let value = simd_json::to_owned_value(&mut out).unwrap();
    assert_eq!(
        value["stream_options"]["include_usage"].as_bool(),
        Some(true)
    );
    assert_eq!(
        value["stream_options"]["continuous_usage_stats"].as_bool(),
        Some(false)
    );
}

#[test]
fn prefill_appends_the_delivered_text_and_extra_fields() {
    let body = parse(r#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}"#).unwrap();
    let out = body
        .for_prefill(
            "m2",
            "Hello \"world\"",
            &[("continue_final_message".into(), "true".into())],
        )
        .unwrap();
    let mut bytes = out.to_vec();
    let value = simd_json::to_owned_value(&mut bytes).unwrap();
    assert_eq!(value["model"].as_str(), Some("m2"));
    let messages = value["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["role"].as_str(), Some("assistant"));
    assert_eq!(messages[1]["content"].as_str(), Some("Hello \"world\""));
    assert_eq!(value["continue_final_message"].as_bool(), Some(true));
}

/// Fuzz-style: mutated and truncated bodies never panic; whatever parses gives a body
/// that is still valid JSON with the model renamed.
#[test]
fn mutated_bodies_never_panic_and_rewrites_stay_valid() {
    let seeds: [&[u8]; 3] = [
        br#"{"model":"m","stream":true,"messages":[{"role":"user","content":"a \"q\" \u00e9"}],"n":2}"#,
        br#"{ "stream_options" : {"include_usage":false}, "model" : "m" , "stream" : true , "messages":[] }"#,
        br#"{"model":"m","tools":[{"type":"function"}],"x":[1,2,{"y":null}],"z":-1.5e10}"#,
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let noise = b"{}[]\":,\\ ae0-9\x00\xff";
    for _ in 0..20_000 {
        let body = crate::mutate::mutated(&mut rng, &seeds, noise);
        let Ok(parsed) = RequestBody::parse(Bytes::from(body), Dialect::Chat) else {
            continue;
        };
        let mut out = parsed.for_upstream("renamed").to_vec();
        let value = simd_json::to_owned_value(&mut out).expect("a rewritten body is still JSON");
        assert_eq!(value["model"].as_str(), Some("renamed"));
    }
}

#[test]
fn the_fields_routing_reads_whatever_their_order() {
    let body = parse(
        r#"{"max_tokens":50,"tools":[],"stream_options":{"include_usage":true},
            "n":1,"stream":true,"previous_response_id":"resp_1","model":"m",
            "max_completion_tokens":70}"#,
    )
    .unwrap();
    assert_eq!((body.model.as_str(), body.stream), ("m", true));
    assert!(body.client_wants_usage);
    assert!(
        !body.multi_choice_or_tools,
        "an empty tools list is no tools"
    );
    assert_eq!(
        body.max_tokens,
        Some(70),
        "max_completion_tokens comes first"
    );
    assert_eq!(body.previous_response_id.as_deref(), Some("resp_1"));

    let tools = parse(r#"{"model":"m","tools":[{"type":"function"}]}"#).unwrap();
    assert!(tools.multi_choice_or_tools);
    let choices = parse(r#"{"n":3,"model":"m","max_output_tokens":9}"#).unwrap();
    assert!(choices.multi_choice_or_tools);
    assert_eq!(choices.max_tokens, Some(9));
    assert!(matches!(
        parse(r#"{"model":7}"#),
        Err(AppError::MissingModel)
    ));
    assert!(matches!(parse("[1]"), Err(AppError::MissingModel)));
}

#[test]
fn gemini_and_converse_settings_are_read_from_their_config_objects() {
    let routed = Some(("gemini-2.0-flash", true));
    let gemini = RequestBody::parse_routed(
        Bytes::from_static(
            br#"{"contents":[],"toolConfig":{},"generationConfig":{"candidateCount":2,"maxOutputTokens":64}}"#,
        ),
        Dialect::Gemini,
        routed,
    )
    .unwrap();
    assert_eq!(
        (gemini.model.as_str(), gemini.stream),
        ("gemini-2.0-flash", true)
    );
    assert!(gemini.multi_choice_or_tools);
    assert_eq!(gemini.max_tokens, Some(64));
    let converse = RequestBody::parse_routed(
        Bytes::from_static(br#"{"messages":[],"inferenceConfig":{"maxTokens":32}}"#),
        Dialect::Converse,
        Some(("m", false)),
    )
    .unwrap();
    assert_eq!(converse.max_tokens, Some(32));
    assert!(!converse.multi_choice_or_tools);
}

#[test]
fn repeated_routed_fields_are_refused_however_spelled() {
    for text in [
        r#"{"model":"m","stream":false,"stream":true}"#,
        r#"{"model":"a","mod\u0065l":"b"}"#,
        r#"{"model":"m","messages":[],"messages":[]}"#,
    ] {
        let error = parse(text).unwrap_err();
        assert!(
            error.message().contains("duplicate key"),
            "{text}: {}",
            error.message()
        );
    }
}

#[test]
fn an_escaped_model_key_is_still_renamed_and_usage_goes_before_the_brace() {
    let body = parse(r#"{"mod\u0065l":"alias","stream":true,"messages":[]}  "#).unwrap();
    assert_eq!(body.model, "alias");
    assert_eq!(
        std::str::from_utf8(&body.for_upstream("real")).unwrap(),
        r#"{"mod\u0065l":"real","stream":true,"messages":[],"stream_options":{"include_usage":true}}  "#
    );
}
