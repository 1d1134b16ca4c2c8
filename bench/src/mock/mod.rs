//! `bench-mock`: an OpenAI-compatible, Anthropic Messages, Gemini, Cohere v2 and Bedrock Converse
//! upstream that answers from canned bytes, fast enough that it is never the bottleneck of a
//! benchmark. One monoio runtime per thread, each with its own SO_REUSEPORT listener on the same
//! port; keep-alive; no JSON parsing.
//!
//! Run: `bench-mock --listen 127.0.0.1:9001 --threads 2 --stream-chunks 20 --stream-interval-ms 0`

mod connection;
mod request;
mod responses;

use std::net::SocketAddr;
use std::sync::Barrier;
use std::time::Duration;

use monoio::net::{ListenerOpts, TcpListener};

use crate::args::{parse_or_exit, Args};
use crate::runtime::{available_cores, run_on_threads};
use request::StreamShape;
use responses::Responses;

const USAGE: &str = "\
bench-mock: fast OpenAI-compatible, Anthropic, Gemini, Cohere and Bedrock mock upstream

  --listen ADDR             address to listen on; port 0 picks one (default 127.0.0.1:9001)
  --threads N               threads, each with its own listener (default: cores)
  --stream-chunks N         content deltas per streamed answer (default 20)
  --stream-interval-ms MS   pause before each delta (default 0)

POST /v1/chat/completions answers a fixed chat.completion, or with \"stream\": true an SSE stream
(deltas, finish, usage when stream_options.include_usage, [DONE]). POST /v1/messages answers like
Anthropic: a fixed message, or streamed message_start, content_block_start, the same deltas as
text_delta events, content_block_stop, message_delta (end_turn, usage), message_stop.
POST /v1beta/models/{m}:generateContent answers like Gemini; :streamGenerateContent?alt=sse
streams the deltas as SSE events, the last with finishReason STOP and usage. POST /v2/chat
answers like Cohere v2, or with \"stream\": true message-start, content-start, the deltas as
content-delta, content-end, message-end (COMPLETE, usage). POST /model/{id}/converse answers
like Bedrock; /model/{id}/converse-stream sends AWS event-stream frames: messageStart, the
deltas as contentBlockDelta, contentBlockStop, messageStop (end_turn), metadata (usage); no
SigV4 check. POST /v1/embeddings answers a fixed embedding. A path prefix
/s/<chunks>/<interval_ms> overrides the stream shape per request.
Prints {\"event\":\"listening\",...} on stdout once every thread listens.";

const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

struct MockConfig {
    listen: SocketAddr,
    threads: usize,
    shape: StreamShape,
}

impl MockConfig {
    fn from_args(args: &mut Args) -> Result<Self, String> {
        let threads = args.take("threads", available_cores())?;
        if threads == 0 {
            return Err("--threads must be at least 1".into());
        }
        Ok(Self {
            listen: args.take("listen", SocketAddr::from(([127, 0, 0, 1], 9001)))?,
            threads,
            shape: StreamShape {
                chunks: args.take("stream-chunks", 20)?,
                interval_ms: args.take("stream-interval-ms", 0)?,
            },
        })
    }
}

pub fn main() {
    let config = parse_or_exit(USAGE, MockConfig::from_args);
    let listen = resolve_port(config.listen).unwrap_or_else(|error| fail(&config.listen, &error));
    let responses: &'static Responses = Box::leak(Box::new(Responses::build()));
    let bound = Barrier::new(config.threads);
    let opts = ListenerOpts::new().reuse_port(true).backlog(4096);
    run_on_threads("mock", config.threads, |_, driver| {
        let (bound, shape, threads) = (&bound, config.shape, config.threads);
        async move {
            // Inside the runtime: the epoll driver registers the socket with the current thread.
            let listener = TcpListener::bind_with_config(listen, &opts)
                .unwrap_or_else(|error| fail(&listen, &error));
            if bound.wait().is_leader() {
                println!(
                    r#"{{"event":"listening","addr":"{listen}","threads":{threads},"driver":"{driver}"}}"#
                );
            }
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        drop(monoio::spawn(connection::serve(stream, responses, shape)))
                    }
                    // Out of descriptors, most likely: back off instead of spinning.
                    Err(_) => monoio::time::sleep(ACCEPT_BACKOFF).await,
                }
            }
        }
    });
}

/// Port 0 is resolved once so that every thread's listener shares the same port.
fn resolve_port(listen: SocketAddr) -> std::io::Result<SocketAddr> {
    if listen.port() != 0 {
        return Ok(listen);
    }
    std::net::TcpListener::bind(listen)?.local_addr()
}

fn fail(listen: &SocketAddr, error: &std::io::Error) -> ! {
    eprintln!("bench-mock: cannot listen on {listen}: {error}");
    std::process::exit(1);
}
