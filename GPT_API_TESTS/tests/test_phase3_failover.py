"""Phase 3: load balancing and failover of non-streaming requests.

Each test builds a fresh gateway with ONE worker (breakers and round-robin state
are per core) whose model `m` prefers mock `a` (weight 100) over `b` (weight 1),
so the first target tried is known; the attempt sequence is then read off the mocks.
"""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from openai import BadRequestError

from gateway import upstream
from helpers import error_of, expected, http, msgs, one_model, sdk, simple_gateway
from mock_upstream import Behaviour, context_length_exceeded, error_body

ONE = {"workers": 1}


def ab(gateway, mocks, routing=None, ups_extra=None):
    a, b = mocks("a", "b")
    return simple_gateway(gateway, [a, b], routing=routing, ups_extra=ups_extra, server=ONE), a, b


def ask(gw, text="q"):
    """Chat request; returns (parsed response, headers)."""
    raw = sdk(gw).chat.completions.with_raw_response.create(model="m", messages=msgs(text))
    r = raw.parse()
    assert r.choices[0].message.content == expected(text)
    return r, raw.headers


def test_weights_3_to_1(gateway, mocks):
    a, b = mocks("a", "b")
    gw = simple_gateway(gateway, [a, b], model_extra={"weights": [3, 1]})
    c = sdk(gw)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: c.chat.completions.create(model="m", messages=msgs(f"w{i}")), range(1000)))
    share = a.count() / 1000
    assert a.count() + b.count() == 1000
    assert abs(share - 0.75) <= 0.03, share


def test_transient_503_retried_on_same_target(gateway, mocks):
    gw, a, b = ab(gateway, mocks)
    a.script(Behaviour(status=503), Behaviour(status=503))
    _, h = ask(gw)
    assert (a.count(), b.count()) == (3, 0)
    assert h["x-gpt-api-attempts"] == "3" and h["x-gpt-api-upstream"] == "a"
    line = gw.access(h["x-request-id"])
    assert line["tried"] == ["a/m"] * 3 and line["attempts"] == 3 and line["status"] == 200
    gaps = [y.time - x.time for x, y in zip(a.requests, a.requests[1:])]
    assert all(g > 0.005 for g in gaps), f"no backoff between retries: {gaps}"


def test_429_and_reset_are_retried(gateway, mocks):
    gw, a, b = ab(gateway, mocks)
    a.script(Behaviour(status=429), Behaviour(reset=True))
    ask(gw)
    assert (a.count(), b.count()) == (3, 0)


@pytest.mark.parametrize("status", [401, 403, 404])
def test_misconfigured_goes_to_next_target_and_cools_down(gateway, mocks, status):
    gw, a, b = ab(gateway, mocks)
    a.script(Behaviour(status=status))
    _, h = ask(gw)
    assert (a.count(), b.count()) == (1, 1)
    assert h["x-gpt-api-upstream"] == "b"
    assert gw.access(h["x-request-id"])["tried"] == ["a/m", "b/m"]
    ask(gw)  # `a` is cooling down: straight to `b`
    assert (a.count(), b.count()) == (1, 2)


def test_all_targets_cooling_down_are_still_tried(gateway, mocks):
    a = mocks("a")
    gw = simple_gateway(gateway, [a], server=ONE)
    a.script(Behaviour(status=401))
    with http(gw) as h:
        r = h.post("/v1/chat/completions", json={"model": "m", "messages": msgs("q")})
    assert r.status_code == 502 and error_of(r)["code"] == "all_upstreams_failed"
    ask(gw)
    assert a.count() == 2


def test_context_length_exceeded_skips_to_fallback(gateway, mocks):
    a, b, c = mocks("a", "b", "c")
    gw = gateway([upstream(a), upstream(b), upstream(c)], [
        one_model([a, b], fallbacks=["big"]),
        {"name": "big", "targets": [{"upstream": "c", "model": "big-up", "weight": 1}]},
    ], server=ONE)
    a.script(context_length_exceeded())
    r, h = ask(gw)
    assert (a.count(), b.count(), c.count()) == (1, 0, 1)
    assert c.requests[0].body["model"] == "big-up" and r.model == "big-up"
    assert gw.access(h["x-request-id"])["tried"] == ["a/m", "c/big-up"]


def test_other_400_returned_as_is(gateway, mocks):
    gw, a, b = ab(gateway, mocks)
    body = error_body(400, "Your request was rejected by the content policy.", "content_policy_violation")
    a.script(Behaviour(status=400, body=body))
    with http(gw) as h:
        r = h.post("/v1/chat/completions", json={"model": "m", "messages": msgs("q")})
    assert r.status_code == 400 and r.json() == body
    assert (a.count(), b.count()) == (1, 0)
    a.script(Behaviour(status=400, body=body))
    with pytest.raises(BadRequestError):
        sdk(gw).chat.completions.create(model="m", messages=msgs("q"))


def test_silent_upstream_goes_to_next_target(gateway, mocks):
    gw, a, b = ab(gateway, mocks, ups_extra={"timeout_ms": 300})
    a.script(Behaviour(silent=True))
    _, h = ask(gw)
    assert (a.count(), b.count()) == (1, 1), "a silent target is not retried"
    assert h["x-gpt-api-upstream"] == "b"


def test_all_silent_gives_504(gateway, mocks):
    gw, a, b = ab(gateway, mocks, ups_extra={"timeout_ms": 300})
    a.default = b.default = Behaviour(silent=True)
    with http(gw) as h:
        r = h.post("/v1/chat/completions", json={"model": "m", "messages": msgs("q")})
    assert r.status_code == 504
    err = error_of(r)
    assert err["code"] == "all_upstreams_failed" and err["type"] == "upstream_error"
    assert err["message"] == ("All upstreams failed for model 'm'. Tried: [\"a/m\", \"b/m\"]. "
                              "Last error: timed out waiting for response")


def test_retry_after_honoured(gateway, mocks):
    gw, a, b = ab(gateway, mocks)
    a.script(Behaviour(status=503, headers={"Retry-After": "1"}))
    ask(gw)
    assert (a.count(), b.count()) == (2, 0)
    gap = a.requests[1].time - a.requests[0].time
    assert 0.95 <= gap < 3.0, gap


def test_retry_after_too_long_leaves_target_at_once(gateway, mocks):
    gw, a, b = ab(gateway, mocks, routing={"max_retry_after_ms": 1000})
    a.script(Behaviour(status=503, headers={"Retry-After": "30"}))
    ask(gw)
    assert (a.count(), b.count()) == (1, 1)
    assert b.requests[0].time - a.requests[0].time < 0.5


def test_breaker_opens_probes_and_closes(gateway, mocks):
    gw, a, b = ab(gateway, mocks, routing={"retries": 0, "breaker_failures": 3, "breaker_cooldown_ms": 1000})
    a.default = Behaviour(status=500)
    for _ in range(3):
        ask(gw)
    assert (a.count(), b.count()) == (3, 3)
    opened = a.requests[2].time
    ask(gw)
    ask(gw)
    assert a.count() == 3, "open breaker: target must be skipped"
    a.default = Behaviour()  # a recovers; the probe after the cooldown must find out
    deadline = time.monotonic() + 5
    while a.count() == 3 and time.monotonic() < deadline:
        ask(gw)
    assert a.count() == 4, "no probe within 5 s"
    assert a.requests[3].time - opened >= 0.9, "probed before the cooldown ended"
    before = a.count()
    for _ in range(5):
        ask(gw)
    assert a.count() - before >= 4, "breaker did not close after a successful probe"


def test_fallback_model(gateway, mocks):
    a, b = mocks("a", "b")
    gw = gateway([upstream(a), upstream(b)], [
        {"name": "m", "fallbacks": ["m2"], "targets": [{"upstream": "a", "weight": 1}]},
        {"name": "m2", "targets": [{"upstream": "b", "model": "m2-up", "weight": 1}]},
    ], routing={"retries": 1}, server=ONE)
    a.default = Behaviour(status=500)
    r, h = ask(gw)
    assert (a.count(), b.count()) == (2, 1)
    assert b.requests[0].body["model"] == "m2-up" and r.model == "m2-up"
    line = gw.access(h["x-request-id"])
    assert line["tried"] == ["a/m", "a/m", "b/m2-up"] and line["upstream"] == "b"
    assert line["model"] == "m"


def test_exhaustion_message_everywhere(gateway, mocks):
    a, b, c = mocks("a", "b", "c")
    gw = gateway([upstream(a), upstream(b), upstream(c)], [
        {"name": "m", "fallbacks": ["m2"], "targets": [{"upstream": "a", "weight": 100},
                                                       {"upstream": "b", "model": "m-b", "weight": 1}]},
        {"name": "m2", "targets": [{"upstream": "c", "weight": 1}]},
    ], routing={"retries": 1, "breaker_failures": 10}, server=ONE)
    for m in (a, b, c):
        m.default = Behaviour(status=503)
    with http(gw) as h:
        r = h.post("/v1/chat/completions", json={"model": "m", "messages": msgs("q")})
    assert r.status_code == 502
    err = error_of(r)
    tried = ["a/m", "a/m", "b/m-b", "b/m-b", "c/m2", "c/m2"]
    want = ("All upstreams failed for model 'm'. Tried: "
            '["a/m", "a/m", "b/m-b", "b/m-b", "c/m2", "c/m2"]. Last error: upstream returned 503')
    assert err == {"message": want, "type": "upstream_error", "code": "all_upstreams_failed"}
    assert (a.count(), b.count(), c.count()) == (2, 2, 2)
    rid = r.headers["x-request-id"]
    line = gw.access(rid)
    assert line["error"] == want and line["status"] == 502 and line["tried"] == tried
    row = gw.db_row(rid)
    assert row["error"] == want and row["status"] == 502 and json.loads(row["tried"]) == tried


def test_killing_one_upstream_mid_run_fails_no_request(gateway, mocks):
    a, b = mocks("a", "b")
    gw = simple_gateway(gateway, [a, b], model_extra={"weights": [1, 1]})
    c = sdk(gw)
    done = [0]
    lock = threading.Lock()

    def one(i):
        r = c.chat.completions.create(model="m", messages=msgs(f"k{i}"))
        assert r.choices[0].message.content == expected(f"k{i}")
        with lock:
            done[0] += 1
            if done[0] == 60:
                a.stop()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(300)))  # any failed request raises here
    assert done[0] == 300
    assert a.count() > 0 and b.count() > 150
