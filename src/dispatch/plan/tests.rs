//! The attempt plan's order and state, driven by scripted attempts (no sockets).

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config;

/// Upstreams `a`, `b`, `c`; model `m` over `targets` (upstream, weight), falling back to
/// model `f` (on `c`). `routing` must set `retries`.
fn dispatcher(targets: &[(&str, u32)], routing: &str) -> Dispatcher {
    let mut text = format!("[routing]\nbackoff_base_ms = 1\nbackoff_max_ms = 2\n{routing}\n");
    for name in ["a", "b", "c"] {
        text.push_str(&format!(
            "[[upstream]]\nname = \"{name}\"\nbase_url = \"http://127.0.0.1:9/v1\"\n"
        ));
    }
    text.push_str("[[model]]\nname = \"m\"\nfallbacks = [\"f\"]\ntargets = [");
    for (upstream, weight) in targets {
        text.push_str(&format!(
            "{{ upstream = \"{upstream}\", weight = {weight} }},"
        ));
    }
    text.push_str("]\n[[model]]\nname = \"f\"\ntargets = [{ upstream = \"c\" }]\n");
    Dispatcher::new(Arc::new(
        config::parse(&text, &|_| None).expect("test config"),
    ))
}

fn model(dispatcher: &Dispatcher) -> ModelId {
    dispatcher.config.model_id("m").unwrap()
}

fn failure(kind: FailureKind) -> Failure {
    Failure {
        kind,
        message: "scripted".into(),
    }
}

/// Runs one plan whose attempts answer by upstream name; returns the tried list and result.
async fn run(
    dispatcher: &Dispatcher,
    answer: impl Fn(&str) -> Result<(), Failure>,
) -> (Vec<String>, Result<String, AppError>) {
    let mut plan = dispatcher.plan(model(dispatcher));
    let outcome = plan
        .run(async |target| answer(&target.upstream.name))
        .await
        .map(|((), target)| target.target.label.to_string());
    (
        plan.tried().map(|target| target.to_string()).collect(),
        outcome,
    )
}

#[monoio::test(timer_enabled = true)]
async fn targets_in_weighted_order_then_fallbacks() {
    let dispatcher = dispatcher(&[("a", 1), ("b", 1)], "retries = 0");
    let (tried, outcome) = run(&dispatcher, |_| Err(failure(FailureKind::Silent))).await;
    assert_eq!(tried, ["a/m", "b/m", "c/f"]);
    let Err(AppError::AllUpstreamsFailed(summary)) = outcome else {
        panic!("every target failed");
    };
    assert_eq!(summary.model, "m");
    assert_eq!(
        summary.tried.iter().map(|t| &**t).collect::<Vec<_>>(),
        tried
    );
    // The next plan starts where smooth weighted round-robin left off.
    let (tried, outcome) = run(&dispatcher, |name| match name {
        "b" => Ok(()),
        _ => Err(failure(FailureKind::Silent)),
    })
    .await;
    assert_eq!(tried, ["b/m"]);
    assert_eq!(outcome.unwrap(), "b/m");
}

#[monoio::test(timer_enabled = true)]
async fn smooth_weighted_round_robin_over_many_plans() {
    let dispatcher = dispatcher(&[("a", 5), ("b", 1), ("c", 1)], "retries = 0");
    let mut firsts = String::new();
    for _ in 0..700 {
        let (tried, _) = run(&dispatcher, |_| Ok(())).await;
        firsts.push_str(&tried[0][..1]);
    }
    // nginx's sequence for 5:1:1: the light targets spread out, never back to back.
    assert_eq!(&firsts[..7], "aabacaa");
    assert_eq!(firsts.matches('a').count(), 500);
    assert_eq!(firsts.matches('b').count(), 100);
    assert_eq!(firsts.matches('c').count(), 100);
}

#[monoio::test(timer_enabled = true)]
async fn transient_failures_retry_the_same_target_and_too_long_skips_to_fallbacks() {
    // Breakers that stay closed: this is about retries, not about open targets.
    let dispatcher = dispatcher(&[("a", 1), ("b", 1)], "retries = 2\nbreaker_failures = 100");
    let transient = FailureKind::Transient { retry_after: None };
    let (tried, _) = run(&dispatcher, |name| match name {
        "c" => Ok(()),
        _ => Err(failure(transient)),
    })
    .await;
    assert_eq!(tried, ["a/m", "a/m", "a/m", "b/m", "b/m", "b/m", "c/f"]);
    let (tried, outcome) = run(&dispatcher, |name| match name {
        "c" => Ok(()),
        _ => Err(failure(FailureKind::TooLong)),
    })
    .await;
    assert_eq!(
        tried.len(),
        2,
        "one target of m, then the fallback: {tried:?}"
    );
    assert_eq!(outcome.unwrap(), "c/f");
}

#[monoio::test(timer_enabled = true)]
async fn breaker_opens_goes_half_open_and_closes() {
    let routing = "retries = 0\nbreaker_failures = 2\nbreaker_cooldown_ms = 40";
    let dispatcher = dispatcher(&[("a", 1), ("b", 1)], routing);
    let a_down = |name: &str| match name {
        "a" => Err(failure(FailureKind::Silent)),
        _ => Ok(()),
    };
    // Two failures in a row open a's breaker (plans alternate between `a` and `b` first).
    for _ in 0..10 {
        if dispatcher.open_breakers() == 1 {
            break;
        }
        let (_, outcome) = run(&dispatcher, a_down).await;
        assert!(outcome.is_ok(), "b answers");
    }
    assert_eq!(dispatcher.open_breakers(), 1);
    // Open: `a` goes after every healthy target, so it is not tried while `b` answers.
    for _ in 0..4 {
        let (tried, _) = run(&dispatcher, a_down).await;
        assert_eq!(tried, ["b/m"]);
    }
    // After the cooldown one probe goes to `a` (half-open): while it is out, the breaker
    // counts as open for everyone else; its success closes it.
    monoio::time::sleep(Duration::from_millis(60)).await;
    let open_during_probe = std::cell::Cell::new(None);
    for _ in 0..2 {
        let (_, outcome) = run(&dispatcher, |name| {
            if name == "a" {
                open_during_probe.set(Some(dispatcher.open_breakers()));
            }
            Ok(())
        })
        .await;
        assert!(outcome.is_ok());
    }
    assert_eq!(open_during_probe.get(), Some(1));
    assert_eq!(dispatcher.open_breakers(), 0);
    // Closed: `a` takes its share again at once.
    let mut firsts_on_a = 0;
    for _ in 0..4 {
        let (tried, _) = run(&dispatcher, |_| Ok(())).await;
        firsts_on_a += usize::from(tried == ["a/m"]);
    }
    assert_eq!(firsts_on_a, 2);
}

/// Opens `upstream`'s breaker for model `m` (attempts there fail, the others answer).
async fn open_breaker_of(dispatcher: &Dispatcher, upstream: &str) {
    for _ in 0..10 {
        if dispatcher.open_breakers() == 1 {
            return;
        }
        let (_, outcome) = run(dispatcher, |name| match name {
            name if name == upstream => Err(failure(FailureKind::Silent)),
            _ => Ok(()),
        })
        .await;
        assert!(outcome.is_ok(), "the other targets answer");
    }
    panic!("{upstream}'s breaker did not open");
}

#[monoio::test(timer_enabled = true)]
async fn an_open_target_goes_after_the_fallbacks_and_gets_one_attempt() {
    let routing = "retries = 2\nbreaker_failures = 1\nbreaker_cooldown_ms = 60000";
    let dispatcher = dispatcher(&[("a", 1)], routing);
    let transient = FailureKind::Transient { retry_after: None };
    // The first failure opens the breaker: no retries on `a` although `retries = 2`.
    let (tried, _) = run(&dispatcher, |name| match name {
        "a" => Err(failure(transient)),
        _ => Ok(()),
    })
    .await;
    assert_eq!(tried, ["a/m", "c/f"]);
    // Open: the fallback model's target first; `a` only once everything else failed,
    // once, without retries.
    let (tried, outcome) = run(&dispatcher, |name| match name {
        "c" => Ok(()),
        _ => Err(failure(transient)),
    })
    .await;
    assert_eq!(tried, ["c/f"]);
    assert_eq!(outcome.unwrap(), "c/f");
    // `c` fails too: its breaker opens at once (so no retries there either), then `a`.
    let (tried, outcome) = run(&dispatcher, |_| Err(failure(transient))).await;
    assert_eq!(tried, ["c/f", "a/m"]);
    assert!(outcome.is_err());
    // Both open: each gets its one attempt, in plan order; the last resort can answer,
    // and its success closes its breaker.
    let (tried, outcome) = run(&dispatcher, |name| match name {
        "a" => Ok(()),
        _ => Err(failure(FailureKind::Silent)),
    })
    .await;
    assert_eq!(tried, ["a/m"]);
    assert_eq!(outcome.unwrap(), "a/m");
    assert_eq!(dispatcher.open_breakers(), 1, "only c's is still open");
}

#[monoio::test(timer_enabled = true)]
async fn an_open_target_waits_behind_the_other_targets_too() {
    let routing = "retries = 0\nbreaker_failures = 1\nbreaker_cooldown_ms = 60000";
    let dispatcher = dispatcher(&[("a", 1), ("b", 1)], routing);
    open_breaker_of(&dispatcher, "a").await;
    let (tried, _) = run(&dispatcher, |_| Err(failure(FailureKind::Silent))).await;
    assert_eq!(tried, ["b/m", "c/f", "a/m"]);
}

#[monoio::test(timer_enabled = true)]
async fn a_refused_prefill_gets_one_more_attempt_on_the_same_target() {
    let dispatcher = dispatcher(&[("a", 1)], "retries = 2");
    let (tried, outcome) = run(&dispatcher, |name| match name {
        "a" => Err(failure(FailureKind::PrefillRefused)),
        _ => Ok(()),
    })
    .await;
    assert_eq!(tried, ["a/m", "a/m", "c/f"]);
    assert_eq!(outcome.unwrap(), "c/f");
    assert_eq!(dispatcher.open_breakers(), 0, "a refusal is not an outage");
}
