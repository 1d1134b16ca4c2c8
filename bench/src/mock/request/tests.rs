use super::{parse, Parsed, Reply, Request, StreamShape};

const DEFAULT: StreamShape = StreamShape {
    chunks: 20,
    interval_ms: 0,
};

fn request(path: &str, body: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\n{extra}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn complete(raw: &str) -> Request {
    match parse(raw.as_bytes(), DEFAULT) {
        Parsed::Complete(request) => request,
        Parsed::Partial => panic!("partial"),
        Parsed::Invalid => panic!("invalid"),
    }
}

#[test]
fn chat_and_stream() {
    let raw = request(
        "/v1/chat/completions",
        r#"{"model":"m","stream":false}"#,
        "",
    );
    assert_eq!(
        complete(&raw),
        Request {
            reply: Reply::Chat,
            close: false,
            length: raw.len()
        }
    );
    let body = r#"{"model":"m","stream_options":{"include_usage": true}, "stream" : true}"#;
    let streamed = complete(&request(
        "/v1/chat/completions",
        body,
        "connection: close\r\n",
    ));
    assert_eq!(
        streamed.reply,
        Reply::ChatStream {
            shape: DEFAULT,
            include_usage: true
        }
    );
    assert!(streamed.close);
}

#[test]
fn stream_shape_from_path() {
    let raw = request("/s/64/20/v1/chat/completions", r#"{"stream":true}"#, "");
    let shape = StreamShape {
        chunks: 64,
        interval_ms: 20,
    };
    assert_eq!(
        complete(&raw).reply,
        Reply::ChatStream {
            shape,
            include_usage: false
        }
    );
    assert_eq!(
        complete(&request("/s/x/20/v1/chat/completions", "{}", "")).reply,
        Reply::BadRequest
    );
}

#[test]
fn anthropic_messages() {
    let raw = request(
        "/v1/messages",
        r#"{"model":"m","max_tokens":8,"messages":[]}"#,
        "",
    );
    assert_eq!(complete(&raw).reply, Reply::Message);
    let body = r#"{"model":"m","max_tokens":8,"messages":[],"stream": true}"#;
    let shape = StreamShape {
        chunks: 3,
        interval_ms: 5,
    };
    assert_eq!(
        complete(&request("/s/3/5/v1/messages", body, "")).reply,
        Reply::MessageStream { shape }
    );
    let get = "GET /v1/messages HTTP/1.1\r\n\r\n";
    assert_eq!(complete(get).reply, Reply::MethodNotAllowed);
}

#[test]
fn other_routes() {
    assert_eq!(
        complete(&request("/v1/embeddings", "{}", "")).reply,
        Reply::Embeddings
    );
    assert_eq!(
        complete(&request("/v1/nope", "{}", "")).reply,
        Reply::NotFound
    );
    let get = "GET /v1/chat/completions HTTP/1.1\r\n\r\n";
    assert_eq!(complete(get).reply, Reply::MethodNotAllowed);
}

#[test]
fn partial_and_pipelined() {
    let raw = request("/v1/chat/completions", r#"{"model":"m"}"#, "");
    assert!(matches!(
        parse(&raw.as_bytes()[..raw.len() - 1], DEFAULT),
        Parsed::Partial
    ));
    let two = format!("{raw}{raw}");
    assert_eq!(complete(&two).length, raw.len());
    assert!(matches!(
        parse(b"\x00\x01 nonsense\r\n\r\n", DEFAULT),
        Parsed::Invalid
    ));
}

#[test]
fn gemini_routes() {
    let body = r#"{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}"#;
    let whole = "/v1beta/models/gemini-2.0-flash:generateContent";
    assert_eq!(complete(&request(whole, body, "")).reply, Reply::Gemini);
    let shape = StreamShape {
        chunks: 4,
        interval_ms: 0,
    };
    let streamed = "/s/4/0/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse";
    assert_eq!(
        complete(&request(streamed, body, "")).reply,
        Reply::GeminiStream { shape }
    );
    // The JSON array stream (no `alt=sse`) is not spoken: refused, not answered as SSE.
    let array = "/v1beta/models/m:streamGenerateContent";
    assert_eq!(complete(&request(array, body, "")).reply, Reply::BadRequest);
    for path in [
        "/v1beta/models/:generateContent",
        "/v1beta/models/m:countTokens",
    ] {
        assert_eq!(complete(&request(path, body, "")).reply, Reply::NotFound);
    }
    let get = format!("GET {whole} HTTP/1.1\r\n\r\n");
    assert_eq!(complete(&get).reply, Reply::MethodNotAllowed);
}

#[test]
fn cohere_and_converse_routes() {
    let chat = r#"{"model":"command-r","messages":[]}"#;
    assert_eq!(
        complete(&request("/v2/chat", chat, "")).reply,
        Reply::Cohere
    );
    let streamed = r#"{"model":"command-r","messages":[],"stream":true}"#;
    assert_eq!(
        complete(&request("/v2/chat", streamed, "")).reply,
        Reply::CohereStream { shape: DEFAULT }
    );
    let model = "/model/anthropic.claude-3-haiku-20240307-v1%3A0";
    assert_eq!(
        complete(&request(&format!("{model}/converse"), "{}", "")).reply,
        Reply::Converse
    );
    assert_eq!(
        complete(&request(
            &format!("/s/2/1{model}/converse-stream"),
            "{}",
            ""
        ))
        .reply,
        Reply::ConverseStream {
            shape: StreamShape {
                chunks: 2,
                interval_ms: 1
            }
        }
    );
    assert_eq!(
        complete(&request("/model/converse-stream", "{}", "")).reply,
        Reply::NotFound
    );
}
