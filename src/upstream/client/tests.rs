//! Provider paths and request heads, built from a parsed config: no sockets.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::*;

const CONFIG: &str = r#"
[[upstream]]
name = "gemini"
kind = "gemini"
api_key = "AIza-up"

[[upstream]]
name = "bedrock"
kind = "bedrock"
region = "eu-west-3"
aws_access_key_id_env = "AWS_ID"
aws_secret_access_key_env = "AWS_SECRET"

[[upstream]]
name = "bedrock-temporary"
kind = "bedrock"
base_url = "http://127.0.0.1:9010/proxy"
region = "us-east-1"
aws_access_key_id_env = "AWS_ID"
aws_secret_access_key_env = "AWS_SECRET"
aws_session_token_env = "AWS_TOKEN"

[[upstream]]
name = "cohere"
kind = "cohere"
api_key = "co-up"

[[model]]
name = "m"
targets = [{ upstream = "gemini" }]
"#;

const GEMINI: UpstreamId = UpstreamId(0);
const BEDROCK: UpstreamId = UpstreamId(1);
const BEDROCK_TEMPORARY: UpstreamId = UpstreamId(2);
const COHERE: UpstreamId = UpstreamId(3);

/// A Bedrock model id with the `:` the AWS SDKs escape.
const BEDROCK_MODEL: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

fn config() -> Config {
    let env = |name: &str| match name {
        "AWS_ID" => Some("AKIDUPSTREAM".to_string()),
        "AWS_SECRET" => Some("upstream-secret".to_string()),
        "AWS_TOKEN" => Some("session-token".to_string()),
        _ => None,
    };
    crate::config::parse(CONFIG, &env).expect("test config")
}

fn client() -> Rc<UpstreamClient> {
    UpstreamClient::new(
        Arc::new(config()),
        vec![None; 4],
        Arc::new(AtomicU64::new(0)),
    )
}

/// The head `client` writes for a request to `upstream`, as text.
fn head(client: &UpstreamClient, upstream: UpstreamId, path: &str, stream: bool) -> String {
    let request = UpstreamRequest {
        upstream,
        path,
        body: Bytes::from_static(br#"{"messages":[]}"#),
        request_id: "req-1",
        stream,
        head_within: None,
    };
    String::from_utf8(client.encode_head(&request).to_vec()).unwrap()
}

/// `(name, value)` of each header line of a head.
fn header_lines(head: &str) -> Vec<(&str, &str)> {
    head.lines()
        .skip(1)
        .filter_map(|line| line.split_once(": "))
        .collect()
}

#[test]
fn each_kind_has_its_operation_path() {
    let config = config();
    let gemini = config.upstream(GEMINI);
    assert_eq!(
        operation_path(gemini, "/chat/completions", "gemini-2.5-flash", false),
        "/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        operation_path(gemini, "/chat/completions", "gemini-2.5-flash", true),
        "/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        "streams asked as SSE"
    );
    let bedrock = config.upstream(BEDROCK);
    assert_eq!(
        operation_path(bedrock, "/chat/completions", BEDROCK_MODEL, false),
        "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    );
    assert_eq!(
        operation_path(bedrock, "/chat/completions", BEDROCK_MODEL, true),
        "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"
    );
    let cohere = config.upstream(COHERE);
    for stream in [false, true] {
        assert_eq!(
            operation_path(cohere, "/chat/completions", "command-a-03-2025", stream),
            "/chat",
            "the stream is asked in the body"
        );
    }
}

#[test]
fn gemini_and_cohere_heads_carry_their_keys() {
    let client = client();
    let gemini = head(
        &client,
        GEMINI,
        "/models/g:streamGenerateContent?alt=sse",
        true,
    );
    assert!(
        gemini.starts_with("POST /v1beta/models/g:streamGenerateContent?alt=sse HTTP/1.1\r\n"),
        "{gemini}"
    );
    let headers = header_lines(&gemini);
    assert!(headers.contains(&("x-goog-api-key", "AIza-up")), "{gemini}");
    assert!(headers.contains(&("accept", "text/event-stream")));
    assert!(!headers.iter().any(|(name, _)| *name == "authorization"));

    let cohere = head(&client, COHERE, "/chat", false);
    assert!(cohere.starts_with("POST /v2/chat HTTP/1.1\r\n"), "{cohere}");
    let headers = header_lines(&cohere);
    assert!(headers.contains(&("authorization", "Bearer co-up")));
    assert!(headers.contains(&("accept", "application/json")));
}

#[test]
fn bedrock_heads_are_signed_for_the_region_and_verify() {
    let client = client();
    let path = operation_path(client.config.upstream(BEDROCK), "", BEDROCK_MODEL, true);
    let text = head(&client, BEDROCK, &path, true);
    let (request_line, _) = text.split_once("\r\n").unwrap();
    assert_eq!(
        request_line,
        format!("POST {path} HTTP/1.1"),
        "no base path: the host is the region's"
    );
    let headers = header_lines(&text);
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| *value)
    };
    assert_eq!(
        value("host"),
        Some("bedrock-runtime.eu-west-3.amazonaws.com")
    );
    assert_eq!(value("accept"), Some(EVENT_STREAM));
    let date = value("x-amz-date").expect("x-amz-date");
    assert_eq!((date.len(), &date[8..9], &date[15..]), (16, "T", "Z"));
    let authorization = value("authorization").expect("authorization");
    let day = &date[..8];
    let expected = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDUPSTREAM/{day}/eu-west-3/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
    );
    assert!(authorization.starts_with(&expected), "{authorization}");
    assert_eq!(value("x-amz-security-token"), None);

    // What AWS would check: the signature over this very head and body.
    let signed = sigv4::Request {
        method: "POST",
        path: &path,
        query: "",
        headers: &headers,
        body: br#"{"messages":[]}"#,
    };
    let secret = |id: &str| (id == "AKIDUPSTREAM").then(|| "upstream-secret".to_string());
    let verified = sigv4::verify(&signed, secret, SystemTime::now()).expect("a valid signature");
    assert_eq!(
        (verified.region.as_str(), verified.service.as_str()),
        ("eu-west-3", "bedrock")
    );
    let wrong = |_: &str| Some("another-secret".to_string());
    assert_eq!(
        sigv4::verify(&signed, wrong, SystemTime::now()),
        Err(sigv4::SignatureError::Mismatch)
    );
}

#[test]
fn temporary_bedrock_credentials_send_and_sign_their_token() {
    let client = client();
    let text = head(&client, BEDROCK_TEMPORARY, "/model/m/converse", false);
    assert!(
        text.starts_with("POST /proxy/model/m/converse HTTP/1.1\r\n"),
        "{text}"
    );
    let headers = header_lines(&text);
    assert!(headers.contains(&("x-amz-security-token", "session-token")));
    assert!(headers.contains(&("accept", "application/json")));
    let signed = sigv4::Request {
        method: "POST",
        path: "/proxy/model/m/converse",
        query: "",
        headers: &headers,
        body: br#"{"messages":[]}"#,
    };
    let secret = |_: &str| Some("upstream-secret".to_string());
    let verified = sigv4::verify(&signed, secret, SystemTime::now()).expect("a valid signature");
    assert_eq!(verified.region, "us-east-1");
}
