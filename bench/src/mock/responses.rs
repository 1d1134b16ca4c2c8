//! The mock's canned responses, built once at start-up and shared by every thread.

/// Id, timestamp and model shared by every body, as a real upstream would repeat them.
const PREFIX: &str = r#""id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini""#;

/// Complete HTTP responses and stream events, leaked so that writes can borrow them forever.
pub struct Responses {
    pub chat: &'static [u8],
    pub embeddings: &'static [u8],
    pub not_found: &'static [u8],
    pub method_not_allowed: &'static [u8],
    pub bad_request: &'static [u8],
    pub stream_head: &'static [u8],
    pub stream_head_close: &'static [u8],
    /// One content delta as a chunk of the chunked body.
    pub delta: &'static [u8],
    pub finish: &'static [u8],
    /// `data: [DONE]` plus the chunked body's terminator.
    pub done: &'static [u8],
}

impl Responses {
    pub fn build() -> Self {
        let chat = format!(
            r#"{{{PREFIX},"object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":"Hello! How can I help you today?"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}}}"#
        );
        let embeddings = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023,-0.0093,0.0159,-0.0028]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}"#;
        let error = |message: &str| {
            format!(r#"{{"error":{{"message":"{message}","type":"invalid_request_error"}}}}"#)
        };
        let delta = format!(
            r#"{{{PREFIX},"object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":" hello"}},"finish_reason":null}}]}}"#
        );
        let finish = format!(
            r#"{{{PREFIX},"object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{}},"finish_reason":"stop"}}]}}"#
        );
        let stream_head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n";
        Self {
            chat: leak(json_response("200 OK", &chat)),
            embeddings: leak(json_response("200 OK", embeddings)),
            not_found: leak(json_response("404 Not Found", &error("not found"))),
            method_not_allowed: leak(json_response(
                "405 Method Not Allowed",
                &error("method not allowed"),
            )),
            bad_request: leak(json_response("400 Bad Request", &error("bad request"))),
            stream_head: leak(format!("{stream_head}\r\n")),
            stream_head_close: leak(format!("{stream_head}connection: close\r\n\r\n")),
            delta: leak(sse_chunk(&delta)),
            finish: leak(sse_chunk(&finish)),
            done: leak(format!("{}0\r\n\r\n", sse_chunk("[DONE]"))),
        }
    }

    /// The usage-only event sent when the request asked for `stream_options.include_usage`.
    pub fn usage_event(&self, completion_tokens: usize) -> Vec<u8> {
        let total = completion_tokens + 12;
        sse_chunk(&format!(
            r#"{{{PREFIX},"object":"chat.completion.chunk","choices":[],"usage":{{"prompt_tokens":12,"completion_tokens":{completion_tokens},"total_tokens":{total}}}}}"#
        ))
        .into_bytes()
    }
}

fn json_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// `data: <payload>\n\n` framed as one chunk of a chunked body.
fn sse_chunk(payload: &str) -> String {
    let event = format!("data: {payload}\n\n");
    format!("{:x}\r\n{event}\r\n", event.len())
}

fn leak(text: String) -> &'static [u8] {
    Box::leak(text.into_bytes().into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::Responses;

    #[test]
    fn chat_body_is_realistic_size() {
        let responses = Responses::build();
        let text = std::str::from_utf8(responses.chat).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!((200..=300).contains(&body.len()), "{}", body.len());
    }

    #[test]
    fn chunks_are_framed() {
        let responses = Responses::build();
        let text = std::str::from_utf8(responses.delta).unwrap();
        let (size, rest) = text.split_once("\r\n").unwrap();
        assert_eq!(usize::from_str_radix(size, 16).unwrap() + 2, rest.len());
        assert!(rest.starts_with("data: {") && rest.ends_with("\n\n\r\n"));
        assert!(std::str::from_utf8(responses.done)
            .unwrap()
            .ends_with("data: [DONE]\n\n\r\n0\r\n\r\n"));
    }
}
