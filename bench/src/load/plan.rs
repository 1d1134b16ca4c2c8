//! What a load run does: flags parsed into a `Plan` shared (read-only, leaked) by every thread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::runtime::available_cores;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Non-streaming requests in a closed loop.
    Plain,
    /// Streamed requests in a closed loop.
    Stream,
    /// One stream per connection, all started together and held to the end.
    SlowStreams,
    /// One non-streaming request per connection, then every connection held open, idle.
    Idle,
}

impl std::str::FromStr for Mode {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "plain" => Ok(Self::Plain),
            "stream" => Ok(Self::Stream),
            "slow-streams" => Ok(Self::SlowStreams),
            "idle" => Ok(Self::Idle),
            _ => Err(()),
        }
    }
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Stream => "stream",
            Self::SlowStreams => "slow-streams",
            Self::Idle => "idle",
        }
    }

    /// Whether its requests ask for a stream.
    pub fn streams(self) -> bool {
        matches!(self, Self::Stream | Self::SlowStreams)
    }

    /// Whether each connection makes one request only (and is not a closed loop).
    pub fn once_per_connection(self) -> bool {
        matches!(self, Self::SlowStreams | Self::Idle)
    }
}

/// The dialect the client speaks: its default path, body and key header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// OpenAI chat completions.
    Chat,
    /// Anthropic Messages.
    Messages,
    /// Google Gemini (`generateContent`; streams as `streamGenerateContent?alt=sse`).
    Gemini,
    /// Cohere v2 chat.
    Cohere,
}

impl std::str::FromStr for Api {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text {
            "chat" => Ok(Self::Chat),
            "messages" => Ok(Self::Messages),
            "gemini" => Ok(Self::Gemini),
            "cohere" => Ok(Self::Cohere),
            _ => Err(()),
        }
    }
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Messages => "messages",
            Self::Gemini => "gemini",
            Self::Cohere => "cohere",
        }
    }

    /// Gemini names the model and whether to stream in the path, the others in the body.
    fn default_path(self, model: &str, stream: bool) -> String {
        match self {
            Self::Chat => "/v1/chat/completions".to_owned(),
            Self::Messages => "/v1/messages".to_owned(),
            Self::Gemini if stream => {
                format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
            }
            Self::Gemini => format!("/v1beta/models/{model}:generateContent"),
            Self::Cohere => "/v2/chat".to_owned(),
        }
    }
}

pub struct Plan {
    pub mode: Mode,
    pub api: Api,
    pub target: SocketAddr,
    pub path: String,
    pub concurrency: usize,
    pub threads: usize,
    pub request: &'static [u8],
    pub timeout: Duration,
    /// Data events a complete stream carries (chat: deltas, finish, `[DONE]`; Messages: every
    /// event through `message_stop`); 0 skips the check.
    pub expect_events: u64,
    pub gap_limit: Duration,
    /// Streams of `SlowStreams` wait for this moment, so that all are held at once.
    pub start_at: Instant,
    /// ... spread over this much time, as real clients do not arrive in the same microsecond.
    pub stagger: Duration,
    /// Requests started before this are not recorded.
    pub measure_from: Instant,
    /// No request starts after this.
    pub deadline: Instant,
    /// Requests left to start when the run is bounded by count.
    budget: Option<AtomicU64>,
    /// Print the request and exit instead of running (for another load generator to send).
    pub print_request: bool,
    /// `Idle`: how long the connections stay open, idle, once every one has had its answer.
    pub hold: Duration,
    /// `Idle`: threads whose connections have all had their answer (or failed).
    settled_threads: AtomicUsize,
}

impl Plan {
    pub fn from_args(args: &mut Args) -> Result<Self, String> {
        let mode: Mode = args
            .take("mode", Mode::Plain.name().to_owned())?
            .parse()
            .map_err(|()| "--mode must be plain, stream, slow-streams or idle")?;
        let concurrency: usize = args.take("concurrency", 1)?;
        if concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        let threads = args
            .take("threads", available_cores())?
            .clamp(1, concurrency);
        let api: Api = args
            .take("api", Api::Chat.name().to_owned())?
            .parse()
            .map_err(|()| "--api must be chat, messages, gemini or cohere")?;
        let model = args.take("model", "gpt-4o-mini".to_owned())?;
        let path = args.take("path", api.default_path(&model, mode.streams()))?;
        let api_key = args.take("api-key", "sk-bench".to_owned())?;
        let target = args.take("target", SocketAddr::from(([127, 0, 0, 1], 9001)))?;
        let duration = Duration::from_secs_f64(args.take("duration-s", 5.0)?);
        let warmup = Duration::from_secs_f64(args.take("warmup-s", 0.0)?);
        let ramp = Duration::from_millis(args.take("ramp-ms", 1000)?);
        let requests: u64 = args.take("requests", 0)?;
        let request = build_request(api, &target, &path, &model, &api_key, mode.streams());
        let now = Instant::now();
        let start_at = if mode == Mode::SlowStreams {
            now + ramp
        } else {
            now
        };
        let timeout = Duration::from_millis(args.take("timeout-ms", 30_000)?);
        Ok(Self {
            mode,
            api,
            target,
            path,
            concurrency,
            threads,
            request: Box::leak(request.into_boxed_slice()),
            timeout,
            expect_events: args.take("expect-events", 0)?,
            gap_limit: Duration::from_millis(args.take("gap-limit-ms", 200)?),
            start_at,
            stagger: Duration::from_millis(args.take("stagger-ms", 20)?),
            measure_from: start_at + warmup,
            deadline: match mode {
                Mode::SlowStreams | Mode::Idle => start_at + timeout,
                _ => start_at + warmup + duration,
            },
            budget: (requests > 0).then(|| AtomicU64::new(requests)),
            print_request: args.take("print-request", false)?,
            hold: Duration::from_secs_f64(args.take("hold-s", 5.0)?),
            settled_threads: AtomicUsize::new(0),
        })
    }

    /// Whether another request may start now; takes one from the count budget.
    pub fn may_start(&self) -> bool {
        if Instant::now() >= self.deadline {
            return false;
        }
        let Some(budget) = &self.budget else {
            return true;
        };
        budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }

    /// `Idle`: notes that this thread's connections have all had their answer; true for the
    /// last thread to do so.
    pub fn settle_thread(&self) -> bool {
        self.settled_threads.fetch_add(1, Ordering::AcqRel) + 1 == self.threads
    }

    /// `Idle`: whether every thread's connections have had their answer.
    pub fn all_settled(&self) -> bool {
        self.settled_threads.load(Ordering::Acquire) == self.threads
    }

    /// Connections of thread `index`: the concurrency spread evenly over the threads.
    pub fn connections_of(&self, index: usize) -> usize {
        self.concurrency / self.threads + usize::from(index < self.concurrency % self.threads)
    }

    /// When slow stream `slot` of thread `index` starts: evenly over the stagger window.
    pub fn slow_start_of(&self, index: usize, slot: usize) -> Instant {
        let position = (index + slot * self.threads) as f64 / self.concurrency as f64;
        self.start_at + self.stagger.mul_f64(position)
    }
}

fn build_request(
    api: Api,
    target: &SocketAddr,
    path: &str,
    model: &str,
    api_key: &str,
    stream: bool,
) -> Vec<u8> {
    const SYSTEM: &str = "You are a helpful assistant.";
    const USER: &str = r#"{"role":"user","content":"Say hello."}"#;
    let (body, key_header) = match api {
        Api::Chat => (
            format!(
                r#"{{"model":"{model}","messages":[{{"role":"system","content":"{SYSTEM}"}},{USER}],"stream":{stream}}}"#
            ),
            format!("authorization: Bearer {api_key}"),
        ),
        Api::Messages => (
            format!(
                r#"{{"model":"{model}","max_tokens":1024,"system":"{SYSTEM}","messages":[{USER}],"stream":{stream}}}"#
            ),
            format!("x-api-key: {api_key}\r\nanthropic-version: 2023-06-01"),
        ),
        // The model and whether to stream are in the path.
        Api::Gemini => (
            format!(
                r#"{{"systemInstruction":{{"parts":[{{"text":"{SYSTEM}"}}]}},"contents":[{{"role":"user","parts":[{{"text":"Say hello."}}]}}]}}"#
            ),
            format!("x-goog-api-key: {api_key}"),
        ),
        Api::Cohere => (
            format!(
                r#"{{"model":"{model}","messages":[{{"role":"system","content":"{SYSTEM}"}},{USER}],"stream":{stream}}}"#
            ),
            format!("authorization: Bearer {api_key}"),
        ),
    };
    format!(
        "POST {path} HTTP/1.1\r\nhost: {target}\r\n{key_header}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Plan;
    use crate::args::Args;

    fn plan(raw: &[&str]) -> Plan {
        let mut args = Args::parse(raw.iter().map(|s| (*s).to_owned())).unwrap();
        let plan = Plan::from_args(&mut args).unwrap();
        args.finish().unwrap();
        plan
    }

    #[test]
    fn spreads_connections_and_counts_budget() {
        let plan = plan(&["--concurrency", "5", "--threads", "2", "--requests", "2"]);
        assert_eq!((plan.connections_of(0), plan.connections_of(1)), (3, 2));
        assert!(plan.may_start() && plan.may_start() && !plan.may_start());
    }

    #[test]
    fn staggers_slow_starts() {
        let plan = plan(&[
            "--mode",
            "slow-streams",
            "--concurrency",
            "4",
            "--threads",
            "2",
        ]);
        assert_eq!(plan.slow_start_of(0, 0), plan.start_at);
        assert_eq!(
            plan.slow_start_of(1, 1) - plan.start_at,
            Duration::from_millis(15)
        );
    }

    #[test]
    fn request_has_length_and_stream_flag() {
        let plan = plan(&["--mode", "stream", "--model", "m"]);
        let text = std::str::from_utf8(plan.request).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(body.starts_with(r#"{"model":"m""#) && body.ends_with(r#""stream":true}"#));
    }

    #[test]
    fn idle_sends_one_plain_request_and_settles_per_thread() {
        let plan = plan(&["--mode", "idle", "--concurrency", "3", "--threads", "2"]);
        assert!(plan.mode.once_per_connection() && !plan.mode.streams());
        let text = std::str::from_utf8(plan.request).unwrap();
        assert!(text.ends_with(r#""stream":false}"#));
        assert_eq!(plan.hold, Duration::from_secs(5));
        assert!(!plan.settle_thread() && !plan.all_settled());
        assert!(plan.settle_thread() && plan.all_settled());
    }

    #[test]
    fn messages_request() {
        let plan = plan(&["--mode", "stream", "--api", "messages", "--model", "m"]);
        let text = std::str::from_utf8(plan.request).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /v1/messages HTTP/1.1\r\n"));
        assert!(head.contains("x-api-key: sk-bench\r\nanthropic-version: 2023-06-01"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(body.starts_with(r#"{"model":"m","max_tokens":1024,"system":"#));
        assert!(body.ends_with(r#""stream":true}"#));
    }

    #[test]
    fn gemini_request_names_model_and_stream_in_path() {
        let streamed = plan(&["--mode", "stream", "--api", "gemini", "--model", "g"]);
        let text = std::str::from_utf8(streamed.request).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("POST /v1beta/models/g:streamGenerateContent?alt=sse HTTP/1.1\r\n")
        );
        assert!(head.contains("\r\nx-goog-api-key: sk-bench\r\n"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(body.starts_with(r#"{"systemInstruction":{"parts":[{"text":"#));
        assert!(!body.contains("model") && !body.contains("stream"));
        let plain = plan(&["--api", "gemini", "--model", "g", "--api-key", "k"]);
        let text = std::str::from_utf8(plain.request).unwrap();
        assert!(text.starts_with("POST /v1beta/models/g:generateContent HTTP/1.1\r\n"));
        assert!(text.contains("\r\nx-goog-api-key: k\r\n"));
    }

    #[test]
    fn cohere_request() {
        let plan = plan(&["--mode", "stream", "--api", "cohere", "--model", "c"]);
        let text = std::str::from_utf8(plan.request).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /v2/chat HTTP/1.1\r\n"));
        assert!(head.contains("\r\nauthorization: Bearer sk-bench\r\n"));
        assert!(body.starts_with(r#"{"model":"c","messages":[{"role":"system","#));
        assert!(body.ends_with(r#""stream":true}"#));
    }
}
