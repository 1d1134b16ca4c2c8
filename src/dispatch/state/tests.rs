use std::time::{Duration, Instant};

use super::*;
use crate::config;

fn config_with_weights(weights: &[u32]) -> Config {
    let mut text = String::new();
    for i in 0..weights.len() {
        text.push_str(&format!(
            "[[upstream]]\nname = \"u{i}\"\nbase_url = \"http://127.0.0.1:{}/v1\"\n",
            9000 + i
        ));
    }
    text.push_str("[[model]]\nname = \"m\"\ntargets = [");
    for (i, weight) in weights.iter().enumerate() {
        text.push_str(&format!("{{ upstream = \"u{i}\", weight = {weight} }},"));
    }
    text.push_str("]\n");
    config::parse(&text, &|_| None).expect("test config")
}

/// The target order as indexes: (to try, open).
fn order(
    state: &RoutingState,
    id: ModelId,
    model: &Model,
    now: Instant,
) -> (Vec<usize>, Vec<usize>) {
    let (mut order, mut open) = (VecDeque::new(), VecDeque::new());
    state.target_order(id, model, now, &mut order, &mut open);
    let indexes = |list: VecDeque<(ModelId, usize)>| list.into_iter().map(|(_, i)| i).collect();
    (indexes(order), indexes(open))
}

#[test]
fn smooth_weighted_round_robin_follows_the_weights() {
    let config = config_with_weights(&[3, 1]);
    let state = RoutingState::new(&config);
    let id = config.model_id("m").unwrap();
    let model = config.model(id);
    let now = Instant::now();
    let firsts: Vec<usize> = (0..8).map(|_| order(&state, id, model, now).0[0]).collect();
    // nginx's sequence for 3:1 spreads the light target out: a a b a, a a b a.
    assert_eq!(firsts, vec![0, 0, 1, 0, 0, 0, 1, 0]);
    let share = (0..1000)
        .filter(|_| order(&state, id, model, now).0[0] == 0)
        .count();
    assert_eq!(share, 750);
}

#[test]
fn order_lists_every_target_once() {
    let config = config_with_weights(&[1, 5, 2]);
    let state = RoutingState::new(&config);
    let id = config.model_id("m").unwrap();
    let order = order(&state, id, config.model(id), Instant::now());
    assert_eq!(
        order,
        (vec![1, 2, 0], vec![]),
        "the weighted pick first, then by weight"
    );
}

#[test]
fn breaker_opens_probes_and_closes() {
    let config = config_with_weights(&[1, 1]);
    let state = RoutingState::new(&config);
    let id = config.model_id("m").unwrap();
    let model = config.model(id);
    let cooldown = Duration::from_millis(50);
    for _ in 0..3 {
        state.record(id, 0, TargetHealth::Failed, 3, cooldown);
    }
    assert_eq!(state.open_breakers(Instant::now()), 1);
    for _ in 0..4 {
        let order = order(&state, id, model, Instant::now());
        assert_eq!(
            order,
            (vec![1], vec![0]),
            "an open target is listed apart, for the plan to try after everything else"
        );
    }
    std::thread::sleep(cooldown);
    let now = Instant::now();
    assert!(!state.is_open(id, 0, now), "due for a probe");
    state.begin_attempt(id, 0, cooldown);
    assert!(state.is_open(id, 0, Instant::now()), "one probe at a time");
    state.record(id, 0, TargetHealth::Succeeded, 3, cooldown);
    assert_eq!(state.open_breakers(Instant::now()), 0);
    assert!(!state.is_open(id, 0, Instant::now()));
}

#[test]
fn misconfigured_target_cools_down_at_once() {
    let config = config_with_weights(&[1, 1]);
    let state = RoutingState::new(&config);
    let id = config.model_id("m").unwrap();
    state.record(id, 1, TargetHealth::Broken, 3, Duration::from_secs(5));
    assert!(state.is_open(id, 1, Instant::now()));
}
