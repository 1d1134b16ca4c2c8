"""Phase 3: failover precision (issue 11) -- the six faults, each against the scripted mock.

Model `m` has one target on mock `a` and falls back to model `f` on mock `c`; one worker, so
breakers and pooled connections are the ones these requests meet. Each test asserts what the
upstreams saw (attempt counts), how long it took (generous bounds: behaviour, not
performance), `tried`, and the row.
"""
import json
import time

import httpx

from gateway import upstream
from helpers import expected, http, msgs, one_model, sdk, sse_data, stream_text, wait_until
from mock_upstream import Behaviour, pieces, prompt_tokens

ONE = {"workers": 1}
LONG = "please write a fairly long answer about streams and gateways"


def with_fallback(gateway, mocks, routing=None, fallback_target=None):
    a, c = mocks("a", "c")
    fallback = {"name": "f", "targets": [{"upstream": "c", "weight": 1, **(fallback_target or {})}]}
    gw = gateway([upstream(a), upstream(c)], [one_model([a], fallbacks=["f"]), fallback],
                 routing=routing, server=ONE)
    return gw, a, c


def stream(gw, text=LONG, client_timeout=20.0, **kw):
    """A stream through the SDK; the SDK's own timeout is the deadline the answer must meet."""
    client = sdk(gw, timeout=client_timeout)
    return client.chat.completions.with_raw_response.create(model="m", messages=msgs(text), stream=True, **kw)


def ask(gw, text="q"):
    with http(gw) as h:
        r = h.post("/v1/chat/completions", json={"model": "m", "messages": msgs(text)})
    return r, gw.access(r.headers["x-request-id"])


def stale_resends(gw) -> float:
    with http(gw) as h:
        for line in h.get("/metrics").text.splitlines():
            if line.startswith("gpt_api_upstream_stale_resends_total "):
                return float(line.split()[1])
    raise AssertionError("gpt_api_upstream_stale_resends_total missing from /metrics")


# 1. An upstream that accepts the request and never answers: the first-token timeout covers
#    the wait for the response head (upstream.timeout_ms stays at its 120 s default).
def test_silent_upstream_reaches_fallback_within_first_token_timeout(gateway, mocks):
    gw, a, c = with_fallback(gateway, mocks, routing={"first_token_timeout_ms": 1500})
    a.script(Behaviour(silent=True))
    t0 = time.monotonic()
    # The client gives up after 10 s: without the fix the gateway waited 120 s for a head.
    raw = stream(gw, client_timeout=10.0)
    text, _ = stream_text(raw.parse())
    elapsed = time.monotonic() - t0
    assert text == expected(LONG)
    assert (a.count(), c.count()) == (1, 1), "a silent target is not retried"
    line = gw.access(raw.headers["x-request-id"])
    assert line["tried"] == ["a/m", "c/f"] and line["status"] == 200
    print(f"silent: a={a.count()} c={c.count()} elapsed={elapsed:.2f}s")


# 2. A silent upstream that finally hangs up: past routing.silent_after_ms it is silent (next
#    target); a quick close is still a blip (same target).
def test_silent_hang_up_is_not_retried_but_a_quick_close_is(gateway, mocks):
    routing = {"first_token_timeout_ms": 5000, "silent_after_ms": 1000}
    gw, a, c = with_fallback(gateway, mocks, routing=routing)
    a.script(Behaviour(close_after_ms=1500))
    t0 = time.monotonic()
    raw = stream(gw, client_timeout=10.0)
    text, _ = stream_text(raw.parse())
    elapsed = time.monotonic() - t0
    assert text == expected(LONG)
    assert (a.count(), c.count()) == (1, 1), "the hang-up is not retried on the same target"
    line = gw.access(raw.headers["x-request-id"])
    assert line["tried"] == ["a/m", "c/f"]
    print(f"hang-up after 1.5 s: a={a.count()} c={c.count()} elapsed={elapsed:.2f}s")

    a.script(Behaviour(close_after_ms=50))
    raw = stream(gw)
    assert stream_text(raw.parse())[0] == expected(LONG)
    assert (a.count(), c.count()) == (3, 1), "a close right after the request is retried"
    assert gw.access(raw.headers["x-request-id"])["tried"] == ["a/m", "a/m"]


# 3. Resends on a fresh connection only for the keep-alive race, counted; a reused connection
#    that held the request and then closed is an attempt in `tried`, not a hidden resend.
def test_only_the_keep_alive_race_is_resent_and_it_is_counted(gateway, mocks):
    routing = {"silent_after_ms": 1000}
    gw, a, c = with_fallback(gateway, mocks, routing=routing)
    # The keep-alive race: `a` closes its kept-alive connection after 100 ms idle.
    a.script(Behaviour(idle_close_ms=100))
    r, _ = ask(gw)
    assert r.status_code == 200
    a.wait_for(lambda _: a.idle_closes >= 1)
    r, line = ask(gw)
    assert r.status_code == 200 and line["tried"] == ["a/m"]
    assert a.count() == 2 and stale_resends(gw) == 1

    # Held 1.5 s on the reused connection, then closed: an attempt (silent: next target).
    a.script(Behaviour(), Behaviour(close_after_ms=1500))
    ask(gw)
    seen_before = a.count()
    r, line = ask(gw)
    assert r.status_code == 200 and line["tried"] == ["a/m", "c/f"]
    a_attempts = sum(1 for t in line["tried"] if t == "a/m")
    assert a.count() - seen_before == a_attempts == 1, "no hidden resend"
    assert stale_resends(gw) == 1
    row = gw.db_row(r.headers["x-request-id"])
    assert json.loads(row["tried"]) == ["a/m", "c/f"]
    print(f"stale resends={stale_resends(gw)} a={a.count()} tried={line['tried']}")


# 4. A dead single-target model: once its breaker is open, no attempts on it while the
#    fallback answers, one attempt when everything failed; a success closes it.
def test_open_breaker_stops_the_hammering(gateway, mocks):
    # A cooldown long enough that the ten requests below all fall inside it.
    routing = {"breaker_failures": 3, "breaker_cooldown_ms": 4000, "retries": 2}
    gw, a, c = with_fallback(gateway, mocks, routing=routing)
    a.default = Behaviour(status=503)
    first, line = ask(gw)
    assert first.status_code == 200 and line["tried"] == ["a/m"] * 3 + ["c/f"]
    for _ in range(10):
        r, line = ask(gw)
        assert r.status_code == 200 and line["tried"] == ["c/f"]
    assert a.count() == 3, "no attempt on the open target while the fallback answers"

    c.default = Behaviour(status=503)
    r, line = ask(gw)
    assert r.status_code == 502
    assert line["tried"] == ["c/f"] * 3 + ["a/m"], "one attempt, last, when all else failed"
    assert a.count() == 4

    a.default = c.default = Behaviour()
    # After the cooldown one probe goes to `a`; its success closes the breaker at once.
    r, line = wait_until(lambda: (lambda x: x if x[1]["tried"] == ["a/m"] else None)(ask(gw)),
                         timeout=10.0, interval=0.2)
    r, line = ask(gw)
    assert line["tried"] == ["a/m"]
    print(f"breaker: a={a.count()} c={c.count()}")


# 5. continuation = "auto": the fallback refuses the prefill (400 invalid_prefill); the same
#    target is asked again with a restart and completes the answer.
def test_auto_continuation_restarts_where_prefill_is_refused(gateway, mocks):
    routing = {"continuation": "auto", "retries": 0, "first_token_timeout_ms": 2000}
    gw, a, c = with_fallback(gateway, mocks, routing=routing)
    a.script(Behaviour(cut_after=5))
    c.default = Behaviour(refuse_prefill=True)
    raw = stream(gw)
    text, chunks = stream_text(raw.parse())
    assert text == expected(LONG), "one complete answer, no gap, no duplication"
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    assert (a.count(), c.count()) == (1, 2)
    assert c.requests[0].body["messages"][-1]["role"] == "assistant", "prefill first"
    assert c.requests[1].body["messages"] == msgs(LONG), "then the restart"
    line = gw.access(raw.headers["x-request-id"])
    assert line["tried"] == ["a/m", "c/f", "c/f"] and line["error"] is None
    row = gw.db_row(raw.headers["x-request-id"])
    assert row["response_content"] == expected(LONG) and row["status"] == 200
    # Usage the client did not ask for still reaches the row, covering the whole answer.
    words = len(pieces(expected(LONG)))
    assert row["prompt_tokens"] == prompt_tokens({"messages": msgs(LONG)})
    assert row["completion_tokens"] >= words and row["usage_estimated"] == 1
    print(f"auto: a={a.count()} c={c.count()} tried={line['tried']} "
          f"completion_tokens={row['completion_tokens']} (answer: {words})")


def test_refused_prefill_under_prefill_names_the_refusal_and_the_path(gateway, mocks):
    routing = {"continuation": "prefill", "retries": 0}
    gw, a, c = with_fallback(gateway, mocks, routing=routing)
    a.script(Behaviour(cut_after=5))
    c.default = Behaviour(refuse_prefill=True)
    body = {"model": "m", "messages": msgs(LONG), "stream": True}
    with httpx.Client(base_url=gw.url, timeout=20) as h, h.stream("POST", "/v1/chat/completions", json=body) as r:
        payloads = sse_data(r.iter_lines())
    error = json.loads(payloads[-1])["error"]
    assert error["code"] == "stream_interrupted"
    assert 'Tried: ["a/m", "c/f"]' in error["message"]
    assert "upstream returned 400 to the continuation request" in error["message"]
    assert c.count() == 1


# 6. After a recovery the usage covers the whole answer: prompt tokens of the first request,
#    completion tokens summed over attempts (the broken one's estimated), row marked.
def test_recovered_usage_covers_the_whole_answer(gateway, mocks):
    routing = {"continuation": "prefill", "retries": 0}
    gw, a, c = with_fallback(gateway, mocks, routing=routing)
    a.script(Behaviour(cut_after=5))
    raw = stream(gw, stream_options={"include_usage": True})
    text, chunks = stream_text(raw.parse())
    assert text == expected(LONG)
    usage = [ch.usage for ch in chunks if ch.usage][-1]
    words = len(pieces(expected(LONG)))
    continuation_said = len(pieces(c.requests[0].content_sent))
    assert words - continuation_said == 5
    # Estimates (the mock counts words, the estimate goes by characters): within one token.
    assert abs(usage.prompt_tokens - prompt_tokens({"messages": msgs(LONG)})) <= 1, usage
    assert abs(usage.completion_tokens - words) <= 1, (usage, words)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    row = gw.db_row(raw.headers["x-request-id"])
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (
        usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
    assert row["usage_estimated"] == 1
    print(f"usage: {usage.prompt_tokens}+{usage.completion_tokens} for a {words}-word answer "
          f"(continuation alone: {continuation_said})")
