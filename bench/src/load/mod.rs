//! `bench-load`: a closed-loop HTTP/1.1 load generator on monoio. A fixed number of keep-alive
//! connections, spread over threads, each sends its next request when the previous answer ended;
//! latencies go into HDR histograms (exact percentiles). Prints one JSON line of results.
//!
//! Run: `bench-load --target 127.0.0.1:9001 --mode plain --concurrency 64 --duration-s 5`

mod chunked;
mod client;
mod plan;
mod scenario;
mod sse;
mod stats;

use std::io::Write;

use crate::args::parse_or_exit;
use crate::runtime::run_on_threads;
use plan::Plan;
use stats::Stats;

const USAGE: &str = "\
bench-load: closed-loop HTTP/1.1 load generator, one JSON line of results on stdout

  --target ADDR          server address (default 127.0.0.1:9001)
  --api API              chat | messages | gemini | cohere: OpenAI chat completions, Anthropic
                         Messages, Gemini or Cohere v2 (body, key header, default path;
                         default chat)
  --path PATH            request path (default /v1/chat/completions, /v1/messages,
                         /v1beta/models/MODEL:streamGenerateContent?alt=sse (plain:
                         :generateContent), /v2/chat)
  --model NAME           model in the request body (default gpt-4o-mini)
  --api-key KEY          bearer token sent (default sk-bench)
  --mode MODE            plain | stream | slow-streams | idle (default plain)
  --concurrency N        connections, each with one request in flight (default 1)
  --threads N            threads the connections are spread over (default: cores, at most N)
  --duration-s S         measured seconds, after the warm-up (default 5)
  --warmup-s S           seconds run first and not recorded (default 0)
  --requests N           stop after N requests in all (default: bounded by time only)
  --timeout-ms MS        per request or stream; slow-streams also ends by then (default 30000)
  --expect-events N      data events of a complete stream, its end marker included: [DONE],
                         message_stop, message-end, Gemini's event with finishReason
                         (default 0: no check)
  --gap-limit-ms MS      inter-event gaps above this are counted (default 200)
  --ramp-ms MS           slow-streams: time to connect before the streams start (default 1000)
  --stagger-ms MS        slow-streams: starts spread evenly over this window (default 20)
  --print-request true   print the request (head and body) the flags make, and exit
  --hold-s S             idle: seconds the connections stay open once all are answered
                         (default 5)

plain reports requests/s and latency percentiles; stream reports streams/s, time to first data
event (ttft), inter-event gaps and events per stream; slow-streams holds one stream on each
connection, all at once, and counts lost events and gaps over the limit; idle sends one
non-streaming request on each connection, then holds them all open and idle (stderr gets
{\"event\":\"held\"} once every one is answered) and reports how many it held. A stream is complete
when it ends with data: [DONE] (chat), event: message_stop (Messages), event: message-end
(Cohere) or an event with a finishReason (Gemini), and has no error event.
A flag given twice takes its last value. Times in µs.";

pub fn main() {
    let plan: &'static Plan = Box::leak(Box::new(parse_or_exit(USAGE, Plan::from_args)));
    if plan.print_request {
        std::io::stdout()
            .write_all(plan.request)
            .expect("cannot write to stdout");
        return;
    }
    let results = run_on_threads("load", plan.threads, |index, driver| async move {
        (scenario::run_thread(plan, index).await, driver)
    });
    let mut total = Stats::new();
    let mut driver = "";
    for (stats, thread_driver) in results {
        total.merge(stats);
        driver = thread_driver;
    }
    println!("{}", total.report(plan, driver));
    if !total.any_ok() {
        std::process::exit(1);
    }
}
