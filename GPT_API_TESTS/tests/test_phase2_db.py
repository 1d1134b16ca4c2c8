"""Phase 2: the request log's integrity, end to end, on SQLite and on PostgreSQL.

A mixed run (streams and not, successes, gateway 4xx, upstream 4xx, failover, exhaustion,
tool calls, a malformed event, a cancelled stream) gives exactly one row per request,
with what the client saw; a PostgreSQL outage under load and a SIGTERM under load lose
no row.
"""
import json
import signal
import threading
import time

import httpx
import pytest

from gateway import upstream
from helpers import expected, msgs, wait_until
from mock_upstream import Behaviour, completion_answer, error_body
from phase2_support import Client, check_rows, log_database, pg_server  # noqa: F401 (fixture)

KEY = "sk-gw-team-a"
CLIENT_KEYS = [{"name": "team-a", "key": KEY}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]
ROUTING = {"retries": 0, "breaker_failures": 1000}


def two_target_gateway(gateway, mocks, db, routing=None, database=None, **kw):
    """Model `m` on mocks a (preferred) then b, logging to `db`."""
    a, b = mocks("a", "b")
    gw = gateway(
        [upstream(a), upstream(b)],
        [{"name": "m", "targets": [{"upstream": "a", "weight": 100}, {"upstream": "b", "weight": 1}]}],
        routing={**ROUTING, **(routing or {})}, client_keys=CLIENT_KEYS,
        database={"url": db.url, **(database or {})}, **kw)
    return gw, a, b


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    return log_database(request.param, tmp_path, request)


def test_every_request_has_one_matching_row(gateway, mocks, db):
    gw, a, b = two_target_gateway(gateway, mocks, db)
    client = Client(gw, KEY)
    ok = dict(model="m", client_key="team-a", upstream="a", upstream_model="m", tried=["a/m"], error=None)
    chat = {"model": "m", "messages": msgs("log me")}

    resp, seen = client.post("/v1/chat/completions", chat, **ok, finish_reason="stop")
    seen.response_content = resp.json()["choices"][0]["message"]["content"]
    assert seen.response_content == expected("log me")

    got, _ = client.stream("/v1/chat/completions", {**chat, "stream": True}, **ok)
    assert got.text == expected("log me") and got.usage is None, "usage stays hidden from this client"
    got, _ = client.stream("/v1/chat/completions",
                           {**chat, "stream": True, "stream_options": {"include_usage": True}}, **ok)
    assert got.usage

    resp, seen = client.post("/v1/completions", {"model": "m", "prompt": "once"}, **ok, finish_reason="stop")
    seen.response_content = completion_answer("once")
    client.stream("/v1/completions", {"model": "m", "prompt": "twice", "stream": True}, **ok)
    client.post("/v1/embeddings", {"model": "m", "input": "three words here"}, **ok, response_content=None,
                completion_tokens=None, finish_reason=None)

    resp, seen = client.post("/v1/chat/completions", {**chat, "tools": TOOLS}, **ok, finish_reason="tool_calls",
                             response_content=None)
    seen.tool_calls = resp.json()["choices"][0]["message"]["tool_calls"]
    got, _ = client.stream("/v1/chat/completions", {**chat, "tools": TOOLS, "stream": True,
                                                    "stream_options": {"include_usage": True}}, **ok)
    assert got.error is None and got.usage and len(got.tool_deltas) > 2, got

    a.script(Behaviour(malformed_at=2))
    got, _ = client.stream("/v1/chat/completions", {**chat, "stream": True}, **ok)
    assert got.bad_events == 1 and got.text == expected("log me")

    # Gateway errors: the row's error is the response's message, byte for byte.
    none = dict(upstream=None, upstream_model=None, tried=[], prompt_tokens=None, response_content=None)
    client.post("/v1/chat/completions", {**chat, "model": "nope"}, model="nope", client_key="team-a", **none)
    client.post("/v1/chat/completions", b'{"model": "m", "messages": [', client_key="team-a", **none)
    client.post("/v1/chat/completions", chat, key="sk-wrong", client_key=None, **none)

    # An upstream's own 4xx is passed on; its message is the row's error.
    a.script(Behaviour(status=400, body=error_body(400, "messages must not be empty")))
    resp, seen = client.post("/v1/chat/completions", chat, **ok, prompt_tokens=None)
    assert resp.status_code == 400 and seen.error == "messages must not be empty"

    # Failover, and exhaustion with the contract's message.
    a.script(Behaviour(status=503))
    resp, seen = client.post("/v1/chat/completions", chat, **{**ok, "upstream": "b", "tried": ["a/m", "b/m"]})
    assert resp.status_code == 200
    a.script(Behaviour(status=503))
    b.script(Behaviour(status=503))
    resp, seen = client.post("/v1/chat/completions", chat, **{**ok, "upstream": "b", "tried": ["a/m", "b/m"]},
                             prompt_tokens=None, response_content=None)
    assert resp.status_code == 502 and "Tried: [\"a/m\", \"b/m\"]" in seen.error
    a.script(Behaviour(status=503))
    b.script(Behaviour(status=503))
    _, seen = client.stream("/v1/chat/completions", {**chat, "stream": True},
                            **{**ok, "upstream": "b", "tried": ["a/m", "b/m"]})
    assert seen.status == 502 and seen.error.startswith("All upstreams failed")
    (seen.prompt_tokens, seen.completion_tokens, seen.total_tokens) = (None, None, None)

    # A client that hangs up mid-stream.
    a.script(Behaviour(chunk_interval_ms=150))
    client.cancelled_stream("/v1/chat/completions", {**chat, "stream": True}, expected("log me"), **ok)
    wait_until(lambda: a.requests[-1].peer_closed_at or a.requests[-1].finished_at, timeout=5)

    wait_until(lambda: db.count() >= len(client.seen), timeout=10)
    problems = check_rows(db.rows(), client.seen)
    assert not problems, "\n".join(problems)


def test_access_log_off_writes_rows_and_no_access_lines(gateway, mocks, tmp_path, request):
    """`server.access_log = false`: every request still has its row; stdout has no access line."""
    db = log_database("sqlite", tmp_path, request)
    gw, _, _ = two_target_gateway(gateway, mocks, db, server={"access_log": False})
    client = Client(gw, KEY)
    ok = dict(model="m", client_key="team-a", upstream="a", upstream_model="m", tried=["a/m"], error=None)
    chat = {"model": "m", "messages": msgs("quiet")}
    client.post("/v1/chat/completions", chat, **ok, finish_reason="stop",
                response_content=expected("quiet"))
    client.stream("/v1/chat/completions", {**chat, "stream": True}, **ok)
    none = dict(upstream=None, upstream_model=None, tried=[], prompt_tokens=None, response_content=None)
    client.post("/v1/chat/completions", {**chat, "model": "nope"}, model="nope", client_key="team-a", **none)

    wait_until(lambda: db.count() >= len(client.seen), timeout=10)
    problems = check_rows(db.rows(), client.seen)
    assert not problems, "\n".join(problems)
    assert gw.stop() == 0
    gw.wait_line(lambda line: line.get("event") == "log_drained")  # stdout read to its end
    assert gw.access_lines() == [], gw.access_lines()


def _load(gw, stop: threading.Event, answered: list, workers: int = 4):
    """Steady non-streaming load; `answered` collects the x-request-id of every response."""
    def run():
        with httpx.Client(base_url=gw.url, timeout=10) as http:
            while not stop.is_set():
                try:
                    resp = http.post("/v1/chat/completions", headers={"authorization": f"Bearer {KEY}"},
                                     json={"model": "m", "messages": msgs("load")})
                except httpx.HTTPError:
                    time.sleep(0.01)
                    continue
                answered.append((resp.headers.get("x-request-id"), resp.status_code))
    threads = [threading.Thread(target=run, daemon=True) for _ in range(workers)]
    for t in threads:
        t.start()
    return threads


@pytest.mark.timeout(150)
def test_postgres_outage_under_load_loses_nothing(gateway, mocks, tmp_path, request):
    db = log_database("postgres", tmp_path, request)
    gw, _, _ = two_target_gateway(gateway, mocks, db, database={"memory_records": 200, "batch_size": 64})
    stop, answered = threading.Event(), []
    threads = _load(gw, stop, answered)
    wait_until(lambda: len(answered) > 50, timeout=10)
    db.pg.stop()
    gw.wait_line(lambda l: l.get("event") == "log_db_unavailable", timeout=5)
    time.sleep(10)  # the outage itself: ten seconds of load with the database down
    gw.wait_line(lambda l: l.get("event") == "log_spilling", timeout=1)
    db.pg.start()
    time.sleep(2)  # load keeps running while the spill is replayed
    stop.set()
    for t in threads:
        t.join()
    assert all(status == 200 for _, status in answered)
    gw.wait_line(lambda l: l.get("event") == "log_spill_replayed", timeout=30)
    wait_until(lambda: db.count() >= len(answered), timeout=30)
    ids = {row["id"] for row in db.rows()}
    assert ids == {rid for rid, _ in answered}, f"{len(ids)} rows for {len(answered)} requests"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_sigterm_under_load_keeps_every_answered_request(gateway, mocks, tmp_path, request, kind):
    db = log_database(kind, tmp_path, request)
    gw, _, _ = two_target_gateway(gateway, mocks, db)
    stop, answered = threading.Event(), []
    threads = _load(gw, stop, answered, workers=6)
    wait_until(lambda: len(answered) > 200, timeout=20)
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(30) == 0
    stop.set()
    for t in threads:
        t.join()
    ids = {row["id"] for row in db.rows()}
    missing = [rid for rid, _ in answered if rid not in ids]
    assert not missing, f"{len(missing)} of {len(answered)} answered requests have no row"
    assert len(ids) == len(db.rows()), "duplicate rows"
