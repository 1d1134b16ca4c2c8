//! The mock's canned responses, built once at start-up and shared by every thread: OpenAI chat
//! completions and Anthropic Messages, each whole and as a stream, with the same text.

/// Id, timestamp and model shared by every body, as a real upstream would repeat them.
const PREFIX: &str = r#""id":"chatcmpl-bench01","created":1700000000,"model":"gpt-4o-mini""#;
/// The same for Anthropic's message objects.
const MESSAGE_PREFIX: &str =
    r#""id":"msg_bench01","type":"message","role":"assistant","model":"claude-sonnet-4-5""#;
/// One streamed piece of text, in both dialects.
const DELTA_TEXT: &str = " hello";

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
    /// Anthropic's non-stream `message`.
    pub message: &'static [u8],
    /// `message_start` and the text block's `content_block_start`, each its own chunk.
    pub message_start: &'static [u8],
    pub block_start: &'static [u8],
    /// One `content_block_delta` with a `text_delta`.
    pub block_delta: &'static [u8],
    pub block_stop: &'static [u8],
    /// `message_stop` plus the chunked body's terminator.
    pub message_stop: &'static [u8],
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
            r#"{{{PREFIX},"object":"chat.completion.chunk","choices":[{{"index":0,"delta":{{"content":"{DELTA_TEXT}"}},"finish_reason":null}}]}}"#
        );
        let message = format!(
            r#"{{{MESSAGE_PREFIX},"content":[{{"type":"text","text":"Hello! How can I help you today?"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":12,"output_tokens":9}}}}"#
        );
        let message_start = format!(
            r#"{{"type":"message_start","message":{{{MESSAGE_PREFIX},"content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":12,"output_tokens":1}}}}}}"#
        );
        let block_delta = format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{DELTA_TEXT}"}}}}"#
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
            message: leak(json_response("200 OK", &message)),
            message_start: leak(named_chunk("message_start", &message_start)),
            block_start: leak(named_chunk(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            )),
            block_delta: leak(named_chunk("content_block_delta", &block_delta)),
            block_stop: leak(named_chunk(
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            )),
            message_stop: leak(format!(
                "{}0\r\n\r\n",
                named_chunk("message_stop", r#"{"type":"message_stop"}"#)
            )),
        }
    }

    /// The head of every streamed answer, with `connection: close` when the client asked.
    pub fn stream_head(&self, close: bool) -> &'static [u8] {
        if close {
            self.stream_head_close
        } else {
            self.stream_head
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

    /// Anthropic's `message_delta`: the stop reason and the output tokens of the whole answer.
    pub fn message_delta(&self, output_tokens: usize) -> Vec<u8> {
        named_chunk(
            "message_delta",
            &format!(
                r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"output_tokens":{output_tokens}}}}}"#
            ),
        )
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
    chunk(&format!("data: {payload}\n\n"))
}

/// `event: <name>\ndata: <payload>\n\n`, as Anthropic names every event, as one chunk.
fn named_chunk(name: &str, payload: &str) -> String {
    chunk(&format!("event: {name}\ndata: {payload}\n\n"))
}

fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
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

    #[test]
    fn anthropic_events_are_named_and_framed() {
        let responses = Responses::build();
        let delta = std::str::from_utf8(responses.block_delta).unwrap();
        let (size, rest) = delta.split_once("\r\n").unwrap();
        assert_eq!(usize::from_str_radix(size, 16).unwrap() + 2, rest.len());
        assert!(
            rest.starts_with("event: content_block_delta\ndata: {\"type\":\"content_block_delta\"")
        );
        assert!(rest.contains(r#""text_delta","text":" hello""#));
        let stop = String::from_utf8(responses.message_delta(20)).unwrap();
        assert!(
            stop.contains(r#""stop_reason":"end_turn""#) && stop.contains(r#""output_tokens":20}"#)
        );
        assert!(std::str::from_utf8(responses.message_stop)
            .unwrap()
            .ends_with("data: {\"type\":\"message_stop\"}\n\n\r\n0\r\n\r\n"));
        let message = std::str::from_utf8(responses.message).unwrap();
        assert!(
            message.contains(r#""type":"message""#)
                && message.contains(r#""stop_reason":"end_turn""#)
        );
    }
}
